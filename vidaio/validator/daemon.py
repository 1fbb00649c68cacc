"""Build and run the validator daemon: wallet, chain, DB, storage, synthesis, scoring pool, the loop.

Start-up checks fail fast with one clear reason (`ValidatorStartupError`): wallet readable, hotkey
registered, database openable, bucket usable, PIE-APP weights present when upscaling is scored
(random weights only in an explicitly flagged demo/test run). Rounds left "running" by a killed
process are closed as interrupted. SIGINT/SIGTERM: the running round gets
`validator.shutdown_grace_s` to finish, else it is abandoned and closed as interrupted; inputs are
deleted, logs flushed, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import shutil
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from scoring.metrics.config import MetricsConfig
from services.synthesis import CompressionRecipe, TaskFactory, build_factory
from vidaio.chain.factory import make_chain
from vidaio.chain.port import ChainPort
from vidaio.chain.wallets import WalletError, load_wallet
from vidaio.db.repository import Repository
from vidaio.executor.base import ScoringExecutor
from vidaio.executor.factory import ExecutorStartupError, build_scoring_executor
from vidaio.fetch import FetchConfig, fetch
from vidaio.settings_load import run_daemon
from vidaio.storage.errors import StorageError
from vidaio.storage.s3 import S3Store
from vidaio.targets import chain_target
from vidaio.telemetry.config import VALIDATOR_DEFAULT_PORT
from vidaio.telemetry.exporter import serve_metrics
from vidaio.telemetry.validator import MeteredPool, MeteredRepository, ValidatorMetrics
from vidaio.transport.client import MinerClient
from vidaio.validator.config import (
    ConfigError,
    ValidatorConfig,
    load_validator_config,
    resolve_secret,
    secret_path,
)
from vidaio.validator.judge import Judge
from vidaio.validator.kinds import ScoringContext
from vidaio.validator.loop import RoundRunner, RoundStats, ValidatorLoop
from vidaio.validator.roster import CapabilityCache
from vidaio.validator.tasks import TaskBuilder
from vidaio.validator.weights import WeightSetter


class ValidatorStartupError(RuntimeError):
    """The validator cannot start; the message says what to fix."""


def sync_fetch(cfg: FetchConfig) -> Callable[[str, Path], object]:
    """The safe fetcher for synthesis threads (source=urls), which have no event loop."""

    def _fetch(url: str, dest: Path) -> object:
        return asyncio.run(fetch(url, dest, cfg=cfg))

    return _fetch


def check_pieapp(metrics: MetricsConfig) -> None:
    """Raise ValidatorStartupError when PIE-APP weights are missing and random weights are not allowed."""
    from scoring.metrics.pieapp_backends import PieAppWeightsError, find_weights

    try:
        path = find_weights(
            metrics.pieapp_backend, metrics.pieapp_weights_path, allow_random=metrics.allow_random_weights
        )
    except PieAppWeightsError as exc:
        raise ValidatorStartupError(f"cannot score upscaling: {exc}") from None
    if path is None:
        logger.warning("PIE-APP runs with RANDOM weights (demo/test run): upscaling scores are labelled as such")


@dataclass
class ValidatorRuntime:
    """A built validator, ready to run rounds."""

    cfg: ValidatorConfig
    hotkey: str
    chain: ChainPort
    repo: Repository
    store: S3Store
    factory: TaskFactory
    pool: ScoringExecutor
    client: MinerClient
    runner: RoundRunner
    resources: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def close(self) -> None:
        """Release everything in reverse order of opening: runner, client, pool, factory, storage, DB, chain."""
        await self.resources.aclose()


def _quietly(close: Callable[[], object], *, in_thread: bool = False) -> Callable[[], Awaitable[None]]:
    """A teardown step whose failure is logged at DEBUG, never raised (teardown must finish)."""

    async def run() -> None:
        try:
            result = await asyncio.to_thread(close) if in_thread else close()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            logger.debug("teardown step {} failed: {}", getattr(close, "__qualname__", close), exc)

    return run


def check_db_dir(db_path: Path, *, init: bool) -> None:
    """A DB path whose directory does not exist is a typo until proven otherwise (`--init` creates it)."""
    path = db_path.expanduser()
    if not path.parent.is_dir() and not init:
        raise ValidatorStartupError(
            f"the directory {path.parent} of db.path {path} does not exist: fix VIDAIO_DB__PATH, or create the "
            f"database with `vidaio db upgrade --db {path}` (or start once with `vidaio validator run --init`)"
        )


def _purge_work_dir(work_dir: Path) -> int:
    """Remove downloads left by a previous process (start-up only)."""
    if not work_dir.is_dir():
        return 0
    left = list(work_dir.iterdir())
    for p in left:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(left)


async def _purge_inputs(store: S3Store, hotkey: str) -> None:
    """Delete task inputs a previous process left in the bucket (killed mid-round); none is in use now."""
    try:
        left = [o.key async for o in store.iter_objects(prefix=f"{hotkey}/")]
        if left:
            await store.delete_many(left)
            logger.warning("deleted {} task input(s) left in the bucket by a previous run", len(left))
    except StorageError as exc:
        logger.error("could not clean up old task inputs: {}", exc)


async def build_validator(cfg: ValidatorConfig, *, init: bool = False) -> ValidatorRuntime:
    """Check and assemble everything the validator needs; ValidatorStartupError says what is wrong.

    `init`: create the database directory when it does not exist (otherwise that is an error).
    """
    s = cfg.validator
    try:
        wallet = load_wallet(cfg.wallet)
    except WalletError as exc:
        raise ValidatorStartupError(str(exc)) from None
    hotkey = wallet.hotkey.ss58_address
    check_db_dir(cfg.db.path, init=init)
    new_secret = not s.secret.get_secret_value().strip() and not secret_path(cfg.db).is_file()
    try:
        secret = resolve_secret(s, cfg.db)
    except (ConfigError, OSError) as exc:
        raise ValidatorStartupError(f"sampling secret: {exc}") from None
    if new_secret:
        logger.warning(
            "created a NEW sampling secret at {}: expected on a first start only; if this validator ran before, "
            "db.path points to the wrong place (the old secret and history are next to the old database)",
            secret_path(cfg.db),
        )
    metrics = cfg.effective_metrics()
    if s.upscaling_types:
        await asyncio.to_thread(check_pieapp, metrics)
    resources = contextlib.AsyncExitStack()
    try:
        chain = make_chain(cfg.chain, wallet)
        resources.push_async_callback(_quietly(chain.close))
        try:
            snapshot = await chain.metagraph()
        except Exception as exc:
            raise ValidatorStartupError(
                f"cannot read the chain at {chain_target(cfg.chain)}: {exc} (fix: check chain.network and that the "
                "endpoint is reachable from this host)"
            ) from None
        me = snapshot.by_hotkey(hotkey)
        if me is None:
            raise ValidatorStartupError(
                f"hotkey {hotkey} is not registered on netuid {chain.netuid} ({chain_target(cfg.chain)}): "
                "register it first"
            )
        if not me.validator_permit:
            logger.warning("uid {} has no validator permit: miners may refuse its tasks and weights will fail", me.uid)
        try:
            repo = await asyncio.to_thread(Repository.open, cfg.db, cfg.scoring)
        except Exception as exc:
            raise ValidatorStartupError(f"cannot open the database {cfg.db.path}: {exc}") from None
        resources.push_async_callback(_quietly(repo.close))
        repo = MeteredRepository(repo, ValidatorMetrics())  # type: ignore[assignment]  # metrics on DB writes
        await asyncio.to_thread(repo.close_interrupted_rounds)
        await asyncio.to_thread(repo.prune)
        store = S3Store(cfg.storage)
        resources.push_async_callback(_quietly(store.close))
        try:
            await store.ensure_bucket()
        except StorageError as exc:
            raise ValidatorStartupError(f"storage is not usable: {exc}") from None
        await _purge_inputs(store, hotkey)
        work_dir = s.work_dir.expanduser()
        work_dir.mkdir(parents=True, exist_ok=True)
        if (left := _purge_work_dir(work_dir)) > 0:
            logger.warning("removed {} download(s) left in {} by a previous run", left, work_dir)
        recipes = []
        if s.compression_codecs:
            recipes.append(CompressionRecipe(s.clip_size(), s.compression_seconds, cfg.synthesis.fps))
        factory = build_factory(cfg.synthesis, recipes=recipes, fetch=sync_fetch(cfg.fetch)).start()
        resources.push_async_callback(_quietly(factory.close, in_thread=True))
        try:
            pool = await build_scoring_executor(s, cfg.ray, secret, cfg.scoring, metrics, log_level=cfg.log.level)
        except ExecutorStartupError as exc:
            raise ValidatorStartupError(f"scoring executor cannot start: {exc}") from None
        resources.push_async_callback(_quietly(lambda: pool.close(wait=False)))
        client = MinerClient(wallet.hotkey, max_concurrency=s.dispatch_concurrency,
                             max_connections=min(1024, s.dispatch_concurrency))  # fmt: skip
        resources.push_async_callback(_quietly(client.close))
        builder = TaskBuilder(
            factory, store, hotkey=hotkey, fps=cfg.synthesis.fps, presign_ttl_s=s.presign_ttl_s(),
            timeout_s=s.synthesis_timeout_s,
            # reference frames decoded once per clip for the local scoring workers (Ray nodes decode their own copy)
            frames=None if s.executor == "ray" else ScoringContext(secret, cfg.scoring, metrics),
        )  # fmt: skip
        judge = Judge(
            pool=MeteredPool(pool, repo.metrics), fetch_cfg=cfg.fetch, metrics=metrics, work_dir=work_dir,
            upscaling_vmaf_threshold=cfg.scoring.upscaling_vmaf_threshold, fetch_concurrency=s.fetch_concurrency,
        )  # fmt: skip
        caps = CapabilityCache(client, s.capabilities_ttl_s, s.capabilities_timeout_s)
        runner = RoundRunner(
            settings=s, repo=repo, client=client, caps=caps, builder=builder, judge=judge, secret=secret,
            own_hotkey=hotkey,
        )  # fmt: skip
        resources.push_async_callback(_quietly(runner.close, in_thread=True))
    except BaseException:
        await resources.aclose()
        raise
    logger.info(
        "validator {} (uid {}) ready: profile {}, netuid {}, scoring {} x{}, db {}",
        hotkey, me.uid, s.profile.value, chain.netuid,
        "ray" if s.executor == "ray" else s.score_executor, s.score_workers, cfg.db.path,
    )  # fmt: skip
    return ValidatorRuntime(cfg, hotkey, chain, repo, store, factory, pool, client, runner, resources)


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, _frame: Any) -> None:
        if not stop.is_set():
            logger.info("received {}: shutting down", signal.Signals(signum).name)
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def run_validator(
    cfg: ValidatorConfig,
    stop: asyncio.Event | None = None,
    *,
    on_round: Callable[[RoundStats], None] | None = None,
    init: bool = False,
) -> int:
    """Build the validator and run rounds until SIGINT/SIGTERM, `stop` or `max_rounds`; return the rounds run."""
    stop = stop or asyncio.Event()
    with _stop_on_signals(stop):
        rt = await build_validator(cfg, init=init)
        try:

            async def sleep(seconds: float) -> None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), seconds)

            weights = WeightSetter(
                rt.chain, rt.repo, cfg.scoring, retries=cfg.validator.weights_retries,
                backoff_s=cfg.validator.weights_backoff_s, version_key=cfg.chain.version_key, sleep=sleep,
            )  # fmt: skip
            await weights.refresh_limits()  # the subnet's weight limits, logged at start (and every cycle)
            loop = ValidatorLoop(
                settings=cfg.validator, chain=rt.chain, repo=rt.repo, runner=rt.runner, weights=weights,
                on_round=on_round,
            )  # fmt: skip
            with serve_metrics(cfg.prometheus, rt.repo.metrics.registry, daemon="validator",
                               default_port=VALIDATOR_DEFAULT_PORT, error=ValidatorStartupError):  # fmt: skip
                rounds = await loop.run(stop)
        finally:
            await rt.close()
    logger.info("validator stopped after {} round(s)", rounds)
    return rounds


def main(env_file: Path | None = None, overrides: dict[str, Any] | None = None, *, init: bool = False) -> int:
    """Load the config, set up logging, run; the process exit code (0 also after SIGINT/SIGTERM).

    `init`: a first start may create the database directory (else a missing directory is an error).
    """

    async def run(cfg: ValidatorConfig) -> int:
        return await run_validator(cfg, init=init)

    return run_daemon("validator", lambda: load_validator_config(env_file, overrides), run, ValidatorStartupError)
