"""Scoring jobs for the pool backstop tests (importable by spawned scoring workers).

`StuckJob` stands in for work that never returns to Python (a torch forward pass, a hung C call):
it starts a child in its own session (as `run_ffmpeg` starts ffmpeg), then blocks in a C-level wait
that no in-job budget check can interrupt. `WaitingJob` stays in flight until the stuck job's worker
is dead (so it is lost with the pool the backstop breaks), then scores normally.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.procs import alive
from vidaio.validator.kinds import CompressionJob, ScoringContext, Verdict

RELEASE = threading.Event()  # set by a thread-kind test to let its stuck thread finish


@dataclass(frozen=True)
class StuckJob(CompressionJob):
    pids: str = ""  # written: "<worker pid> <child pid>"

    def run(self, seen: tuple[str, ...], ctx: ScoringContext, metric: Any = None) -> Verdict:
        child = subprocess.Popen(["sleep", "300"], start_new_session=True)
        Path(self.pids).write_text(f"{os.getpid()} {child.pid}")
        RELEASE.wait(300)  # blocks in C (a lock acquire), never back in the scoring code
        child.kill()
        child.wait()
        return super().run(seen, ctx, metric)


@dataclass(frozen=True)
class WaitingJob(CompressionJob):
    stuck_pids: str = ""
    attempts: str = ""  # one line per attempt: the worker's pid

    def run(self, seen: tuple[str, ...], ctx: ScoringContext, metric: Any = None) -> Verdict:
        with open(self.attempts, "a") as f:
            f.write(f"{os.getpid()}\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            p = Path(self.stuck_pids)
            if p.exists() and not alive(int(p.read_text().split()[0])):
                break
            time.sleep(0.05)
        return super().run(seen, ctx, metric)


@dataclass(frozen=True)
class HeavyJob(CompressionJob):
    """Burns CPU in libavcodec's codec threads (a costly decode, `reps` times) before scoring normally."""

    heavy: str = ""
    reps: int = 0

    def run(self, seen: tuple[str, ...], ctx: ScoringContext, metric: Any = None) -> Verdict:
        from scoring.media.decode import decode_pass

        for _ in range(self.reps):
            decode_pass(self.heavy)
        return super().run(seen, ctx, metric)


@dataclass(frozen=True)
class MeterJob(CompressionJob):
    """Answers which CPU meter a budget made in the job gets (not a verdict: the pool passes it through)."""

    def run(self, seen: tuple[str, ...], ctx: ScoringContext, metric: Any = None) -> Any:
        from scoring.budget import Budget

        return type(Budget(1.0).meter).__name__
