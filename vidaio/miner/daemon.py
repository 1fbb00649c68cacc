"""Build and run the miner daemon: wallet, chain, storage, engines, worker pool, signed HTTP server.

Start-up checks fail fast with one clear reason (`MinerStartupError`): wallet readable, hotkey
registered, bucket usable, engine loadable. Then the server listens, the miner's address is
served on the chain and the bucket cleanup runs on a timer. SIGINT/SIGTERM: the server stops
accepting, in-flight tasks get `miner.shutdown_grace_s` to finish, the rest are abandoned (their
processes stopped, temp files removed), logs are flushed and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from loguru import logger

from vidaio.chain.factory import make_chain
from vidaio.chain.port import ChainPort
from vidaio.chain.wallets import WalletError, load_wallet
from vidaio.executor.base import MinerExecutor
from vidaio.executor.factory import ExecutorStartupError, build_miner_executor
from vidaio.miner.config import MinerConfig, load_miner_config
from vidaio.miner.handler import MinerHandler, purge_stale_task_dirs
from vidaio.settings_load import run_daemon
from vidaio.storage.errors import StorageError
from vidaio.storage.s3 import S3Store
from vidaio.targets import chain_target
from vidaio.telemetry.config import MINER_DEFAULT_PORT
from vidaio.telemetry.exporter import serve_metrics
from vidaio.transport.config import ServerConfig
from vidaio.transport.server import build_miner_app

SERVE_ATTEMPTS = 3
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class MinerStartupError(RuntimeError):
    """The miner cannot start; the message says what to fix."""


def software_version() -> str:
    try:
        return version("vidaio-subnet")
    except PackageNotFoundError:
        return "0.0.0"


def outbound_ip() -> str:
    """The local address of the default route (a UDP connect sends nothing); 127.0.0.1 if none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("8.8.8.8", 80))
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def published_address(server: ServerConfig, bound_port: int) -> tuple[str, int]:
    """The ip:port served on chain: external_ip/external_port if set, else the bound host/port."""
    port = server.external_port or bound_port
    if server.external_ip:
        return server.external_ip, port
    if server.host not in _WILDCARD_HOSTS:
        return server.host, port
    return outbound_ip(), port


@dataclass
class MinerRuntime:
    """A built miner, ready to serve."""

    cfg: MinerConfig
    hotkey: str
    chain: ChainPort
    storage: S3Store
    pool: MinerExecutor  # the executor of engine jobs (local worker pool or Ray)
    handler: MinerHandler
    app: FastAPI
    resources: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _cleanup_stop: asyncio.Event = field(default_factory=asyncio.Event)
    _cleanup_task: asyncio.Task[None] | None = None

    def start_cleanup(self) -> None:
        """Delete this miner's objects older than storage.retention_s on a timer."""
        interval = self.cfg.miner.cleanup_interval_s
        if interval is None:
            interval = float(self.cfg.storage.cleanup_interval_s)
        if interval <= 0:
            logger.info("bucket cleanup disabled (miner.cleanup_interval_s=0)")
            return
        self._cleanup_task = asyncio.create_task(
            self.storage.cleanup_loop(self._cleanup_stop, prefix=f"{self.hotkey}/", interval_s=interval),
            name="bucket-cleanup",
        )

    async def close(self) -> None:
        """Abandon what still runs, wait for the worker threads, stop timers, release clients."""
        abandoned = await self.pool.shutdown(grace_s=0.0)
        self._cleanup_stop.set()
        if self._cleanup_task is not None:
            try:
                await asyncio.wait_for(self._cleanup_task, 5.0)
            except (TimeoutError, asyncio.CancelledError):
                logger.warning("bucket cleanup pass interrupted by shutdown")
            except Exception as exc:
                logger.error("bucket cleanup loop failed: {}", exc)
        await self.resources.aclose()  # chain and storage clients, in reverse order of opening
        logger.info("miner stopped ({} job(s) abandoned)", abandoned)


def _quietly(close: Callable[[], object]) -> Callable[[], Awaitable[None]]:
    """A teardown step whose failure is logged at DEBUG, never raised (teardown must finish)."""

    async def run() -> None:
        try:
            result = close()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            logger.debug("teardown step {} failed: {}", getattr(close, "__qualname__", close), exc)

    return run


