"""The miner's HTTP server (FastAPI): btauth verification, admission, stake-ordered queue (docs/protocol.md).

Every endpoint except `/health` requires a btauth/1 signed request bound to this miner's hotkey.
Order of checks, each refusing with a JSON body `{"error", "reason"}` and no stack trace:
body size (413) -> signature, receiver, freshness, replay (401) -> metagraph admission: registered,
validator permit, minimum stake (403) -> body schema and protocol version (422) -> queue (429 when
full, 503 when the wait outlives the task deadline) -> the handler (its TaskResult/TaskError,
504 past the deadline, 500 on a crash).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from loguru import logger
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidaio.chain.port import ChainPort, NeuronInfo
from vidaio.protocol import PROTOCOL_VERSION, CompressionTask, TaskError, TaskResult, UpscalingTask
from vidaio.transport.admission import AdmissionDenied, MetagraphCache, QueueFull, StakeQueue, admit
from vidaio.transport.config import ServerConfig
from vidaio.transport.handler import CallerInfo, TaskHandler
from vidaio.transport.replay import NonceStore, SqliteNonceStore, make_nonce_store
from vidaio.transport.runner import running_app, serve_app

__all__ = ["build_miner_app", "running_app", "serve_app"]

TaskT = TypeVar("TaskT", UpscalingTask, CompressionTask)


class _Refusal(Exception):
    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason


def _error(status: int, error: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": error, "reason": reason}, status_code=status)


def _validation_reason(exc: ValidationError) -> str:
    """Field locations and messages only (never echo the input back)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise _Refusal(400, "bad_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise _Refusal(413, "body_too_large", f"request body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refusal(413, "body_too_large", f"request body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _signed_target(request: Request) -> str:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    target = raw.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


class _Gate:
    """Authentication + admission shared by the endpoints of one app."""

    def __init__(self, hotkey_ss58: str, cfg: ServerConfig, cache: MetagraphCache, store: NonceStore) -> None:
        self.hotkey = hotkey_ss58
        self.cfg = cfg
        self.cache = cache
        self.store = store

    async def check(self, request: Request) -> tuple[bytes, NeuronInfo, int]:
        from bittensor import http_auth

        body = await _read_body(request, self.cfg.max_body_bytes)

        def verify() -> http_auth.Caller:
            return http_auth.verify(
                request.headers,
                body,
                method=request.method,
                path=_signed_target(request),
                self_hotkey_ss58=self.hotkey,
                max_age=self.cfg.auth_max_age_s,
                allowed_skew=self.cfg.auth_allowed_skew_s,
                nonce_store=self.store,
            )

        try:
            caller = await asyncio.to_thread(verify) if isinstance(self.store, SqliteNonceStore) else verify()
        except http_auth.AuthError as exc:
            raise _Refusal(401, type(exc).__name__, str(exc)) from None
        snapshot = self.cache.snapshot
        if snapshot is None:
            raise _Refusal(503, "metagraph_unavailable", "the miner has not loaded the metagraph yet; retry later")
        try:
            neuron = admit(
                snapshot,
                caller.hotkey_ss58,
                min_stake=self.cfg.min_validator_stake,
                require_permit=self.cfg.require_validator_permit,
            )
        except AdmissionDenied as exc:
            raise _Refusal(403, "forbidden", str(exc)) from None
        return body, neuron, caller.nonce_ns


def build_miner_app(
    handler: TaskHandler,
    *,
    hotkey_ss58: str,
    chain: ChainPort,
    cfg: ServerConfig,
    nonce_store: NonceStore | None = None,
) -> FastAPI:
    """The miner's FastAPI app for `hotkey_ss58` (the receiver every request must be signed for)."""
    cache = MetagraphCache(chain, cfg.metagraph_refresh_s)
    store = nonce_store if nonce_store is not None else make_nonce_store(cfg)
    gate = _Gate(hotkey_ss58, cfg, cache, store)
    queue = StakeQueue(cfg.max_concurrency, cfg.max_queue)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await cache.start()
        try:
            yield
        finally:
            await cache.stop()
            if isinstance(store, SqliteNonceStore) and nonce_store is None:
                store.close()

    app = FastAPI(title="vidaio miner", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.queue = queue
    app.state.metagraph_cache = cache

    @app.exception_handler(_Refusal)
    async def _on_refusal(_: Request, exc: _Refusal) -> JSONResponse:
        return _error(exc.status, exc.error, exc.reason)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _on_crash(_: Request, exc: Exception) -> JSONResponse:
        logger.opt(exception=exc).error("miner server: unhandled error")
        return _error(500, "internal_error", "internal error in the miner")

    @app.get("/health")
    async def health() -> dict[str, object]:
        return {"status": "ok", "protocol_version": PROTOCOL_VERSION, "metagraph_loaded": cache.snapshot is not None}

    @app.get("/capabilities")
    async def capabilities(request: Request) -> Response:
        await gate.check(request)
        caps = await handler.capabilities()
        return Response(caps.model_dump_json(), media_type="application/json")

    async def run_task(
        request: Request, model: type[TaskT], work: Callable[[TaskT, CallerInfo], Awaitable[TaskResult | TaskError]]
    ) -> Response:
        body, neuron, nonce = await gate.check(request)
        try:
            task = model.model_validate_json(body)
        except ValidationError as exc:
            raise _Refusal(422, "invalid_request", _validation_reason(exc)) from None
        if task.protocol_version != PROTOCOL_VERSION:
            raise _Refusal(
                422, "unsupported_protocol", f"protocol_version {task.protocol_version} != {PROTOCOL_VERSION}"
            )
        started = time.monotonic()
        wait_s = min(task.deadline_s, cfg.max_queue_wait_s)
        try:
            await asyncio.wait_for(queue.acquire(neuron.stake), wait_s)
        except QueueFull as exc:
            raise _Refusal(429, "queue_full", str(exc)) from None
        except TimeoutError:
            raise _Refusal(503, "queue_timeout", f"no work slot within {wait_s:g}s") from None
        caller = CallerInfo(hotkey=neuron.hotkey, uid=neuron.uid, stake=neuron.stake, nonce_ns=nonce)
        try:
            remaining = max(0.001, task.deadline_s - (time.monotonic() - started))
            out = await asyncio.wait_for(work(task, caller), remaining)
        except TimeoutError:
            out, status = TaskError(task_id=task.task_id, error=f"deadline of {task.deadline_s:g}s exceeded"), 504
        except Exception as exc:
            logger.opt(exception=exc).error("task {} from uid {} crashed in the handler", task.task_id, neuron.uid)
            out, status = TaskError(task_id=task.task_id, error="internal error in the miner"), 500
        else:
            status = 200
            if not isinstance(out, TaskResult | TaskError):
                logger.error("handler returned {} for task {}", type(out).__name__, task.task_id)
                out, status = TaskError(task_id=task.task_id, error="internal error in the miner"), 500
        finally:
            queue.release()
        outcome = "ok" if isinstance(out, TaskResult) else f"error: {out.error}"
        logger.info(
            "task {} ({}) from uid {} stake {:g}: {} in {:.2f}s",
            task.task_id, model.__name__, neuron.uid, neuron.stake, outcome, time.monotonic() - started,
        )
        return Response(_json(out), status_code=status, media_type="application/json")

    @app.post("/tasks/upscaling")
    async def upscaling(request: Request) -> Response:
        return await run_task(request, UpscalingTask, handler.handle_upscaling)

    @app.post("/tasks/compression")
    async def compression(request: Request) -> Response:
        return await run_task(request, CompressionTask, handler.handle_compression)

    return app


def _json(model: BaseModel) -> str:
    return model.model_dump_json()
