"""Fuzzing the miner's HTTP endpoints (a real uvicorn server from `build_miner_app`): random bodies
under a valid signature, mutated tasks, garbage auth headers, random paths and methods, raw bytes on
the socket. Never a 5xx, never a hang (every request has a 10 s timeout), and the server still
answers afterwards.

schemathesis is not used: the miner app serves no OpenAPI schema (`openapi_url=None`, by design: no
endpoint list for strangers) and its handlers read the raw signed body, so a schema would be empty.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fuzz_support import JSON, server_thread, signed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transport_support import RecordingHandler, StaticChain, server_config

from vidaio.chain.port import MetagraphSnapshot
from vidaio.transport.server import build_miner_app

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
OK_STATUSES = {200, 400, 401, 403, 404, 405, 413, 422, 429, 503}
PATHS = ["/tasks/upscaling", "/tasks/compression", "/capabilities", "/health"]

VALID_UPSCALING = {
    "protocol_version": 1, "task_id": "t1", "round_id": "r1", "input_url": "http://127.0.0.1:9/in.mp4",
    "task_type": "SD2HD", "scale": 2, "content_length": 5, "deadline_s": 10.0,
}  # fmt: skip
VALID_COMPRESSION = {
    "protocol_version": 1, "task_id": "t1", "round_id": "r1", "input_url": "http://127.0.0.1:9/in.mp4",
    "vmaf_threshold": 85.0, "codec": "hevc", "deadline_s": 10.0,
}  # fmt: skip


class Client:
    """A signed client for one running miner; counts what it saw."""

    def __init__(self, url: str, keypair: Any, miner_hotkey: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10.0, trust_env=False)
        self.keypair = keypair
        self.miner = miner_hotkey
        self.statuses: dict[int, int] = {}

    def send(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        hdrs = signed(self.keypair, self.miner, method, path, body) if headers is None else headers
        resp = self.http.request(method, path, content=body or None, headers=hdrs)
        self.statuses[resp.status_code] = self.statuses.get(resp.status_code, 0) + 1
        assert resp.status_code < 500, (resp.status_code, resp.text[:300])
        assert resp.status_code in OK_STATUSES, (resp.status_code, resp.text[:300])
        if resp.status_code != 200 and method != "HEAD":
            data = resp.json()  # every refusal is JSON with a reason, never a stack trace
            assert isinstance(data, dict) and ("reason" in data or "detail" in data), data
            assert "Traceback" not in resp.text
        return resp


@pytest.fixture(scope="module")
def client(wallets: dict[str, Any], snapshot: MetagraphSnapshot) -> Iterator[Client]:
    miner_hotkey = wallets["miner"].hotkey.ss58_address
    app = build_miner_app(
        RecordingHandler(), hotkey_ss58=miner_hotkey, chain=StaticChain(snapshot, miner_hotkey),
        cfg=server_config(max_body_bytes=4096, max_concurrency=8, max_queue=64),
    )  # fmt: skip
    with server_thread(app) as url:
        c = Client(url, wallets["v_high"].hotkey, miner_hotkey)
        yield c
        assert c.http.get("/health").json()["status"] == "ok"  # still serving after everything
        if (
            len(c.statuses) > 1
        ):  # the whole module ran: the fuzz reached the auth gate, the schema and the handler
            assert {200, 401, 422} <= set(c.statuses), c.statuses
        c.http.close()


@FUZZ
@given(body=st.one_of(st.binary(max_size=6000), JSON.map(lambda v: json.dumps(v).encode())))
def test_signed_random_bodies_never_5xx(client: Client, body: bytes) -> None:
    for path in PATHS[:2]:
        resp = client.send("POST", path, body)
        assert resp.status_code in {200, 413, 422}, resp.text[:200]


def _mutations(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from([*base, "extra_field"])
    edit = st.tuples(keys, st.one_of(JSON, st.just("__delete__")))
    return st.lists(edit, min_size=1, max_size=4).map(
        lambda edits: {k: v for k, v in {**base, **dict(edits)}.items() if v != "__delete__"}
    )


@FUZZ
@given(up=_mutations(VALID_UPSCALING), comp=_mutations(VALID_COMPRESSION))
def test_mutated_tasks_are_accepted_or_refused_by_schema(client: Client, up: dict, comp: dict) -> None:
    for path, task in (("/tasks/upscaling", up), ("/tasks/compression", comp)):
        resp = client.send("POST", path, json.dumps(task).encode())
        assert resp.status_code in {200, 413, 422}, resp.text[:200]
        if resp.status_code == 200:  # only a schema-valid task reaches the handler
            assert resp.json()["task_id"] == task["task_id"]


HEADER_NAMES = st.sampled_from(
    ["X-Bittensor-Version", "X-Bittensor-Hotkey", "X-Bittensor-Receiver", "X-Bittensor-Nonce",
     "X-Bittensor-Signature", "X-Bittensor-Crypto", "Content-Length", "Content-Type"]
)  # fmt: skip
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
    str.strip
)


@FUZZ
@given(
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=8),
    path=st.sampled_from(PATHS[:3]),
    body=st.binary(max_size=300),
)
def test_garbage_auth_headers_are_refused_not_crashed(
    client: Client, headers: dict, path: str, body: bytes
) -> None:
    headers = {k: v for k, v in headers.items() if k != "Content-Length"}  # httpx sets the real one
    method = "GET" if path == "/capabilities" else "POST"
    resp = client.send(method, path, body, headers=headers)
    assert resp.status_code in {400, 401, 403, 413}, resp.text[:200]


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=st.one_of(
        st.sampled_from(PATHS), st.text(alphabet="abcdefghijklmnopqrstuvwxyz/._-%0123456789", max_size=40)
    ),
)
def test_random_paths_and_methods(client: Client, method: str, path: str) -> None:
    path = "/" + path.lstrip("/")
    client.send(method, path, b"", headers={})


@FUZZ
@given(raw=st.binary(min_size=1, max_size=2000))
def test_raw_bytes_on_the_socket(client: Client, raw: bytes) -> None:
    host, port = client.http.base_url.host, client.http.base_url.port
    assert port is not None
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # the server may drop a connection that is not HTTP
    if data:
        status_line = data.split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        assert not status_line.startswith(b"HTTP/1.1 5"), status_line
