"""MinerClient outcome classification against a real server and against scripted transports."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from bittensor import http_auth
from transport_support import Miner, RecordingHandler, start_miner, upscaling_task

from vidaio.chain.port import MetagraphSnapshot
from vidaio.protocol import CompressionTask
from vidaio.transport.client import MinerClient, axon_base_url


async def test_ok_result_and_task_error(miner: Miner, wallets: dict[str, Any]) -> None:
    async with MinerClient(wallets["v_high"].hotkey) as client:
        ok = await client.send_task(miner.axon, miner.hotkey, upscaling_task("c1"), 5)
        comp = CompressionTask(task_id="c2", round_id="r", input_url="http://127.0.0.1:9/x.mp4",
                               vmaf_threshold=89, codec="h264", deadline_s=5)
        err = await client.send_task(miner.axon, miner.hotkey, comp, 5)
    assert ok.kind == "ok" and ok.status_code == 200 and ok.result.task_id == "c1"
    assert 0 < ok.elapsed_s < 5
    assert err.kind == "error" and "h264" in err.reason and err.result.task_id == "c2"


async def test_refused_carries_status_and_reason(miner: Miner, wallets: dict[str, Any]) -> None:
    async with MinerClient(wallets["stranger"].hotkey) as client:
        res = await client.send_task(miner.axon, miner.hotkey, upscaling_task(), 5)
    assert res.kind == "refused" and res.status_code == 403 and "not registered" in res.reason


async def test_response_for_another_task_is_invalid(wallets: dict[str, Any], snapshot: MetagraphSnapshot) -> None:
    async with start_miner(wallets, snapshot, RecordingHandler(wrong_task_id=True)) as m:
        async with MinerClient(wallets["v_high"].hotkey) as client:
            res = await client.send_task(m.axon, m.hotkey, upscaling_task("mine"), 5)
        assert res.kind == "invalid" and "someone-else" in res.reason


async def test_slow_miner_is_timeout(wallets: dict[str, Any], snapshot: MetagraphSnapshot) -> None:
    gate = asyncio.Event()  # the miner answers only when the test says so: after the client gave up
    async with start_miner(wallets, snapshot, RecordingHandler(gate=gate)) as m:
        async with MinerClient(wallets["v_high"].hotkey) as client:
            sent = client.send_task(m.axon, m.hotkey, upscaling_task("slow", deadline_s=0.3), 0.3)
            res = await asyncio.wait_for(sent, timeout=60)
        gate.set()
        assert res.kind == "timeout"
        assert res.elapsed_s >= 0.25  # it waited for the deadline, and returned without the answer


async def test_connection_refused_is_error(wallets: dict[str, Any]) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with MinerClient(wallets["v_high"].hotkey) as client:
        res = await client.send_task(f"127.0.0.1:{port}", "5F" + "x" * 46, upscaling_task(), 2)
        bad = await client.send_task("not-an-axon", "5F", upscaling_task(), 2)
    assert res.kind == "error" and "Connect" in res.reason
    assert bad.kind == "error" and "malformed axon" in bad.reason


def scripted(status: int, body: bytes, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=body)

    return httpx.MockTransport(handle)


async def test_garbage_and_oversized_responses_are_invalid(wallets: dict[str, Any]) -> None:
    kp = wallets["v_high"].hotkey
    async with MinerClient(kp, transport=scripted(200, b"<html>hi</html>")) as client:
        res = await client.send_task("127.0.0.1:9", "5F", upscaling_task(), 2)
    assert res.kind == "invalid"
    async with MinerClient(kp, transport=scripted(200, b"x" * 5000), max_response_bytes=1024) as client:
        res = await client.send_task("127.0.0.1:9", "5F", upscaling_task(), 2)
    assert res.kind == "invalid" and "exceeds" in res.reason


async def test_client_signs_what_it_sends(wallets: dict[str, Any]) -> None:
    seen: list[httpx.Request] = []
    kp = wallets["v_high"].hotkey
    receiver = wallets["miner"].hotkey.ss58_address
    body = b'{"task_id":"t1","output_url":"http://h/x.mp4","processing_time_s":1}'
    async with MinerClient(kp, transport=scripted(200, body, seen)) as client:
        res = await client.send_task("[::1]:8091", receiver, upscaling_task("t1"), 2)
    assert res.kind == "ok"
    req = seen[0]
    assert str(req.url) == "http://[::1]:8091/tasks/upscaling"
    caller = http_auth.verify(dict(req.headers), req.content, method="POST", path="/tasks/upscaling",
                              self_hotkey_ss58=receiver, nonce_store=http_auth.InMemoryNonceStore())
    assert caller.hotkey_ss58 == kp.ss58_address


async def test_concurrency_cap_limits_in_flight_requests(wallets: dict[str, Any]) -> None:
    in_flight = 0
    peak = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        tid = request.content.split(b'"task_id":"')[1].split(b'"')[0].decode()
        return httpx.Response(200, json={"task_id": tid, "output_url": "http://h/x.mp4", "processing_time_s": 0})

    async with MinerClient(wallets["v_high"].hotkey, max_concurrency=2, transport=httpx.MockTransport(handle)) as c:
        results = await asyncio.gather(
            *(c.send_task("127.0.0.1:9", "5F", upscaling_task(f"t{i}"), 5) for i in range(6))
        )
    assert all(r.kind == "ok" for r in results)
    assert peak == 2


def test_client_refuses_the_wallet_object(wallets: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="wallet.hotkey"):
        MinerClient(wallets["v_high"])


@pytest.mark.parametrize(
    ("axon", "url"),
    [("1.2.3.4:80", "http://1.2.3.4:80"), ("[::1]:9", "http://[::1]:9")],
)
def test_axon_base_url(axon: str, url: str) -> None:
    assert axon_base_url(axon) == url


@pytest.mark.parametrize("axon", ["", "1.2.3.4", "host:80", "1.2.3.4:0", "1.2.3.4:99999", "1.2.3.4:x"])
def test_axon_base_url_rejects(axon: str) -> None:
    with pytest.raises(ValueError):
        axon_base_url(axon)


async def test_handler_past_task_deadline_is_504_task_error(wallets: dict[str, Any], snapshot: MetagraphSnapshot) -> None:
    async with start_miner(wallets, snapshot, RecordingHandler(sleep_s=2.0)) as m:
        async with MinerClient(wallets["v_high"].hotkey) as client:
            res = await client.send_task(m.axon, m.hotkey, upscaling_task("late", deadline_s=0.2), 3)
        assert res.kind == "refused" and res.status_code == 504
        assert res.result is not None and res.result.task_id == "late" and "deadline" in res.reason


async def test_local_slot_wait_is_not_charged_to_the_miner(wallets: dict[str, Any]) -> None:
    nonces: list[int] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        nonces.append(int(request.headers["X-Bittensor-Nonce"]))
        await asyncio.sleep(0.8)
        tid = request.content.split(b'"task_id":"')[1].split(b'"')[0].decode()
        return httpx.Response(200, json={"task_id": tid, "output_url": "http://h/x.mp4", "processing_time_s": 0})

    async with MinerClient(wallets["v_high"].hotkey, max_concurrency=1, transport=httpx.MockTransport(handle)) as c:
        results = await asyncio.gather(*(c.send_task("127.0.0.1:9", "5F", upscaling_task(f"t{i}"), 2.0)
                                         for i in range(4)))  # 3.2 s in total, 2 s deadline each
    # every answer is in time although the last one came > 2 s after it was queued: the wait for the
    # local slot is not charged to the miner (each elapsed_s covers its own 0.8 s request only)
    assert [r.kind for r in results] == ["ok"] * 4
    assert all(r.elapsed_s >= 0.75 for r in results) and sum(r.elapsed_s for r in results) > 2.0
    gaps = [b - a for a, b in zip(nonces, nonces[1:], strict=False)]
    assert all(g >= 0.75e9 for g in gaps)  # each request signed when it was actually sent
