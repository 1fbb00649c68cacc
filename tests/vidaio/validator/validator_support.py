"""A one-process subnet for validator tests: localnet chain file, in-process moto S3, real wallets and
real signed miners (uvicorn apps from `build_miner_app`) whose TaskHandler plays a strategy.

Imported by module name (pytest puts this folder on sys.path); fixtures are re-exported by conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scoring.config import ScoringConfig
from scoring.metrics.config import MetricsConfig
from services.synthesis import PrepareSettings, SynthesisConfig
from vidaio.chain.config import ChainConfig, WalletConfig
from vidaio.chain.localnet import LocalnetChain
from vidaio.chain.wallets import create_wallet
from vidaio.db.config import DbConfig
from vidaio.fetch import FetchConfig, fetch
from vidaio.logging import LogConfig
from vidaio.protocol import Capabilities, CompressionTask, TaskError, TaskResult, UpscalingTask
from vidaio.storage.local import LocalS3, local_s3
from vidaio.storage.s3 import S3Store, object_key
from vidaio.transport.config import ServerConfig
from vidaio.transport.handler import CallerInfo
from vidaio.transport.runner import running_app
from vidaio.transport.server import build_miner_app
from vidaio.validator.config import ValidatorConfig, ValidatorSettings

NETUID = 1
VALIDATOR_STAKE = 10_000.0
MINER_BUCKET = "miner-outputs"
ABSENT_WEIGHTS = Path("/nonexistent/vidaio-tests/pieapp-absent.pth")
FETCH = FetchConfig(allow_hosts=["127.0.0.1"], total_timeout_s=60, connect_timeout_s=5, read_timeout_s=30)

Task = CompressionTask | UpscalingTask
Work = Callable[["MinerCtx", Task], Awaitable[TaskResult | TaskError]]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bittensor writes under ~/.bittensor: keep it inside the test's temp dir."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def s3() -> Iterator[LocalS3]:
    with local_s3(buckets=[MINER_BUCKET]) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def wallet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wallets")


_wallet_cache: dict[tuple[str, str], Any] = {}


def wallet(wallet_dir: Path, name: str) -> Any:
    """A real bittensor wallet (made once per session per name)."""
    key = (str(wallet_dir), name)
    if key not in _wallet_cache:
        _wallet_cache[key] = create_wallet(name, "hk", wallet_dir)
    return _wallet_cache[key]


@dataclass
class MinerCtx:
    """What a strategy can use: its hotkey, its bucket, a scratch dir, and a board shared by miners."""

    name: str
    hotkey: str
    store: S3Store
    scratch: Path
    board: dict[str, asyncio.Future[Path]]

    async def fetch_input(self, task: Task) -> Path:
        d = Path(tempfile.mkdtemp(prefix=f"{task.task_id}.", dir=self.scratch))
        res = await fetch(task.input_url, d / "input.mp4", cfg=FETCH)
        return res.path

    async def publish(self, path: Path, task: Task, *, suffix: str = "") -> TaskResult:
        key = object_key(self.hotkey, task.round_id, task.task_id + suffix)
        await self.store.upload(path, key)
        url = (await self.store.presign_get(key)).url
        return TaskResult(task_id=task.task_id, output_url=url, processing_time_s=0.1)

    def posted(self, round_id: str) -> asyncio.Future[Path]:
        if round_id not in self.board:
            self.board[round_id] = asyncio.get_running_loop().create_future()
        return self.board[round_id]


@dataclass
class ScriptedHandler:
    """A TaskHandler that declares `caps` and answers every task with `work` (a strategy)."""

    ctx: MinerCtx
    caps: Capabilities
    work: Work
    calls: list[str] = field(default_factory=list)

    async def capabilities(self) -> Capabilities:
        return self.caps

    async def handle_upscaling(self, task: UpscalingTask, caller: CallerInfo) -> TaskResult | TaskError:
        self.calls.append(task.task_id)
        return await self.work(self.ctx, task)

    async def handle_compression(self, task: CompressionTask, caller: CallerInfo) -> TaskResult | TaskError:
        self.calls.append(task.task_id)
        return await self.work(self.ctx, task)


@dataclass
class MinerSpec:
    name: str
    caps: Capabilities
    work: Work


@dataclass
class RunningMiner:
    name: str
    uid: int
    hotkey: str
    handler: ScriptedHandler


@dataclass
class Subnet:
    """The chain file, the S3 endpoint and the wallets of one test."""

    root: Path
    s3: LocalS3
    wallet_dir: Path
    chain_path: Path = field(init=False)
    validator_bucket: str = field(init=False)

    def __post_init__(self) -> None:
        self.chain_path = self.root / "chain.sqlite"
        self.validator_bucket = f"vin-{uuid.uuid4().hex[:16]}"  # moto's state is shared by the session

    def chain(self, hotkey: str) -> LocalnetChain:
        return LocalnetChain(self.chain_path, hotkey=hotkey, netuid=NETUID, block_time_s=1.0, tempo=360)

    def register(self, name: str, *, validator: bool = False) -> tuple[Any, int]:
        w = wallet(self.wallet_dir, name)
        hk = w.hotkey.ss58_address
        uid = self.chain(hk).register(
            hk, stake=VALIDATOR_STAKE if validator else 0.0, validator_permit=validator
        )
        return w, uid

    def validator_config(self, name: str, db_path: Path, **settings: Any) -> ValidatorConfig:
        return ValidatorConfig(**self.validator_sections(name, db_path, **settings))  # type: ignore[arg-type]

    def validator_sections(self, name: str, db_path: Path, **settings: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "profile": "tiny",
            "round_interval_s": 0,
            "max_rounds": 1,
            "upscaling_types": ["SD2HD"],
            "content_lengths": [1],
            "compression_codecs": ["hevc"],
            "compression_thresholds": [70.0],
            "compression_seconds": 1.0,
            "compression_size": [160, 90],
            "upscaling_deadline_s": 30.0,
            "compression_deadline_s": 30.0,
            "score_workers": 2,
            "score_executor": "thread",
            "capabilities_timeout_s": 5.0,
            "work_dir": str(self.root / "work"),
            "weights_backoff_s": 0.01,
            "shutdown_grace_s": 0.0,
            "allow_random_pieapp_weights": True,
            "secret": "test-secret",
        }
        base.update(settings)
        storage = self.s3.storage_config(self.validator_bucket, create_bucket=True, retry_backoff_s=0.01)
        return {
            "_env_file": None,
            "wallet": WalletConfig(name=name, hotkey="hk", path=self.wallet_dir),
            "chain": ChainConfig(backend="localnet", localnet_path=self.chain_path, netuid=NETUID, block_time_s=1.0),
            "storage": storage,
            "fetch": FETCH,
            "log": LogConfig(to_file=False, level="INFO"),
            "metrics": MetricsConfig(pieapp_weights_path=ABSENT_WEIGHTS, pieapp_device="cpu", vmaf_threads=1),
            "db": DbConfig(path=db_path),
            "scoring": ScoringConfig(pieapp_frames=1),  # PIE-APP on CPU is slow: one sampled frame
            "synthesis": SynthesisConfig(
                work_dir=self.root / "tasks", seed=7, max_ready=1, synthetic_text=False,
                prepare=PrepareSettings(preset="ultrafast"),
            ),  # fmt: skip
            "validator": ValidatorSettings(**base),
        }


def env_lines(sections: dict[str, Any]) -> str:
    """An env file for `sections` (as `validator_sections` returns), secrets written in clear."""
    lines = []
    for name, value in sections.items():
        if name.startswith("_"):
            continue
        data = value.model_dump(mode="json")
        if name == "storage":
            data["secret_access_key"] = value.secret_access_key.get_secret_value()
        if name == "validator":
            data["secret"] = value.secret.get_secret_value()
        lines.append(f"VIDAIO_{name.upper()}='{json.dumps(data)}'")
    return "\n".join(lines) + "\n"


@asynccontextmanager
async def run_miners(subnet: Subnet, specs: list[MinerSpec]) -> AsyncIterator[dict[str, RunningMiner]]:
    """Register, start and serve the miners (real signed uvicorn apps on 127.0.0.1); stop them after."""
    board: dict[str, asyncio.Future[Path]] = {}
    scratch = subnet.root / "miners"
    scratch.mkdir(parents=True, exist_ok=True)
    out: dict[str, RunningMiner] = {}
    server_cfg = ServerConfig(
        host="127.0.0.1", port=0, min_validator_stake=1.0, metagraph_refresh_s=0.2, max_concurrency=4
    )
    async with AsyncExitStack() as stack:
        for spec in specs:
            w, uid = subnet.register(spec.name)
            hk = w.hotkey.ss58_address
            store = S3Store(subnet.s3.storage_config(MINER_BUCKET, retry_backoff_s=0.01))
            stack.callback(store.close)
            ctx = MinerCtx(spec.name, hk, store, scratch, board)
            handler = ScriptedHandler(ctx, spec.caps, spec.work)
            chain = subnet.chain(hk)
            app = build_miner_app(handler, hotkey_ss58=hk, chain=chain, cfg=server_cfg)
            srv = await stack.enter_async_context(running_app(app, "127.0.0.1", 0))
            chain.serve_sync(hk, "127.0.0.1", srv.port)
            out[spec.name] = RunningMiner(spec.name, uid, hk, handler)
        try:
            yield out
        finally:
            for fut in board.values():
                if not fut.done():
                    fut.cancel()
    shutil.rmtree(scratch, ignore_errors=True)


def compression_caps(codecs: tuple[str, ...] = ("hevc",), max_len: int = 5) -> Capabilities:
    return Capabilities(task_type="compression", codecs=list(codecs), max_content_length=max_len)


def upscaling_caps(types: tuple[str, ...] = ("SD2HD",), max_len: int = 5) -> Capabilities:
    return Capabilities(task_type="upscaling", upscaling_types=list(types), max_content_length=max_len)
