"""The validator's HTTP client: btauth-signed requests to miners, typed outcomes, never raises.

Signs with the hotkey *keypair* (`wallet.hotkey`), never the Wallet object: `sign(wallet)` reloads
the keyfile on every call (10-23 ms) where `sign(keypair)` costs ~0.05 ms (docs/protocol.md#signing).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any, Literal

import httpx
from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError

from vidaio.protocol import (
    Capabilities,
    CompressionTask,
    TaskError,
    TaskResult,
    UpscalingTask,
    parse_task_response,
    task_path,
    task_type_of,
)

DispatchKind = Literal["ok", "timeout", "refused", "invalid", "error"]


class DispatchResult(BaseModel):
    """Outcome of one request to a miner.

    kind: "ok" (a TaskResult / Capabilities for this request), "timeout" (deadline passed),
    "refused" (the miner answered non-200: status_code + reason), "invalid" (unparseable, too
    large, or for another task_id), "error" (a TaskError from the miner, or a connection failure).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    kind: DispatchKind
    result: TaskResult | TaskError | Capabilities | None = None
    status_code: int | None = None
    reason: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def axon_base_url(axon: str) -> str:
    """`http://ip:port` for an axon "ip:port" / "[v6]:port"; ValueError when malformed."""
    host, sep, port = axon.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"malformed axon address {axon!r} (expected ip:port)")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        raise ValueError(f"malformed axon address {axon!r}: {bare!r} is not an IP address") from None
    return f"http://[{ip}]:{port}" if ip.version == 6 else f"http://{ip}:{port}"


def _reason(response_body: bytes, limit: int = 300) -> str:
    import json

    try:
        data = json.loads(response_body)
    except ValueError:
        return response_body[:limit].decode("utf-8", "replace")
    if isinstance(data, dict):
        for key in ("reason", "error", "detail"):
            if isinstance(data.get(key), str):
                return data[key][:limit]
    return str(data)[:limit]


class MinerClient:
    """Pooled, concurrency-capped, signed HTTP to miners. Use as an async context manager or close()."""

    def __init__(
        self,
        keypair: Any,
        *,
        max_concurrency: int = 32,
        connect_timeout_s: float = 3.0,
        max_response_bytes: int = 256 * 1024,
        max_connections: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if type(keypair).__name__ == "Wallet":
            raise TypeError("MinerClient needs wallet.hotkey (a Keypair), not the Wallet: sign(wallet) is 20 ms")
        self._keypair = keypair
        self._connect_timeout = connect_timeout_s
        self._max_response_bytes = max_response_bytes
        self._sem = asyncio.Semaphore(max_concurrency)
        self._http = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    @property
    def hotkey(self) -> str:
        return self._keypair.ss58_address

    async def __aenter__(self) -> MinerClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(
        self, method: str, axon: str, path: str, miner_hotkey: str, body: bytes, deadline_s: float
    ) -> tuple[int, bytes, float] | DispatchResult:
        """Send one signed request: (status, body, elapsed_s) or a DispatchResult for transport failures.

        Waiting for a local concurrency slot is not charged to the miner: the deadline clock and the
        signature's nonce both start once the slot is held (a nonce signed earlier could go stale).
        """
        from bittensor import http_auth

        try:
            url = axon_base_url(axon) + path
        except ValueError as exc:
            return DispatchResult(kind="error", reason=str(exc))
        timeout = httpx.Timeout(deadline_s, connect=min(self._connect_timeout, deadline_s))

        async def send(headers: dict[str, str]) -> tuple[int, bytes]:
            req = self._http.build_request(method, url, content=body if body else None, headers=headers, timeout=timeout)
            resp = await self._http.send(req, stream=True)
            try:
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():  # decoded: the cap also bounds decompression
                    size += len(chunk)
                    if size > self._max_response_bytes:
                        raise _TooLarge(resp.status_code)
                    chunks.append(chunk)
                return resp.status_code, b"".join(chunks)
            finally:
                await resp.aclose()

        async with self._sem:
            started = time.monotonic()
            try:
                headers = http_auth.sign(self._keypair, method=method, path=path, body=body, receiver_ss58=miner_hotkey)
                headers["Content-Type"] = "application/json"
                status, raw = await asyncio.wait_for(send(headers), deadline_s)
                return status, raw, _since(started)
            except (TimeoutError, httpx.TimeoutException):
                return DispatchResult(kind="timeout", reason=f"no answer within {deadline_s:g}s", elapsed_s=_since(started))
            except _TooLarge as exc:
                return DispatchResult(
                    kind="invalid", status_code=exc.status, elapsed_s=_since(started),
                    reason=f"response exceeds {self._max_response_bytes} bytes",
                )
            except httpx.HTTPError as exc:
                return DispatchResult(kind="error", reason=f"{type(exc).__name__}: {exc}"[:300], elapsed_s=_since(started))

    async def capabilities(self, axon: str, hotkey: str, deadline_s: float = 5.0) -> DispatchResult:
        got = await self._request("GET", axon, "/capabilities", hotkey, b"", deadline_s)
        if isinstance(got, DispatchResult):
            return got
        status, body, elapsed = got
        if status != 200:
            return DispatchResult(kind="refused", status_code=status, reason=_reason(body), elapsed_s=elapsed)
        try:
            caps = Capabilities.model_validate_json(body)
        except ValidationError as exc:
            return DispatchResult(
                kind="invalid", status_code=status, reason=f"bad capabilities: {exc.error_count()} error(s)",
                elapsed_s=elapsed,
            )
        return DispatchResult(kind="ok", result=caps, status_code=status, elapsed_s=elapsed)

    async def send_task(
        self, axon: str, miner_hotkey: str, task: UpscalingTask | CompressionTask, deadline_s: float
    ) -> DispatchResult:
        """POST the task to the miner's endpoint and classify the answer (never raises).

        `deadline_s` bounds the request once it holds a concurrency slot; `elapsed_s` is the miner's time.
        """
        body = task.model_dump_json().encode()
        got = await self._request("POST", axon, task_path(task_type_of(task)), miner_hotkey, body, deadline_s)
        if isinstance(got, DispatchResult):
            logger.debug("task {} -> {}: {} ({})", task.task_id, axon, got.kind, got.reason)
            return got
        status, raw, elapsed = got
        parsed: TaskResult | TaskError | None
        try:
            parsed = parse_task_response(raw)
        except ValidationError:
            parsed = None
        if status != 200:
            reason = parsed.error if isinstance(parsed, TaskError) else _reason(raw)
            return DispatchResult(kind="refused", status_code=status, reason=reason, result=parsed, elapsed_s=elapsed)
        if parsed is None:
            return DispatchResult(kind="invalid", status_code=status, reason="response is not a TaskResult/TaskError",
                                  elapsed_s=elapsed)
        if parsed.task_id != task.task_id:
            return DispatchResult(
                kind="invalid", status_code=status, elapsed_s=elapsed,
                reason=f"response is for task {parsed.task_id!r}, not {task.task_id!r}",
            )
        if isinstance(parsed, TaskError):
            return DispatchResult(kind="error", status_code=status, result=parsed, reason=parsed.error,
                                  elapsed_s=elapsed)
        return DispatchResult(kind="ok", status_code=status, result=parsed, elapsed_s=elapsed)


class _TooLarge(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _since(t0: float) -> float:
    return round(time.monotonic() - t0, 6)
