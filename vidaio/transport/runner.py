"""Run an ASGI app with uvicorn inside the current event loop, with a graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from loguru import logger


@dataclass(frozen=True)
class RunningServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _server(app: FastAPI, host: str, port: int, graceful_s: float) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(graceful_s)),
        server_header=False,
    )
    return uvicorn.Server(config)


async def _serve_guarded(server: uvicorn.Server) -> None:
    """uvicorn calls sys.exit() when it cannot bind or the lifespan startup fails: make it an error."""
    try:
        await server.serve()
    except SystemExit as exc:
        cfg = server.config
        raise RuntimeError(f"uvicorn could not start on {cfg.host}:{cfg.port} (exit {exc.code})") from None


def _bound_port(server: uvicorn.Server, fallback: int) -> int:
    for srv in getattr(server, "servers", []) or []:
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    return fallback


async def serve_app(
    app: FastAPI, host: str, port: int, *, stop: asyncio.Event | None = None, graceful_s: float = 10.0
) -> None:
    """Serve until `stop` is set, the task is cancelled or uvicorn gets SIGINT/SIGTERM; then drain.

    In-flight requests get up to `graceful_s` to finish; the app's lifespan shutdown always runs.
    """
    server = _server(app, host, port, graceful_s)
    serve_task = asyncio.create_task(_serve_guarded(server), name=f"uvicorn:{host}:{port}")
    stop_wait = asyncio.create_task(stop.wait()) if stop is not None else None
    waiters: set[asyncio.Task[object]] = {serve_task} | ({stop_wait} if stop_wait else set())  # type: ignore[arg-type]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        server.should_exit = True
        await asyncio.wait({serve_task}, timeout=graceful_s + 5)
        raise
    finally:
        if stop_wait is not None:
            stop_wait.cancel()
    if not serve_task.done():
        server.should_exit = True
        await asyncio.wait({serve_task}, timeout=graceful_s + 5)
    if serve_task.done():
        serve_task.result()


@contextlib.asynccontextmanager
async def running_app(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, graceful_s: float = 5.0, start_timeout_s: float = 15.0
) -> AsyncIterator[RunningServer]:
    """Start `app` (port 0: a free port), yield where it listens once it accepts connections, stop it."""
    server = _server(app, host, port, graceful_s)
    serve_task = asyncio.create_task(_serve_guarded(server), name=f"uvicorn:{host}:{port}")
    try:
        deadline = asyncio.get_running_loop().time() + start_timeout_s
        while not server.started:
            if serve_task.done():
                serve_task.result()  # raises the start-up error
                raise RuntimeError(f"uvicorn exited during start-up on {host}:{port}")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"uvicorn did not start within {start_timeout_s}s on {host}:{port}")
            await asyncio.sleep(0.01)
        running = RunningServer(host, _bound_port(server, port))
        logger.debug("uvicorn listening on {}", running.url)
        yield running
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(serve_task, graceful_s + 5)
        except Exception as exc:  # already reported at start-up, or a slow drain
            logger.debug("uvicorn stop: {!r}", exc)
