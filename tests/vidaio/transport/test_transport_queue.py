"""The stake-ordered admission queue: unit behaviour and through a real server (429, priority)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from transport_support import RecordingHandler, start_miner, upscaling_task

from vidaio.chain.port import MetagraphSnapshot, NeuronInfo
from vidaio.transport.admission import QueueFull, StakeQueue
from vidaio.transport.client import MinerClient


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_queue_grants_highest_priority_first_and_fifo_on_ties() -> None:
    q = StakeQueue(max_concurrency=1, max_queue=10)
    await q.acquire(0)  # occupy the only slot
    order: list[str] = []

    async def worker(name: str, prio: float) -> None:
        await q.acquire(prio)
        order.append(name)
        q.release()

    tasks = []
    for name, prio in [("low", 1), ("high", 100), ("mid-a", 50), ("mid-b", 50)]:
        tasks.append(asyncio.create_task(worker(name, prio)))
        await wait_until(lambda n=len(tasks): q.waiting == n)
    q.release()
    await asyncio.gather(*tasks)
    assert order == ["high", "mid-a", "mid-b", "low"]
    assert q.active == 0 and q.waiting == 0


async def test_queue_full_raises_and_cancelled_waiter_leaves() -> None:
    q = StakeQueue(max_concurrency=1, max_queue=1)
    await q.acquire(1)
    waiter = asyncio.create_task(q.acquire(5))
    await wait_until(lambda: q.waiting == 1)
    with pytest.raises(QueueFull):
        await q.acquire(1000)  # even a big stake cannot jump a full line
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert q.waiting == 0
    q.release()
    assert q.active == 0
    await asyncio.wait_for(q.acquire(1), 1)  # slot is free again
    assert q.active == 1


async def test_queue_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError):
        StakeQueue(0, 1)


async def test_full_queue_is_429(wallets: dict[str, Any], snapshot: MetagraphSnapshot) -> None:
    gate = asyncio.Event()
    handler = RecordingHandler(gate=gate)
    async with start_miner(wallets, snapshot, handler, max_concurrency=1, max_queue=1) as m:
        queue = m.app.state.queue
        async with MinerClient(wallets["v_high"].hotkey) as client:
            first = asyncio.create_task(client.send_task(m.axon, m.hotkey, upscaling_task("q1"), 10))
            await wait_until(lambda: len(handler.seen) == 1)
            second = asyncio.create_task(client.send_task(m.axon, m.hotkey, upscaling_task("q2"), 10))
            await wait_until(lambda: queue.waiting == 1)
            third = await client.send_task(m.axon, m.hotkey, upscaling_task("q3"), 10)
            assert third.kind == "refused" and third.status_code == 429, third
            assert "queue is full" in third.reason
            gate.set()
            results = await asyncio.gather(first, second)
        assert [r.kind for r in results] == ["ok", "ok"]
        assert [t for t, _ in handler.seen] == ["q1", "q2"]


async def test_contended_queue_serves_higher_stake_first(wallets: dict[str, Any], snapshot: MetagraphSnapshot) -> None:
    """Stakes rise with uids (so uid order or arrival order would give the wrong answer) and two
    validators tie: the higher stake goes first, a tie goes in arrival order."""
    stakes = {"v_low": 200.0, "stranger": 1000.0, "v_mid": 1000.0, "v_high": 5000.0}  # uid 0, 1, 2, 3
    neurons = [
        NeuronInfo(uid=uid, hotkey=wallets[name].hotkey.ss58_address, stake=stake, validator_permit=True)
        for uid, (name, stake) in enumerate(stakes.items())
    ]
    miner = next(n for n in snapshot.neurons if n.hotkey == wallets["miner"].hotkey.ss58_address)
    ranked = snapshot.model_copy(update={"neurons": (*neurons, miner.model_copy(update={"uid": 4}))})
    gate = asyncio.Event()
    handler = RecordingHandler(gate=gate)
    async with start_miner(wallets, ranked, handler, max_concurrency=1, max_queue=8) as m:
        queue = m.app.state.queue
        clients = {n: MinerClient(wallets[n].hotkey) for n in stakes}
        try:
            first = asyncio.create_task(clients["v_low"].send_task(m.axon, m.hotkey, upscaling_task("busy"), 10))
            await wait_until(lambda: len(handler.seen) == 1)
            pending = []
            # lowest stake first, and of the tied pair the higher uid (v_mid) before the lower (stranger)
            for i, name in enumerate(["v_low", "v_mid", "stranger", "v_high"]):
                task = upscaling_task(f"from-{name}")
                pending.append(asyncio.create_task(clients[name].send_task(m.axon, m.hotkey, task, 10)))
                await wait_until(lambda i=i: queue.waiting == i + 1)
            gate.set()
            results = await asyncio.gather(first, *pending)
        finally:
            for c in clients.values():
                await c.close()
        assert all(r.kind == "ok" for r in results), results
        assert [t for t, _ in handler.seen] == ["busy", "from-v_high", "from-v_mid", "from-stranger", "from-v_low"]
