"""CPU meters for the per-answer budget (`scoring.budget`): what one scoring job has spent.

- `ProcessMeter` (the default): this process (all its threads) plus its reaped children (ffmpeg).
  Exact in a process worker, which runs one job at a time.
- `ThreadMeter`, for a job run in a thread of a process that scores several answers at once (the
  scoring pool's "thread" kind, entered with `per_thread_cpu()`): the job thread's own CPU clock,
  plus the codec threads it started (libavcodec frame threads, dav1d workers: threads of the
  process, not of the job thread; measured, the job thread itself does only 10-20 % of a decode),
  plus the ffmpeg children it started (their rusage when reaped, `add_child`). Codec threads are
  told apart by a tag they inherit from the thread that creates them and that neither FFmpeg nor
  dav1d resets: the nice value (FFmpeg and dav1d rename their threads, so the name cannot be used).
  Each job thread raises its nice to a value no other running job holds (1..19: scoring threads
  then also yield to the event loop). With no tag free, the job falls back to `ProcessMeter`
  (over-counts, never under-counts).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

_TICK = os.sysconf("SC_CLK_TCK")
_SCAN_EVERY_S = 0.02


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its waited-for children (ffmpeg runs)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class CpuMeter(Protocol):
    def used(self) -> float:
        """CPU seconds spent since the meter was made."""
        ...

    def add_child(self, cpu_s: float) -> None:
        """A child process this job started was reaped, having used `cpu_s`."""
        ...


class ProcessMeter:
    def __init__(self) -> None:
        self._start = cpu_seconds()

    def used(self) -> float:
        return cpu_seconds() - self._start

    def add_child(self, cpu_s: float) -> None:
        """Already counted: RUSAGE_CHILDREN includes every reaped child."""


def _threads(skip: frozenset[str] = frozenset()) -> dict[tuple[int, int], tuple[int, float]]:
    """(tid, start time) -> (nice, CPU seconds) of every thread of this process but those in `skip`."""
    out: dict[tuple[int, int], tuple[int, float]] = {}
    for tid in os.listdir("/proc/self/task"):
        if tid in skip:
            continue
        try:
            f = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the thread just ended
        out[(int(tid), int(f[19]))] = (int(f[16]), (int(f[11]) + int(f[12])) / _TICK)
    return out


class ThreadMeter:
    """The CPU of one job thread, the codec threads carrying its tag and its reaped children."""

    def __init__(self, tag: int) -> None:
        self.tag = tag
        self._ident, self._tid = threading.get_ident(), threading.get_native_id()
        self._clock = time.pthread_getcpuclockid(self._ident)
        self._own_start = self._own_last = time.clock_gettime(self._clock)
        self._children = 0.0
        # threads older than the job are not its codec threads (tids are not reused before pid_max wraps)
        self._before = frozenset(os.listdir("/proc/self/task"))
        self._seen: dict[tuple[int, int], float] = {}
        self._scanned = 0.0

    def _own(self) -> float:
        try:
            self._own_last = time.clock_gettime(self._clock)
        except OSError:  # the job thread has ended: its last reading stands
            pass
        return self._own_last - self._own_start

    def _scan(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._scanned < _SCAN_EVERY_S:
            return
        self._scanned = now
        for key, (nice, cpu) in _threads(self._before).items():
            if nice == self.tag and key[0] != self._tid:
                self._seen[key] = max(self._seen.get(key, 0.0), cpu)

    def codec_threads(self) -> float:
        """CPU of the tagged threads (a thread that ended counts with its last reading)."""
        return sum(self._seen.values())

    def used(self, force: bool = False) -> float:
        self._scan(force)
        return self._own() + self.codec_threads() + self._children

    def add_child(self, cpu_s: float) -> None:
        self._children += cpu_s


_local = threading.local()
_tags_lock = threading.Lock()
_tags_taken: set[int] = set()


def _take_tag() -> int | None:
    me = threading.get_native_id()
    current = os.getpriority(os.PRIO_PROCESS, me)
    with _tags_lock:
        free = [n for n in range(max(current + 1, 1), 20) if n not in _tags_taken]
        if not free:
            return None
        try:
            os.setpriority(os.PRIO_PROCESS, me, free[0])
        except OSError:
            return None
        _tags_taken.add(free[0])
        return free[0]


@contextmanager
def per_thread_cpu() -> Iterator[int | None]:
    """Budgets made in this thread meanwhile count this thread's work only (`ThreadMeter`); yields the
    tag (None: none free, process-wide metering). Raises this thread's nice for good: use it in a
    thread made for the job (the scoring pool's thread kind starts one per job)."""
    tag = _take_tag()
    _local.tag = tag
    try:
        yield tag
    finally:
        _local.tag = None
        if tag is not None:
            with _tags_lock:
                _tags_taken.discard(tag)


def current_meter() -> CpuMeter:
    """The meter of a budget made now, in this thread."""
    tag = getattr(_local, "tag", None)
    return ProcessMeter() if tag is None else ThreadMeter(tag)
