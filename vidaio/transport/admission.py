"""Admission for the miner server: metagraph cache, caller checks and the stake-ordered queue."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time

from loguru import logger

from vidaio.chain.port import ChainPort, MetagraphSnapshot, NeuronInfo


class AdmissionDenied(Exception):
    """The caller is authenticated but not allowed in (HTTP 403)."""


class QueueFull(Exception):
    """No work slot and no room to wait (HTTP 429)."""


class MetagraphCache:
    """Holds the latest metagraph; refreshes it in the background; keeps the old one on failure."""

    def __init__(self, chain: ChainPort, refresh_s: float) -> None:
        self._chain = chain
        self._refresh_s = refresh_s
        self._snapshot: MetagraphSnapshot | None = None
        self._loaded_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def snapshot(self) -> MetagraphSnapshot | None:
        return self._snapshot

    @property
    def age_s(self) -> float | None:
        return None if self._snapshot is None else time.monotonic() - self._loaded_at

    async def refresh(self) -> bool:
        try:
            snap = await self._chain.metagraph()
        except Exception as exc:  # any chain failure: keep serving from the last snapshot
            logger.warning("metagraph refresh failed, keeping the previous one: {}", exc)
            return False
        self._snapshot = snap
        self._loaded_at = time.monotonic()
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            await self.refresh()

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="metagraph-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def admit(
    snapshot: MetagraphSnapshot, hotkey: str, *, min_stake: float, require_permit: bool
) -> NeuronInfo:
    """The caller's neuron if it may send work; else AdmissionDenied with the reason (docs/protocol.md)."""
    neuron = snapshot.by_hotkey(hotkey)
    if neuron is None:
        raise AdmissionDenied(f"hotkey {hotkey} is not registered on netuid {snapshot.netuid}")
    if require_permit and not neuron.validator_permit:
        raise AdmissionDenied(f"hotkey {hotkey} (uid {neuron.uid}) holds no validator permit")
    if neuron.stake < min_stake:
        raise AdmissionDenied(
            f"hotkey {hotkey} (uid {neuron.uid}) stake {neuron.stake:g} is below the minimum {min_stake:g}"
        )
    return neuron


class StakeQueue:
    """Bounded concurrency with a bounded waiting line served highest priority (stake) first.

    `acquire(priority)` returns when a slot is held (call `release()` after the work); it raises
    QueueFull at once when all slots are busy and `max_queue` callers already wait. Equal
    priorities are served in arrival order. A cancelled waiter leaves the line.
    """

    def __init__(self, max_concurrency: int, max_queue: int) -> None:
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        self._max_concurrency = max_concurrency
        self._max_queue = max_queue
        self._active = 0
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self, priority: float) -> None:
        if self._active < self._max_concurrency and not self._waiting:
            self._active += 1
            return
        if len(self._waiting) >= self._max_queue:
            raise QueueFull(f"{self._active} tasks running and {len(self._waiting)} waiting (queue is full)")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (-float(priority), next(self._seq), fut)
        heapq.heappush(self._waiting, entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(entry)
                    heapq.heapify(self._waiting)
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, fut = heapq.heappop(self._waiting)
            if not fut.done():
                fut.set_result(None)  # hand the slot over; _active is unchanged
                return
        self._active -= 1
