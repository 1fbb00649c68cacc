"""Signed requests against a real uvicorn miner: authentication (401), admission (403), limits (413/422)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from bittensor import http_auth
from transport_support import Miner, start_miner, upscaling_task

from vidaio.chain.port import MetagraphSnapshot
from vidaio.transport.client import MinerClient

PATH = "/tasks/upscaling"


def signed(wallet: Any, body: bytes, receiver: str, *, path: str = PATH, nonce_ns: int | None = None,
           method: str = "POST") -> dict[str, str]:
    headers = http_auth.sign(wallet.hotkey, method=method, path=path, body=body, receiver_ss58=receiver,
                             nonce_ns=nonce_ns)
    headers["Content-Type"] = "application/json"
    return headers


async def post(miner: Miner, body: bytes, headers: dict[str, str], path: str = PATH) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.post(miner.url + path, content=body, headers=headers)


def assert_refusal(resp: httpx.Response, status: int, error: str | None = None, reason_part: str = "") -> None:
    assert resp.status_code == status, resp.text
    data = resp.json()
    assert set(data) == {"error", "reason"}
    if error is not None:
        assert data["error"] == error
    assert reason_part.lower() in data["reason"].lower()
    assert "Traceback" not in resp.text and 'File "' not in resp.text


async def test_valid_signed_request_is_served(miner: Miner, wallets: dict[str, Any]) -> None:
    body = upscaling_task("ok1").model_dump_json().encode()
    resp = await post(miner, body, signed(wallets["v_mid"], body, miner.hotkey))
    assert resp.status_code == 200, resp.text
    assert resp.json()["task_id"] == "ok1"
    assert resp.json()["output_url"].endswith("/ok1.mp4")
    assert miner.handler.seen == [("ok1", wallets["v_mid"].hotkey.ss58_address)]


async def test_unsigned_request_is_401(miner: Miner) -> None:
    body = upscaling_task().model_dump_json().encode()
    resp = await post(miner, body, {"Content-Type": "application/json"})
    assert_refusal(resp, 401, "MalformedAuth", "X-Bittensor-Version")
    assert miner.handler.seen == []


async def test_tampered_body_is_401(miner: Miner, wallets: dict[str, Any]) -> None:
    body = upscaling_task("t1").model_dump_json().encode()
    headers = signed(wallets["v_high"], body, miner.hotkey)
    tampered = body.replace(b'"content_length":5', b'"content_length":10')
    assert tampered != body
    assert_refusal(await post(miner, tampered, headers), 401, "BadSignature")
    assert miner.handler.seen == []


async def test_replayed_request_is_401(miner: Miner, wallets: dict[str, Any]) -> None:
    body = upscaling_task("t-replay").model_dump_json().encode()
    headers = signed(wallets["v_high"], body, miner.hotkey)
    first = await post(miner, body, headers)
    assert first.status_code == 200
    assert_refusal(await post(miner, body, headers), 401, "ReplayedRequest")
    assert len(miner.handler.seen) == 1


async def test_stale_nonce_is_401(miner: Miner, wallets: dict[str, Any]) -> None:
    body = upscaling_task().model_dump_json().encode()
    old = time.time_ns() - 30 * 10**9
    assert_refusal(await post(miner, body, signed(wallets["v_high"], body, miner.hotkey, nonce_ns=old)),
                   401, "StaleRequest", "older")
    future = time.time_ns() + 30 * 10**9
    assert_refusal(await post(miner, body, signed(wallets["v_high"], body, miner.hotkey, nonce_ns=future)),
                   401, "StaleRequest", "future")


async def test_request_signed_for_another_receiver_is_401(miner: Miner, wallets: dict[str, Any]) -> None:
    body = upscaling_task().model_dump_json().encode()
    other = wallets["stranger"].hotkey.ss58_address
    assert_refusal(await post(miner, body, signed(wallets["v_high"], body, other)), 401, "WrongReceiver")


async def test_signature_for_another_path_is_401(miner: Miner, wallets: dict[str, Any]) -> None:
    body = upscaling_task().model_dump_json().encode()
    headers = signed(wallets["v_high"], body, miner.hotkey, path="/tasks/compression")
    assert_refusal(await post(miner, body, headers), 401, "BadSignature")


async def test_unknown_hotkey_is_403(miner: Miner, wallets: dict[str, Any]) -> None:
    body = upscaling_task().model_dump_json().encode()
    resp = await post(miner, body, signed(wallets["stranger"], body, miner.hotkey))
    assert_refusal(resp, 403, "forbidden", "not registered")
    assert miner.handler.seen == []


async def test_no_permit_is_403(miner: Miner, wallets: dict[str, Any]) -> None:
    body = upscaling_task().model_dump_json().encode()
    resp = await post(miner, body, signed(wallets["no_permit"], body, miner.hotkey))
    assert_refusal(resp, 403, "forbidden", "no validator permit")


async def test_stake_below_minimum_is_403(miner: Miner, wallets: dict[str, Any]) -> None:
    body = upscaling_task().model_dump_json().encode()
    resp = await post(miner, body, signed(wallets["low_stake"], body, miner.hotkey))
    assert_refusal(resp, 403, "forbidden", "below the minimum")


async def test_oversized_body_is_413(miner: Miner, wallets: dict[str, Any]) -> None:
    body = b'{"pad":"' + b"x" * 8000 + b'"}'  # max_body_bytes is 4096 in these tests
    resp = await post(miner, body, signed(wallets["v_high"], body, miner.hotkey))
    assert_refusal(resp, 413, "body_too_large")

    async def chunks():  # no Content-Length: the cap is enforced while streaming
        for _ in range(10):
            yield b"x" * 1000

    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.post(miner.url + PATH, content=chunks(), headers={"Content-Type": "application/json"})
    assert_refusal(resp, 413, "body_too_large")
    assert miner.handler.seen == []


async def test_malformed_json_is_422_without_traceback(miner: Miner, wallets: dict[str, Any]) -> None:
    for body in (b'{"task_id": "t1", ', b'{"task_id": "t1", "unexpected": 1}', b"[]"):
        resp = await post(miner, body, signed(wallets["v_high"], body, miner.hotkey))
        assert_refusal(resp, 422, "invalid_request")
    bad_version = upscaling_task().model_copy(update={"protocol_version": 99}).model_dump_json().encode()
    resp = await post(miner, bad_version, signed(wallets["v_high"], bad_version, miner.hotkey))
    assert_refusal(resp, 422, "unsupported_protocol", "99")
    assert miner.handler.seen == []


async def test_health_is_unsigned_and_leaks_nothing(miner: Miner) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.get(miner.url + "/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "protocol_version": 1, "metagraph_loaded": True}


async def test_unknown_route_is_json_404(miner: Miner) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.get(miner.url + "/nope")
    assert_refusal(resp, 404, "http_error")


async def test_capabilities_requires_signature(miner: Miner, wallets: dict[str, Any]) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        resp = await http.get(miner.url + "/capabilities")
    assert_refusal(resp, 401, "MalformedAuth")
    async with MinerClient(wallets["v_low"].hotkey) as client:
        res = await client.capabilities(miner.axon, miner.hotkey)
    assert res.kind == "ok", res
    assert res.result is not None and res.result.task_type.value == "upscaling"


async def test_metagraph_unavailable_is_503(wallets: dict[str, Any]) -> None:
    async with start_miner(wallets, None) as m:
        body = upscaling_task().model_dump_json().encode()
        resp = await post(m, body, signed(wallets["v_high"], body, m.hotkey))
        assert_refusal(resp, 503, "metagraph_unavailable")
        assert m.chain.metagraph_calls >= 1


async def test_metagraph_refresh_picks_up_new_stake(wallets: dict[str, Any], snapshot: MetagraphSnapshot) -> None:
    import asyncio

    async with start_miner(wallets, snapshot, metagraph_refresh_s=0.05) as m:
        body = upscaling_task("a").model_dump_json().encode()
        assert (await post(m, body, signed(wallets["low_stake"], body, m.hotkey))).status_code == 403
        raised = tuple(n.model_copy(update={"stake": 10_000.0}) for n in snapshot.neurons)
        m.chain.snapshot = snapshot.model_copy(update={"neurons": raised})
        calls = m.chain.metagraph_calls
        for _ in range(500):  # wait for two background refreshes (0.05 s apart), robust to a loaded machine
            if m.chain.metagraph_calls >= calls + 2:
                break
            await asyncio.sleep(0.01)
        body = upscaling_task("b").model_dump_json().encode()
        assert (await post(m, body, signed(wallets["low_stake"], body, m.hotkey))).status_code == 200
