"""Run ffmpeg so that a closing task factory can stop it.

`run_ffmpeg` from `scoring.media.ffmpeg` blocks until ffmpeg ends; synthesis encodes can take
minutes at production sizes, so `TaskFactory.close()` must be able to kill them. Code running
inside `cancel_scope(event)` (the factory's worker threads) has its ffmpeg killed as soon as the
event is set; elsewhere `run` behaves like `run_ffmpeg` with a timeout.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from loguru import logger

from scoring.media.ffmpeg import FfmpegError, ffmpeg_exe, stderr_tail
from services.synthesis.errors import SynthesisCancelled, SynthesisError

_CANCEL: ContextVar[threading.Event | None] = ContextVar("synthesis_cancel", default=None)
_POLL_S = 0.2


@contextmanager
def cancel_scope(event: threading.Event) -> Iterator[None]:
    """Within this block (this thread/context), `run` kills ffmpeg once `event` is set."""
    token = _CANCEL.set(event)
    try:
        yield
    finally:
        _CANCEL.reset(token)


def check_cancelled(what: str) -> None:
    """Raise `SynthesisCancelled` if the current cancel scope's event is set."""
    event = _CANCEL.get()
    if event is not None and event.is_set():
        raise SynthesisCancelled(f"{what}: cancelled")


def run(args: Sequence[str], *, what: str, timeout_s: float = 600.0) -> None:
    """Run `ffmpeg -hide_banner -nostdin -y -loglevel error <args>`.

    Raises `SynthesisError` naming `what` (with ffmpeg's last stderr lines) on failure or timeout,
    `SynthesisCancelled` if the cancel scope's event is set while it runs.
    """
    check_cancelled(what)
    try:
        exe = ffmpeg_exe()
    except FfmpegError as exc:
        raise SynthesisError(f"{what}: {exc}") from exc
    cmd = [exe, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *map(str, args)]
    cancel = _CANCEL.get()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        raise SynthesisError(f"{what}: cannot run ffmpeg ({exc})") from exc
    stderr = b""
    while True:
        try:
            _, stderr = proc.communicate(timeout=_POLL_S)
            break
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                _kill(proc)
                raise SynthesisCancelled(f"{what}: cancelled") from None
            if time.monotonic() - started > timeout_s:
                _kill(proc)
                raise SynthesisError(f"{what}: ffmpeg timed out after {timeout_s:g} s") from None
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        tail = stderr_tail(stderr)
        raise SynthesisError(f"{what}: ffmpeg exited with status {proc.returncode}" + (f": {tail}" if tail else ""))
    logger.trace("{} done in {:.2f} s", what, elapsed)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a killed process that does not die
        logger.warning("ffmpeg pid {} did not exit after SIGKILL", proc.pid)
