"""The scoring pool's backstop (issue 19): a job that has not returned by its wall limit + a grace is given up.

The per-answer budget (`scoring.budget`) is enforced inside the job: decode loops check it per
packet, ffmpeg runs are killed at it. Work that never returns to Python (a torch forward pass, a C
call that hangs) escapes it; the pool then stops waiting at `backstop_s(job)`:

- the limit is the job's own wall limit (`scoring.evaluate.answer_budget` of its reference) plus a
  grace (`max(grace_s, grace_ratio x limit)`), plus `pieapp_s` for upscaling (PIE-APP runs after the
  budget, outside it);
- the answer gets `stopped_verdict`: score 0, reason `scoring_budget_exceeded`;
- a process worker is killed with every process it started (`kill_tree`: ffmpeg runs in its own
  session, so the worker's process group alone would miss it); a thread cannot be killed, so under
  the thread kind it is left to finish in the background (`DaemonThreadExecutor`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

from loguru import logger

from scoring.budget import BUDGET_EXCEEDED
from scoring.evaluate import CompressionVerdict, UpscalingVerdict, answer_budget
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.verdicts import refuse
from vidaio.validator.kinds import ScoreJob, ScoringContext, UpscalingJob, Verdict


def backstop_s(
    job: ScoreJob, metrics: MetricsConfig, *, grace_s: float, grace_ratio: float, pieapp_s: float
) -> float | None:
    """Seconds the pool waits for `job` before giving it up; None = no limit (budget switched off)."""
    try:
        limit = answer_budget(probe(job.reference), metrics).limit_s
    except Exception as exc:  # the job itself will say what is wrong with its reference
        logger.debug(
            "task {}: reference not probed for the backstop ({}); using the largest budget", job.task_id, exc
        )
        limit = metrics.answer_budget_max_s * max(metrics.answer_budget_wall_factor, 1.0)
    if limit == float("inf"):
        return None
    return limit + max(grace_s, grace_ratio * limit) + (pieapp_s if isinstance(job, UpscalingJob) else 0.0)


def stopped_verdict(job: ScoreJob, ctx: ScoringContext, after_s: float, limit_s: float) -> Verdict:
    """The verdict of an answer whose scoring the pool gave up: score 0, `scoring_budget_exceeded`."""
    v: Verdict
    if isinstance(job, UpscalingJob):
        gate = ctx.scoring.upscaling_vmaf_threshold
        v = UpscalingVerdict(
            job.task_id, scale=job.scale, content_length=job.content_length, vmaf_threshold=gate
        )
    else:
        v = CompressionVerdict(
            job.task_id, codec=getattr(job, "codec", ""), vmaf_threshold=getattr(job, "vmaf_threshold", 0.0)
        )
        with contextlib.suppress(OSError):
            v.compressed_size = Path(job.distorted).stat().st_size
    refuse(
        v, BUDGET_EXCEEDED, f"the scoring pool stopped it after {after_s:.1f} s (its limit: {limit_s:.1f} s)"
    )
    v.timings["total_s"] = after_s
    return v


def _parents() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, grandchildren...), from /proc."""
    tree, found, todo = _parents(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def kill_tree(pid: int) -> list[int]:
    """SIGKILL `pid` and everything it started, each descendant's process group too (ffmpeg runs in
    its own session). The tree is frozen first (SIGSTOP) so nothing is started while it is listed."""
    _signal(pid, signal.SIGSTOP)
    seen: list[int] = []
    for _ in range(5):  # stop the whole tree, until a listing finds nothing new
        new = [p for p in descendants(pid) if p not in seen]
        if not new:
            break
        for p in new:
            _signal(p, signal.SIGSTOP)
        seen += new
    own_group = os.getpgrp()
    for p in seen:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            group = os.getpgid(p)
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
        _signal(p, signal.SIGKILL)
    _signal(pid, signal.SIGKILL)
    return seen


def tracked(pid_dir: str, token: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(*args)` in a process worker, leaving `pid_dir/token` = this worker's pid while it runs
    (how the pool finds the worker to kill)."""
    path = os.path.join(pid_dir, token)
    Path(path).write_text(str(os.getpid()))
    try:
        return fn(*args)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def worker_pid(pid_dir: str, token: str) -> int | None:
    try:
        return int(Path(pid_dir, token).read_text())
    except (OSError, ValueError):
        return None


class DaemonThreadExecutor(Executor):
    """One daemon thread per job (the pool's semaphore bounds how many): a job the pool gives up keeps
    running in its own thread without holding a worker slot, and never keeps the validator from exiting."""

    def __init__(self, name: str = "scorer") -> None:
        self._name = name
        self._count = 0
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        fut: Future = Future()

        def run() -> None:
            try:
                if fut.set_running_or_notify_cancel():
                    try:
                        fut.set_result(fn(*args, **kwargs))
                    except BaseException as exc:
                        fut.set_exception(exc)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._count += 1
            t = threading.Thread(target=run, name=f"{self._name}-{self._count}", daemon=True)
            self._threads.add(t)
        t.start()
        return fut

    def running(self) -> int:
        with self._lock:
            return len(self._threads)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False, timeout_s: float = 5.0) -> None:
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        if wait:
            deadline = time.monotonic() + timeout_s
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
