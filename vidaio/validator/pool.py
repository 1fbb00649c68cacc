"""The bounded scoring pool: scoring jobs (`vidaio.validator.kinds`: validation, VMAF, PIE-APP) off the event loop.

"process" (default): a spawn-started `ProcessPoolExecutor`; each worker builds its own PIE-APP
metric once (`scoring.metrics.pieapp.get_metric`), ignores SIGINT (the daemon handles signals)
and exits when the validator dies, even by SIGKILL (it watches its parent). A crashed worker
breaks the pool: the pool is rebuilt and the job reported as a metric error.
"thread": one daemon thread per job in the validator process (`backstop.DaemonThreadExecutor`); the
one PIE-APP metric is shared behind a lock; each job's CPU is metered per thread
(`scoring.cpu_meter.per_thread_cpu`), so concurrent jobs do not count each other's work.

Backstop (`vidaio.validator.backstop`): a job that has not returned by its wall limit + a grace is
given up and its answer recorded `scoring_budget_exceeded`. A process worker is killed with every
process it started and the pool rebuilt; the other jobs that lose their worker to that rebuild are
submitted once more. A thread cannot be killed: it finishes in the background (its CPU is not
reclaimed; the process kind is the one that reclaims it).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
import weakref
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Literal

from loguru import logger

from scoring.budget import per_thread_cpu
from scoring.config import ScoringConfig
from scoring.metrics.config import MetricsConfig
from vidaio.validator import backstop
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


def run_job(
    job: ScoreJob, seen: tuple[str, ...], ctx: ScoringContext | None = None, metric: Any = None
) -> Verdict:
    """Score one job here: a process worker passes neither (its own context and PIE-APP metric), a
    thread worker or a Ray actor its context and a `LockedMetric`."""
    return job.run(seen, _context(ctx), metric)


def run_job_in_thread(job: ScoreJob, seen: tuple[str, ...], ctx: ScoringContext, metric: Any) -> Verdict:
    """`run_job` in a thread worker: the job's budget counts this thread's work only."""
    with per_thread_cpu():
        return run_job(job, seen, ctx, metric)


class _GivenUp(Exception):
    """The backstop gave the job up (the pool records its answer as `scoring_budget_exceeded`)."""

    def __init__(self, after_s: float) -> None:
        super().__init__(f"given up after {after_s:.1f} s")
        self.after_s = after_s


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
    backstop_grace_s: float = 15.0  # the backstop: the job's wall limit + max(grace_s, grace_ratio x limit)
    backstop_grace_ratio: float = 0.25
    backstop_pieapp_s: float = 120.0  # upscaling: PIE-APP runs after the budget, outside it
    _executor: Executor | None = field(default=None, init=False)
    _sem: asyncio.Semaphore | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stopped: weakref.WeakSet = field(default_factory=weakref.WeakSet, init=False)  # broken by the backstop
    _pid_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="vidaio-scorers-"), init=False)

    def _threads(self) -> int:
        return self.torch_threads or max(1, (os.cpu_count() or 1) // self.workers)

    def _context(self) -> ScoringContext:
        return ScoringContext(self.secret, self.scoring, self.metrics)

    def _build(self) -> Executor:
        if self.kind == "thread":
            return backstop.DaemonThreadExecutor("scorer")
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
                os.makedirs(self._pid_dir, exist_ok=True)
                self._executor = self._build()
                if self.kind == "process":
                    self._executor.submit(_warm)
        return self

    def _exec(self) -> Executor:
        return self.start()._executor  # type: ignore[return-value]

    def backstop_s(self, job: ScoreJob) -> float | None:
        """Seconds the pool waits for `job` (its wall limit + the grace); None = no limit."""
        return backstop.backstop_s(
            job, self.metrics, grace_s=self.backstop_grace_s, grace_ratio=self.backstop_grace_ratio,
            pieapp_s=self.backstop_pieapp_s,
        )  # fmt: skip

    def _drop(self, executor: Executor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def _give_up(self, executor: Executor, fut: Any, token: str, what: str, after_s: float) -> None:
        """Stop waiting for a job: kill its process worker (and what it started) or abandon its thread."""
        fut.cancel()  # a running job is not stopped by this; its late result is dropped
        if isinstance(executor, backstop.DaemonThreadExecutor):
            logger.error(
                "{}: no result after {:.1f} s; given up. Its scoring thread keeps running in the background "
                "({} scoring threads alive): the thread kind cannot reclaim its CPU, the process kind can",
                what, after_s, executor.running(),
            )  # fmt: skip
            return
        pid = backstop.worker_pid(self._pid_dir, token)
        with self._lock:
            self._stopped.add(executor)
        killed = [] if pid is None else backstop.kill_tree(pid)
        logger.error(
            "{}: no result after {:.1f} s; killed its scoring worker (pid {}) and {} process(es) it started; "
            "rebuilding the scoring pool (the other jobs in it are submitted again)", what, after_s, pid, len(killed),
        )  # fmt: skip
        # the broken pool SIGTERMs its other workers, which would orphan their ffmpeg runs: kill them all here
        for p in list((getattr(executor, "_processes", None) or {}).values()):
            if p.pid is not None and p.pid != pid:
                backstop.kill_tree(p.pid)
        self._drop(executor)

    async def _submit(self, fn: Any, *args: Any, limit_s: float | None = None, what: str = "job") -> Any:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.workers)
        async with self._sem:
            for attempt in (1, 2):
                executor = self._exec()
                token = uuid.uuid4().hex
                if isinstance(executor, ProcessPoolExecutor):
                    cfut = executor.submit(backstop.tracked, self._pid_dir, token, fn, *args)
                else:
                    cfut = executor.submit(fn, *args)
                fut = asyncio.wrap_future(cfut)
                started = time.monotonic()
                try:
                    done, _ = await asyncio.wait({fut}, timeout=limit_s)
                    if (
                        not done
                        and backstop.worker_pid(self._pid_dir, token) is None
                        and self.kind == "process"
                    ):
                        # not started yet (workers still spawning after a rebuild): one more period
                        done, _ = await asyncio.wait({fut}, timeout=limit_s)
                    if not done:
                        self._give_up(executor, fut, token, what, time.monotonic() - started)
                        raise _GivenUp(time.monotonic() - started)
                    return fut.result()
                except BrokenProcessPool:
                    stopped = executor in self._stopped
                    self._drop(executor)
                    if stopped and attempt == 1:
                        logger.warning(
                            "{}: its scoring worker was killed with a stuck job's; submitting it again", what
                        )
                        continue
                    logger.error("a scoring worker died; rebuilding the scoring pool")
                    raise
                finally:
                    if not fut.done():
                        fut.cancel()
        raise AssertionError("unreachable")

    async def score(self, job: ScoreJob, seen_sha256: tuple[str, ...] = ()) -> Verdict:
        """The verdict of one answer (`vidaio.validator.kinds`: the job knows its own `scoring.evaluate` call)."""
        limit = await asyncio.to_thread(self.backstop_s, job)
        what = f"task {job.task_id}"
        try:
            if self.kind == "thread":
                ctx, metric = self._context(), LockedMetric(self.metrics)
                return await self._submit(
                    run_job_in_thread, job, seen_sha256, ctx, metric, limit_s=limit, what=what
                )
            return await self._submit(run_job, job, seen_sha256, limit_s=limit, what=what)
        except _GivenUp as exc:
            return backstop.stopped_verdict(job, self._context(), exc.after_s, limit or 0.0)

    async def call(self, fn: Any, *args: Any) -> Any:
        """Run a module-level function (picklable args) in a scoring worker, e.g. `scoring.claims.claim_print`."""
        return await self._submit(fn, *args)

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers; `wait=False` abandons running jobs (process workers are terminated)."""
        with self._lock:
            executor, self._executor = self._executor, None
        shutil.rmtree(self._pid_dir, ignore_errors=True)
        if executor is None:
            return
        # ProcessPoolExecutor cannot interrupt a running job: terminate its workers (private attribute).
        procs = [] if wait else list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=wait, cancel_futures=True)
        for p in procs:
            if p.is_alive() and p.pid is not None:
                backstop.kill_tree(p.pid)  # and the ffmpeg runs it started (each in its own session)