async def build_miner(cfg: MinerConfig) -> MinerRuntime:
    """Check and assemble everything the miner needs; MinerStartupError says what is wrong."""
    s = cfg.miner
    try:
        wallet = load_wallet(cfg.wallet)
    except WalletError as exc:
        raise MinerStartupError(str(exc)) from None
    hotkey = wallet.hotkey.ss58_address
    resources = contextlib.AsyncExitStack()
    try:
        chain = make_chain(cfg.chain, wallet)
        resources.push_async_callback(_quietly(chain.close))
        try:
            registered = await chain.is_registered(hotkey)
        except Exception as exc:
            raise MinerStartupError(
                f"cannot read the chain at {chain_target(cfg.chain)}: {exc} (fix: check chain.network and that the "
                "endpoint is reachable from this host)"
            ) from None
        if not registered:
            raise MinerStartupError(
                f"hotkey {hotkey} is not registered on {chain_target(cfg.chain)}: register it first "
                "(btcli subnet register, or `vidaio localnet register` on a local subnet)"
            )
        storage = S3Store(cfg.storage)
        resources.push_async_callback(_quietly(storage.close))
        try:
            await storage.ensure_bucket()
        except StorageError as exc:
            raise MinerStartupError(f"storage is not usable: {exc}") from None
        try:
            pool = await build_miner_executor(cfg, storage)
        except ExecutorStartupError as exc:
            raise MinerStartupError(str(exc)) from None
        work_dir = Path(s.work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        stale = purge_stale_task_dirs(work_dir)
        if stale:
            logger.warning("removed {} task directories left in {} by a previous run", stale, work_dir)
        handler = MinerHandler(
            settings=s, hotkey=hotkey, storage=storage, executor=pool, software_version=software_version()
        )
        app = build_miner_app(handler, hotkey_ss58=hotkey, chain=chain, cfg=cfg.server)
        handler.metrics.watch_server(app, pool)  # queue depth, jobs in flight, admission refusals
    except BaseException:
        await resources.aclose()
        raise
    return MinerRuntime(cfg, hotkey, chain, storage, pool, handler, app, resources)


async def _publish(chain: ChainPort, ip: str, port: int) -> None:
    delay = 1.0
    for attempt in range(1, SERVE_ATTEMPTS + 1):
        try:
            await chain.serve(ip, port)
            logger.info("served axon {}:{} on netuid {}", ip, port, chain.netuid)
            return
        except Exception as exc:
            if attempt == SERVE_ATTEMPTS:
                logger.error("could not serve axon {}:{} on chain ({}); validators may not find this miner", ip, port, exc)
                return
            logger.warning("serving axon {}:{} failed (attempt {}), retry in {:.0f}s: {}", ip, port, attempt, delay, exc)
            await asyncio.sleep(delay)
            delay *= 2


class _Server(uvicorn.Server):
    """uvicorn without its own SIGINT/SIGTERM capture: the daemon's handlers stay in charge, so the
    shutdown is logged when the signal arrives and a second signal can force it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _guarded_serve(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits when it cannot bind or the app's start-up fails
        cfg = server.config
        raise MinerStartupError(f"HTTP server could not start on {cfg.host}:{cfg.port} (exit {exc.code})") from None


def _bound_port(server: uvicorn.Server, fallback: int) -> int:
    for srv in getattr(server, "servers", None) or []:
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    return fallback


class StopSignal:
    """Set by SIGINT/SIGTERM (or by a caller): stop gracefully; a second signal forces the stop."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.force = asyncio.Event()

    def request(self) -> None:
        (self.force if self.stop.is_set() else self.stop).set()


async def serve_miner(rt: MinerRuntime, signals: StopSignal) -> None:
    """Listen, publish the address, run the cleanup timer; return after a graceful stop."""
    cfg = rt.cfg
    grace = cfg.miner.shutdown_grace_s
    server = _Server(
        uvicorn.Config(
            rt.app, host=cfg.server.host, port=cfg.server.port, log_level="warning", access_log=False,
            lifespan="on", timeout_graceful_shutdown=max(grace, 0.1), server_header=False,  # type: ignore[arg-type]
        )
    )  # fmt: skip
    serve_task = asyncio.create_task(_guarded_serve(server), name="miner-http")
    stop_wait = asyncio.create_task(signals.stop.wait(), name="miner-stop")
    force_wait = asyncio.create_task(signals.force.wait(), name="miner-force")
    try:
        while not server.started and not serve_task.done() and not signals.stop.is_set():
            await asyncio.sleep(0.02)
        if server.started:
            port = _bound_port(server, cfg.server.port)
            ip, served_port = published_address(cfg.server, port)
            caps = await rt.handler.capabilities()
            logger.info(
                "miner {} listening on {}:{}, capabilities {}", rt.hotkey, cfg.server.host, port,
                caps.model_dump_json(exclude={"protocol_version"}),
            )  # fmt: skip
            await _publish(rt.chain, ip, served_port)
            rt.start_cleanup()
        await asyncio.wait({serve_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not serve_task.done():
            logger.info("stopping: no new tasks; in-flight tasks ({} engine jobs) get {:g}s", rt.pool.active, grace)
            server.should_exit = True
            await asyncio.wait({serve_task, force_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not serve_task.done():
                logger.warning("second signal: abandoning in-flight tasks now")
                server.force_exit = True
                await asyncio.wait({serve_task}, timeout=grace + 15)
        if serve_task.done():
            serve_task.result()
    finally:
        stop_wait.cancel()
        force_wait.cancel()
        if not serve_task.done():
            server.force_exit = True
            serve_task.cancel()
            with contextlib.suppress(BaseException):
                await serve_task


@contextlib.contextmanager
def _signals_to(signals: StopSignal) -> Iterator[None]:
    """SIGINT/SIGTERM request a stop (the second one forces it) while the miner runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()

    def on_loop(signum: int) -> None:
        logger.info("received {}", signal.Signals(signum).name)
        signals.request()

    def on_signal(signum: int, _frame: Any) -> None:  # no logging here: loguru's lock may be held
        loop.call_soon_threadsafe(on_loop, signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def run_miner(cfg: MinerConfig, signals: StopSignal | None = None) -> None:
    """Build the miner and serve until SIGINT/SIGTERM (or `signals.request()`); always tears down."""
    signals = signals or StopSignal()
    with _signals_to(signals):
        rt = await build_miner(cfg)
        try:
            with serve_metrics(cfg.prometheus, rt.handler.metrics.registry, daemon="miner",
                               default_port=MINER_DEFAULT_PORT, error=MinerStartupError):  # fmt: skip
                await serve_miner(rt, signals)
        finally:
            await rt.close()


def main(env_file: Path | None = None, overrides: dict[str, Any] | None = None) -> int:
    """Load the config, set up logging, run; the process exit code (0 also after SIGINT/SIGTERM)."""
    return run_daemon("miner", lambda: load_miner_config(env_file, overrides), run_miner, MinerStartupError)
