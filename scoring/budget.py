"""The work budget of scoring one answer: a wall-clock deadline derived from the clip (issue 19).

An answer's file decides how much work its scoring costs (an edit list can make the decoder redo
the whole stream per frame, a packet flood can expand a small file into millions of packets), so
scoring one answer runs under a budget that the *clip* (the reference: frames x pixels) sets, not
the answer. The budget lives with the scoring job itself, whatever executor runs it:

- every decode loop (`scoring.media.decode`) calls `Budget.check()` per packet and per frame;
- every ffmpeg run takes `Budget.timeout(...)` as its timeout and what is left of the CPU allowance
  as its RLIMIT_CPU, and `run_ffmpeg` kills ffmpeg's whole process group when either runs out;
- past the deadline `BudgetExceeded` is raised; `scoring.evaluate` turns it into a verdict with
  score 0 and reason `scoring_budget_exceeded`, and the worker goes on with the next answer;
- CPU is metered per job (`scoring.cpu_meter`: per process in a process worker, per thread plus
  its codec threads and ffmpeg children in a thread worker);
- work that never comes back to a check (a hung C call) is the scoring pool's to stop
  (`vidaio.validator.backstop`: wall limit + grace, then the worker is killed or abandoned).

Default size (`MetricsConfig.answer_budget_*`): an honest 1080p AV1 answer of 276 frames (572
Mpx-frames) costs ~4 CPU-s to score (decodes, libvmaf, colour check: 0.007 CPU-s per Mpx-frame);
the default 10 CPU-s + 0.05 CPU-s per Mpx-frame (38.6 CPU-s for that clip) is ~8x that, so a
hostile file is cut off at a bounded multiple of an honest one's cost. CPU time is what the
answer's file can inflate and does not grow when the machine is busy (the same honest answer took
27-72 s of wall time at a load average of 25-35 on 2 cores, for the same ~4 CPU-s); the wall-clock
limit, `wall_factor` (4) x the CPU budget, bounds how long a round waits whatever the cause.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from scoring.cpu_meter import CpuMeter, cpu_seconds, current_meter, per_thread_cpu

BUDGET_EXCEEDED = "scoring_budget_exceeded"

__all__ = ["BUDGET_EXCEEDED", "Budget", "BudgetExceeded", "cpu_seconds", "per_thread_cpu"]


class BudgetExceeded(RuntimeError):
    """Scoring one answer went past its work budget (the answer scores 0, reason `scoring_budget_exceeded`)."""

    def __init__(self, budget: Budget, where: str) -> None:
        super().__init__(f"{BUDGET_EXCEEDED}: {budget.describe()}; stopped during {where}")
        self.where = where


@dataclass
class Budget:
    """A wall-clock deadline (`limit_s`) and a CPU allowance (`cpu_limit_s`); `inf` = no limit.

    CPU time is what an answer's file can inflate and, unlike wall time, does not grow when the
    machine is busy with other work; the wall-clock limit bounds how long a round waits whatever
    the cause. CPU is counted by `meter` (`scoring.cpu_meter`): the whole process plus its reaped
    children (exact in a process worker, one job at a time), or, in a thread entered with
    `per_thread_cpu()`, the job's own thread, the codec threads it started and its ffmpeg children."""

    limit_s: float
    basis: str = "this clip"
    cpu_limit_s: float = math.inf
    started: float = field(default_factory=time.monotonic)
    meter: CpuMeter = field(default_factory=current_meter, repr=False)

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(math.inf, "no limit")

    @classmethod
    def for_clip(
        cls,
        frames: int,
        width: int,
        height: int,
        *,
        base_s: float,
        s_per_mpx_frame: float,
        max_s: float,
        wall_factor: float = 3.0,
    ) -> Budget:
        """CPU: `base_s + s_per_mpx_frame x frames x width x height / 1e6`, at most `max_s`; wall:
        `wall_factor` x that. `base_s` and `s_per_mpx_frame` both 0 = unlimited."""
        if base_s <= 0 and s_per_mpx_frame <= 0:
            return cls.unlimited()
        mpx_frames = max(frames, 1) * width * height / 1e6
        cpu = min(max_s, base_s + s_per_mpx_frame * mpx_frames)
        return cls(cpu * max(wall_factor, 1.0), f"{frames} frames of {width}x{height}", cpu_limit_s=cpu)

    def describe(self) -> str:
        used = self.cpu_used()
        if used > self.cpu_limit_s:
            return (
                f"scoring this answer used {used:.1f} s of CPU, more than its {self.cpu_limit_s:.1f} s "
                f"(budget for {self.basis})"
            )
        return f"scoring this answer took more than {self.limit_s:.1f} s (budget for {self.basis})"

    @property
    def deadline(self) -> float:
        return self.started + self.limit_s

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def cpu_used(self) -> float:
        return self.meter.used()

    def add_child_cpu(self, cpu_s: float) -> None:
        """An ffmpeg run of this job was reaped having used `cpu_s` (`scoring.media.ffmpeg` reports it)."""
        self.meter.add_child(cpu_s)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def cpu_remaining(self) -> float:
        return self.cpu_limit_s - self.cpu_used()

    def expired(self) -> bool:
        return time.monotonic() > self.deadline or self.cpu_used() > self.cpu_limit_s

    def check(self, where: str = "scoring") -> None:
        """Raise `BudgetExceeded` once the deadline has passed or the CPU is spent (call it per packet)."""
        if self.expired():
            raise BudgetExceeded(self, where)

    def timeout(self, cap: float, where: str = "ffmpeg") -> float:
        """Seconds a subprocess may run: the remaining wall budget, at most `cap`; raises when none is left."""
        self.check(where)
        return min(cap, self.remaining())

    def child_cpu_limit(self) -> int | None:
        """Whole CPU seconds a child process may use (its RLIMIT_CPU), None when unlimited."""
        left = self.cpu_remaining()
        return None if math.isinf(left) else max(1, math.ceil(left))
