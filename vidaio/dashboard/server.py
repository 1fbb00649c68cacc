"""Run the dashboard: check the settings, open the DB read-only, serve with uvicorn, announce the URL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import uvicorn
from loguru import logger

from vidaio.dashboard.app import create_app
from vidaio.dashboard.config import LOOPBACK_HOSTS, DashboardConfig
from vidaio.dashboard.data import DashboardData


class DashboardError(RuntimeError):
    """The dashboard cannot start; the message says what to fix."""


def check_exposure(cfg: DashboardConfig) -> None:
    """Binding beyond loopback without a token would publish the validator's data: refuse it."""
    s = cfg.dashboard
    if s.host not in LOOPBACK_HOSTS and not s.token.get_secret_value():
        raise DashboardError(
            f"dashboard.host={s.host} is not loopback: set VIDAIO_DASHBOARD__TOKEN (bearer token) first, "
            "or keep the default 127.0.0.1"
        )


def url_of(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/"


async def serve_dashboard(cfg: DashboardConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until cancelled or SIGINT/SIGTERM (uvicorn's handlers); `on_ready(url)` once listening."""
    check_exposure(cfg)
    try:
        data = DashboardData(cfg.db.path, busy_timeout_ms=cfg.db.read_busy_timeout_ms)
    except Exception as exc:
        raise DashboardError(str(exc)) from None
    s = cfg.dashboard
    server = uvicorn.Server(
        uvicorn.Config(create_app(data, s), host=s.host, port=s.port, log_level="warning", access_log=False,
                       server_header=False, lifespan="off")  # fmt: skip
    )
    task = asyncio.create_task(server.serve(), name="dashboard-http")
    try:
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if task.done():
            exc = task.exception()
            raise DashboardError(f"dashboard could not listen on {s.host}:{s.port}: {exc or 'bind failed'}")
        port = next((int(sock.getsockname()[1]) for srv in server.servers for sock in srv.sockets), s.port)
        url = url_of(s.host, port)
        logger.info("dashboard on {} (database {}, read-only)", url, cfg.db.path)
        if on_ready is not None:
            on_ready(url)
        await task
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        raise DashboardError(f"dashboard could not listen on {s.host}:{s.port} (exit {exc.code})") from None
    finally:
        if not task.done():
            server.should_exit = True
            await asyncio.wait({task}, timeout=5)
        data.close()
