"""Errors of the compression engines and the deadline clock they run against."""

from __future__ import annotations

import time


class CompressionError(RuntimeError):
    """Base class: a compression task could not be done; the message names the reason."""


class CompressionFailed(CompressionError):
    """No acceptable output exists or could be made (bad input, target unreachable, not smaller)."""


class DeadlineExceeded(CompressionError, TimeoutError):
    """The task's deadline passed before a verified output existed; partial output was removed."""


class Deadline:
    """An absolute `time.monotonic()` deadline (None = no limit)."""

    def __init__(self, at: float | None) -> None:
        self.at = at

    def remaining(self) -> float:
        return float("inf") if self.at is None else self.at - time.monotonic()

    def check(self, what: str) -> None:
        """Raise DeadlineExceeded if the deadline has passed."""
        if self.remaining() <= 0:
            raise DeadlineExceeded(f"deadline passed before {what}")

    def timeout(self, what: str, cap: float) -> float:
        """Seconds a subprocess may run: the time left (at most `cap`); raises if none is left."""
        self.check(what)
        return min(self.remaining(), cap)

    def allows(self, seconds: float) -> bool:
        return self.remaining() > seconds
