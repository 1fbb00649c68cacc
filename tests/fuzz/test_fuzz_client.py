"""Fuzzing the validator's side of a task: whatever a miner answers (any status, any bytes, any JSON,
huge bodies, another task's id), `MinerClient.send_task` returns a typed outcome and never raises,
and `answer_failure` names every failed outcome with a bounded reason."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fuzz_support import JSON
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidaio.protocol import CompressionTask, TaskError, TaskResult
from vidaio.transport.client import MinerClient
from vidaio.validator.dispatch import MAX_REASON
from vidaio.validator.judge import answer_failure

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
TASK = CompressionTask(
    task_id="r1-c7", round_id="r1", input_url="http://127.0.0.1:9/in.mp4", vmaf_threshold=85, codec="hevc",
    deadline_s=5,
)  # fmt: skip
GOOD = TaskResult(task_id="r1-c7", output_url="http://127.0.0.1:9/out.mp4", processing_time_s=1.0)


class Scripted:
    """The miner's answer for the current example."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(self.status, content=self.body, headers=self.headers)


@pytest.fixture(scope="module")
def harness(wallets: dict[str, Any]) -> Iterator[tuple[asyncio.AbstractEventLoop, MinerClient, Scripted]]:
    loop = asyncio.new_event_loop()
    script = Scripted()
    client = MinerClient(
        wallets["v_high"].hotkey, transport=httpx.MockTransport(script), max_response_bytes=64 * 1024
    )
    yield loop, client, script
    loop.run_until_complete(client.close())
    loop.close()


def _send(
    harness: tuple[asyncio.AbstractEventLoop, MinerClient, Scripted], status: int, body: bytes, **hdr: str
):
    loop, client, script = harness
    script.status, script.body, script.headers = status, body, hdr
    result = loop.run_until_complete(client.send_task("127.0.0.1:9", "5Fminer", TASK, 5.0))
    failure = answer_failure(result)
    if result.ok:
        assert isinstance(result.result, TaskResult) and result.result.task_id == TASK.task_id
        assert failure is None
    else:
        assert failure is not None and failure[1] and len(failure[1]) <= MAX_REASON
    return result, failure


BODIES = st.one_of(
    st.binary(max_size=3000),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda tid, url: json.dumps({"task_id": tid, "output_url": url, "processing_time_s": 1}).encode(),
        st.text(max_size=20), st.text(max_size=40),
    ),
)  # fmt: skip


@FUZZ
@given(status=st.integers(100, 599), body=BODIES)
def test_any_answer_gives_a_typed_outcome(harness: Any, status: int, body: bytes) -> None:
    result, failure = _send(harness, status, body)
    if status != 200:
        assert result.kind in {"refused", "error"} and not result.ok


def test_garbage_json_wrong_task_id_and_huge_bodies(harness: Any) -> None:
    ok, _ = _send(harness, 200, GOOD.model_dump_json().encode())
    assert ok.kind == "ok"
    bad, why = _send(harness, 200, b'{"task_id": "r1-c7", "output_url": ')
    assert bad.kind == "invalid" and why is not None and why[0] == "bad_response"
    other = GOOD.model_copy(update={"task_id": "r1-c8"}).model_dump_json().encode()
    wrong, why = _send(harness, 200, other)
    assert wrong.kind == "invalid" and why is not None and "'r1-c8'" in why[1]
    huge, why = _send(harness, 200, b" " * (65 * 1024) + GOOD.model_dump_json().encode())
    assert huge.kind == "invalid" and why is not None and "exceeds" in why[1]
    err, why = _send(harness, 200, TaskError(task_id="r1-c7", error="no GPU").model_dump_json().encode())
    assert err.kind == "error" and why == ("miner_error", "miner_error: no GPU")
    gz, why = _send(harness, 200, b"\x1f\x8b" + b"\x00" * 50, **{"content-encoding": "gzip"})
    assert not gz.ok and why is not None
    bomb = gzip.compress(b" " * (20 * 1024 * 1024))  # 20 kB on the wire, 20 MB decoded
    boom, why = _send(harness, 200, bomb, **{"content-encoding": "gzip"})
    assert boom.kind == "invalid" and why is not None and "exceeds 65536 bytes" in why[1]
