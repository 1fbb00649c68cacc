"""WorkerPool: lanes bound concurrency, abandonment stops a job's processes, shutdown waits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from vidaio.miner.worker import JobAbandoned, WorkerPool, thread_children


def _sleeper(started: threading.Event, pids: list[int], seconds: float = 30.0) -> str:
    """A job that runs a child process the way the engines run ffmpeg, and fails if it is killed."""
    proc = subprocess.Popen(["sleep", str(seconds)])
    pids.append(proc.pid)
    started.set()
    rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"child exited with {rc}")
    return "finished"


@pytest.mark.skipif(not Path(f"/proc/self/task/{os.getpid()}/children").exists(), reason="no /proc children file")
async def test_abandon_kills_the_jobs_child_process_and_cleans_up() -> None:
    pool = WorkerPool(cpu_workers=1, gpu_workers=1)
    started, pids = threading.Event(), []
    cleaned = threading.Event()
    job = pool.submit("cpu", lambda: _sleeper(started, pids), label="sleeper")
    assert await asyncio.to_thread(started.wait, 10)
    assert job.tid is not None and pids[0] in thread_children(job.tid)
    waiter = asyncio.create_task(pool.wait(job))
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    waiter.cancel()  # the caller gives up (deadline, shutdown): the job is abandoned
    with pytest.raises(asyncio.CancelledError):
        await waiter
    job.on_done(cleaned.set)
    await pool.shutdown()
    assert time.monotonic() - t0 < 5, "the 30 s child was not stopped"
    assert cleaned.is_set() and job.done()
    assert isinstance(job.future.exception(), JobAbandoned)
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # reaped: gone


async def test_lane_concurrency_and_queued_job_cancelled_before_start() -> None:
    pool = WorkerPool(cpu_workers=1, gpu_workers=2)
    gate = threading.Event()
    running: list[str] = []

    def work(name: str) -> str:
        running.append(name)
        gate.wait(10)
        return name

    first = pool.submit("cpu", lambda: work("a"), label="a")
    queued = pool.submit("cpu", lambda: work("b"), label="b")
    gpu = [pool.submit("gpu", lambda n=n: work(n), label=n) for n in ("g1", "g2")]
    await asyncio.sleep(0.2)
    assert sorted(running) == ["a", "g1", "g2"]  # one cpu slot, two gpu slots
    pool.abandon(queued)  # still waiting for a slot: it never starts
    gate.set()
    assert await pool.wait(first) == "a"
    assert [await pool.wait(j) for j in gpu] == ["g1", "g2"]
    assert queued.future.cancelled() and "b" not in running
    assert await pool.shutdown() == 0
    with pytest.raises(JobAbandoned, match="shut down"):
        pool.submit("cpu", lambda: "late")


async def test_shutdown_grace_lets_short_jobs_finish() -> None:
    pool = WorkerPool()
    job = pool.submit("cpu", lambda: time.sleep(0.3) or "done", label="short")
    assert await pool.shutdown(grace_s=5.0) == 0
    assert job.future.result() == "done"


def test_bad_lane_and_sizes() -> None:
    with pytest.raises(ValueError):
        WorkerPool(cpu_workers=0)
    pool = WorkerPool()
    with pytest.raises(ValueError, match="unknown lane"):
        pool.submit("tpu", lambda: 1)  # type: ignore[arg-type]
    asyncio.run(pool.shutdown())
