"""The work budget of scoring one answer: a wall-clock deadline derived from the clip (issue 19).

An answer's file decides how much work its scoring costs (an edit list can make the decoder redo
the whole stream per frame, a packet flood can expand a small file into millions of packets), so
scoring one answer runs under a budget that the *clip* (the reference: frames x pixels) sets, not
the answer. The budget lives with the scoring job itself, whatever executor runs it:

- every decode loop (`scoring.media.decode`) calls `Budget.check()` per packet and per frame;
- every ffmpeg run takes `Budget.timeout(...)` as its timeout, and `run_ffmpeg` kills ffmpeg's
  whole process group when it expires;
- past the deadline `BudgetExceeded` is raised; `scoring.evaluate` turns it into a verdict with
  score 0 and reason `scoring_budget_exceeded`, and the worker goes on with the next answer.

Default size: an honest 1080p answer of 276 frames (572 Mpx-frames) scores in ~3-8 s on an idle
2-core machine, i.e. ~6-14 ms per megapixel-frame; the default 30 s + 150 ms per Mpx-frame (116 s
for that clip) is ~10x that plus a constant, so a hostile file is cut off at a bounded multiple of
what an honest one costs while a busy machine (measured: honest 1080p scoring at 40-50 s with a
load average of 24 on 2 cores) still scores honest answers. It is wall-clock time: it bounds how
long a round waits, whatever the cause. PIE-APP is outside the budget: it runs on a fixed number of already-decoded frames of the
validated size, so the answer cannot make it cost more.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

BUDGET_EXCEEDED = "scoring_budget_exceeded"


class BudgetExceeded(RuntimeError):
    """Scoring one answer went past its work budget (the answer scores 0, reason `scoring_budget_exceeded`)."""

    def __init__(self, budget: Budget, where: str) -> None:
        super().__init__(
            f"{BUDGET_EXCEEDED}: scoring this answer took more than {budget.limit_s:.1f} s "
            f"(budget for {budget.basis}); stopped during {where}"
        )
        self.where = where


@dataclass
class Budget:
    """A deadline on `time.monotonic()`; `limit_s = inf` is no limit (tests, tools)."""

    limit_s: float
    basis: str = "this clip"
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(math.inf, "no limit")

    @classmethod
    def for_clip(
        cls, frames: int, width: int, height: int, *, base_s: float, s_per_mpx_frame: float, max_s: float
    ) -> Budget:
        """`base_s + s_per_mpx_frame x frames x width x height / 1e6`, at most `max_s`; `base_s <= 0` = unlimited."""
        if base_s <= 0 and s_per_mpx_frame <= 0:
            return cls.unlimited()
        mpx_frames = max(frames, 1) * width * height / 1e6
        limit = min(max_s, base_s + s_per_mpx_frame * mpx_frames)
        return cls(limit, f"{frames} frames of {width}x{height}")

    @property
    def deadline(self) -> float:
        return self.started + self.limit_s

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, where: str = "scoring") -> None:
        """Raise `BudgetExceeded` once the deadline has passed (cheap: call it per packet/frame)."""
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(self, where)

    def timeout(self, cap: float, where: str = "ffmpeg") -> float:
        """Seconds a subprocess may run: the remaining budget, at most `cap`; raises when none is left."""
        left = self.remaining()
        if left <= 0:
            raise BudgetExceeded(self, where)
        return min(cap, left)

    def expired(self) -> bool:
        return time.monotonic() > self.deadline
