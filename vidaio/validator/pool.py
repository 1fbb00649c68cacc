"""The bounded scoring pool: scoring jobs (`vidaio.validator.kinds`: validation, VMAF, PIE-APP) off the event loop.

"process" (default): a spawn-started `ProcessPoolExecutor`; each worker builds its own PIE-APP
metric once (`scoring.metrics.pieapp.get_metric`), ignores SIGINT (the daemon handles signals)
and exits when the validator dies, even by SIGKILL (it watches its parent). A crashed worker
breaks the pool: the pool is rebuilt and the job reported as a metric error.
"thread": a thread pool in the validator process; the one PIE-APP metric is shared behind a lock.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Literal

from loguru import logger

from scoring.config import ScoringConfig
from scoring.metrics.config import MetricsConfig
from vidaio.validator.kinds import ScoreJob, ScoringContext, Verdict

ExecutorKind = Literal["process", "thread"]


_ctx: ScoringContext | None = None
_metric_lock = threading.Lock()


class LockedMetric:
    """A shared PIE-APP metric for thread workers: one forward pass at a time."""

    def __init__(self, metrics: MetricsConfig) -> None:
        self._metrics = metrics

    def score_frames(self, ref_frames: Any, dist_frames: Any) -> Any:
        from scoring.metrics.pieapp import get_metric

        with _metric_lock:
            return get_metric(self._metrics).score_frames(ref_frames, dist_frames)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _init_worker(ctx: ScoringContext, torch_threads: int, parent: int, log_level: str) -> None:
    """Process worker start-up: context, signals, thread counts, parent watchdog, logging."""
    global _ctx
    _ctx = ctx
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()

    from loguru import logger as worker_logger

    worker_logger.remove()
    from vidaio.logging import add_console_sinks  # dated lines, INFO to stdout, as the daemon's own

    add_console_sinks(log_level, "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | scorer | {message}")
    # torch (imported only when PIE-APP first runs) reads its intra-op thread count from these
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(torch_threads)


def _warm() -> int:
    """A no-op job: makes the pool spawn its workers (and import scoring) before the first real job."""
    return os.getpid()


def _context(given: ScoringContext | None) -> ScoringContext:
    ctx = given or _ctx
    assert ctx is not None, "scoring worker not initialised"
    return ctx


def run_job(job: ScoreJob, seen: tuple[str, ...], ctx: ScoringContext | None = None, metric: Any = None) -> Verdict:
    """Score one job here: a process worker passes neither (its own context and PIE-APP metric), a
    thread worker or a Ray actor its context and a `LockedMetric`."""
    return job.run(seen, _context(ctx), metric)


@dataclass
class ScorePool:
    """At most `workers` scoring jobs at once; `score()` awaits a verdict without blocking the loop."""

    secret: str
    scoring: ScoringConfig
    metrics: MetricsConfig
    workers: int = 2
    kind: ExecutorKind = "process"
    torch_threads: int = 0
    log_level: str = "INFO"
    _executor: Executor | None = field(default=None, init=False)
    _sem: asyncio.Semaphore | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def _threads(self) -> int:
        return self.torch_threads or max(1, (os.cpu_count() or 1) // self.workers)

    def _context(self) -> ScoringContext:
        return ScoringContext(self.secret, self.scoring, self.metrics)

    def _build(self) -> Executor:
        if self.kind == "thread":
            return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="scorer")
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._context(), self._threads(), os.getpid(), self.log_level),
        )

    def start(self) -> ScorePool:
        """Create the executor; process workers are spawned now, in the background (not on the first job)."""
        with self._lock:
            if self._executor is None:
                self._executor = self._build()
                if self.kind == "process":
                    self._executor.submit(_warm)
        return self

    def _exec(self) -> Executor:
        return self.start()._executor  # type: ignore[return-value]

    async def _submit(self, fn: Any, *args: Any) -> Any:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.workers)
        async with self._sem:
            executor = self._exec()
            try:
                return await asyncio.wrap_future(executor.submit(fn, *args))
            except BrokenProcessPool:
                logger.error("a scoring worker died; rebuilding the scoring pool")
                with self._lock:
                    if self._executor is executor:
                        executor.shutdown(wait=False, cancel_futures=True)
                        self._executor = None
                raise

    async def score(self, job: ScoreJob, seen_sha256: tuple[str, ...] = ()) -> Verdict:
        """The verdict of one answer (`vidaio.validator.kinds`: the job knows its own `scoring.evaluate` call)."""
        if self.kind == "thread":
            return await self._submit(run_job, job, seen_sha256, self._context(), LockedMetric(self.metrics))
        return await self._submit(run_job, job, seen_sha256)

    async def call(self, fn: Any, *args: Any) -> Any:
        """Run a module-level function (picklable args) in a scoring worker, e.g. `scoring.claims.claim_print`."""
        return await self._submit(fn, *args)

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers; `wait=False` abandons running jobs (process workers are terminated)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        # ProcessPoolExecutor cannot interrupt a running job: terminate its workers (private attribute).
        procs = [] if wait else list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=wait, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
