"""Errors of the upscaling engines and the deadline helpers they run against."""

from __future__ import annotations

import time


class UpscaleError(RuntimeError):
    """The input cannot be upscaled (unreadable, no video, bad target) or the encoder failed."""


class DeadlineExceeded(UpscaleError, TimeoutError):
    """``time.monotonic()`` passed the deadline; the partial output has been removed."""


def check_deadline(deadline: float | None, what: str) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded(f"deadline passed {what}")


def remaining_s(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()
