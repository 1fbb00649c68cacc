"""Errors of task synthesis. Every message names the reason (the source, the file, the check)."""

from __future__ import annotations


class SynthesisError(RuntimeError):
    """A clip could not be produced or prepared: no usable source clip, ffmpeg failed, a check failed."""


class SynthesisCancelled(SynthesisError):
    """The work was cancelled (the task factory is closing); partial files were removed."""


class NoTaskReady(SynthesisError, TimeoutError):
    """`TaskFactory.get` waited for its timeout and no prepared task of that recipe became ready."""
