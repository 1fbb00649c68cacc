"""The engine worker pool: blocking engine jobs in threads, off the event loop, with abandonment.

Two lanes, each a bounded thread pool: "gpu" (the upscaling model; concurrency 1 by default) and
"cpu" (lanczos, compression; concurrency from config). Jobs that wait for a slot queue in the
lane. A job whose caller gives up (deadline, shutdown) is *abandoned*: if it has not started it
never will; if it runs, the processes its thread started (ffmpeg encoders, decoders, VMAF runs)
are killed by pid until the thread returns, so the engine fails fast and removes its partial
files. Killing goes through `/proc/self/task/<tid>/children`, i.e. only direct children of that
very worker thread; where the kernel does not offer it the job runs to its own deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Literal, TypeVar

from loguru import logger

T = TypeVar("T")
Lane = Literal["cpu", "gpu"]
LANES: tuple[Lane, ...] = ("cpu", "gpu")


class JobAbandoned(RuntimeError):
    """The job was abandoned (its caller gave up); its processes were stopped."""


def thread_children(tid: int) -> list[int]:
    """Pids of the processes started by thread `tid` of this process (empty if unknown)."""
    try:
        text = Path(f"/proc/self/task/{tid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split() if p.isdigit()]


def kill_thread_children(tid: int) -> int:
    """SIGKILL the direct children of worker thread `tid` (they are ours, by pid); return how many."""
    killed = 0
    for pid in thread_children(tid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


class Job(Generic[T]):
    """One engine job: its future, its lane and the native id of the thread running it."""

    def __init__(self, label: str, lane: Lane) -> None:
        self.label = label
        self.lane: Lane = lane
        self.tid: int | None = None
        self.abandoned = threading.Event()
        self.future: concurrent.futures.Future[T]  # set by WorkerPool.submit
        self.submitted = time.monotonic()

    def done(self) -> bool:
        return self.future.done()

    def on_done(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the job is over (at once if it already is); errors are logged."""

        def _cb(_: concurrent.futures.Future[T]) -> None:
            try:
                callback()
            except Exception as exc:  # a cleanup callback must never break the worker thread
                logger.opt(exception=exc).error("job {}: completion callback failed", self.label)

        self.future.add_done_callback(_cb)


class WorkerPool:
    """Bounded lanes of worker threads; `await pool.wait(pool.submit(lane, fn))` runs `fn()`."""

    def __init__(self, cpu_workers: int = 1, gpu_workers: int = 1, *, reap_interval_s: float = 0.05) -> None:
        if cpu_workers < 1 or gpu_workers < 1:
            raise ValueError("cpu_workers and gpu_workers must be >= 1")
        sizes = {"cpu": cpu_workers, "gpu": gpu_workers}
        self._executors = {
            lane: concurrent.futures.ThreadPoolExecutor(sizes[lane], thread_name_prefix=f"miner-{lane}")
            for lane in LANES
        }
        self._jobs: set[Job[object]] = set()
        self._jobs_lock = threading.Lock()  # done-callbacks run in the worker threads
        self._reapers: set[asyncio.Task[None]] = set()
        self._reap_interval = reap_interval_s
        self._closed = False

    @property
    def active(self) -> int:
        """Jobs submitted and not finished (running or waiting for a slot)."""
        with self._jobs_lock:
            return len(self._jobs)

    def _pending(self) -> list[Job[object]]:
        with self._jobs_lock:
            return [j for j in self._jobs if not j.done()]

    def _forget(self, job: Job[object]) -> None:
        with self._jobs_lock:
            self._jobs.discard(job)

    def submit(self, lane: Lane, fn: Callable[[], T], *, label: str = "job") -> Job[T]:
        """Queue `fn` on `lane`; returns at once."""
        if self._closed:
            raise JobAbandoned(f"job {label}: the worker pool is shut down")
        if lane not in self._executors:
            raise ValueError(f"unknown lane {lane!r} (known: {', '.join(LANES)})")
        job: Job[T] = Job(label, lane)

        def run() -> T:
            if job.abandoned.is_set():
                raise JobAbandoned(f"job {label} abandoned before it started")
            job.tid = threading.get_native_id()
            try:
                return fn()
            except Exception as exc:
                if job.abandoned.is_set():
                    raise JobAbandoned(f"job {label} abandoned: {type(exc).__name__}") from exc
                raise

        job.future = self._executors[lane].submit(run)
        with self._jobs_lock:
            self._jobs.add(job)  # type: ignore[arg-type]
        job.future.add_done_callback(lambda _f: self._forget(job))  # type: ignore[arg-type]
        return job

    async def wait(self, job: Job[T]) -> T:
        """The job's result; if the waiting coroutine is cancelled the job is abandoned."""
        try:
            return await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            self.abandon(job)
            raise

    async def run(self, lane: Lane, fn: Callable[[], T], *, label: str = "job") -> T:
        return await self.wait(self.submit(lane, fn, label=label))

    def abandon(self, job: Job[T]) -> None:
        """Stop `job`: cancel it if queued, else kill its thread's processes until it returns."""
        if job.done() or job.abandoned.is_set():
            return  # finished, or already being stopped
        job.abandoned.set()
        if job.future.cancel():
            logger.debug("job {} cancelled before it started", job.label)
            return
        logger.info("abandoning job {} ({} lane): stopping its processes", job.label, job.lane)
        task = asyncio.get_running_loop().create_task(self._reap(job), name=f"reap:{job.label}")
        self._reapers.add(task)
        task.add_done_callback(self._reapers.discard)

    async def _reap(self, job: Job[T]) -> None:
        while not job.done():
            if job.tid is not None:
                kill_thread_children(job.tid)
            await asyncio.sleep(self._reap_interval)

    async def shutdown(self, grace_s: float = 0.0) -> int:
        """Refuse new jobs, give running ones `grace_s`, abandon the rest, wait for every thread
        (and the jobs' completion callbacks) to finish. Returns how many jobs were abandoned."""
        self._closed = True
        deadline = time.monotonic() + max(0.0, grace_s)
        while self._pending() and time.monotonic() < deadline:
            await asyncio.sleep(self._reap_interval)
        pending = self._pending()
        for job in pending:
            self.abandon(job)
        if self._reapers:
            await asyncio.gather(*list(self._reapers), return_exceptions=True)
        for executor in self._executors.values():
            await asyncio.to_thread(executor.shutdown, wait=True)
        return len(pending)
