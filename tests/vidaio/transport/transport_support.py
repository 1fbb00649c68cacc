"""Helpers and fixtures for the signed-transport tests: real wallets in a temp dir, a static chain,
a real uvicorn. Imported by name (not through conftest) so no other conftest.py can shadow it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vidaio.chain.port import MetagraphSnapshot, NeuronInfo, WeightSetResult
from vidaio.chain.wallets import create_wallet
from vidaio.protocol import Capabilities, CompressionTask, TaskError, TaskResult, UpscalingTask
from vidaio.transport.config import ServerConfig
from vidaio.transport.handler import CallerInfo
from vidaio.transport.runner import running_app
from vidaio.transport.server import build_miner_app

MIN_STAKE = 100.0


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bittensor writes under ~/.bittensor: keep it inside the test's temp dir."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def wallets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Real bittensor wallets (coldkey + hotkey files) made once per session in a temp dir."""
    root = tmp_path_factory.mktemp("wallets")
    names = ["miner", "v_high", "v_mid", "v_low", "no_permit", "low_stake", "stranger"]
    return {n: create_wallet(n, "hk", root) for n in names}


class StaticChain:
    """A ChainPort whose metagraph is whatever the test put in `snapshot`."""

    def __init__(self, snapshot: MetagraphSnapshot | None, hotkey: str = "") -> None:
        self.snapshot = snapshot
        self._hotkey = hotkey
        self.metagraph_calls = 0

    @property
    def netuid(self) -> int:
        return 1

    @property
    def hotkey(self) -> str:
        return self._hotkey

    @property
    def tempo(self) -> int:
        return 360

    async def current_block(self) -> int:
        return 100

    async def metagraph(self) -> MetagraphSnapshot:
        self.metagraph_calls += 1
        if self.snapshot is None:
            raise ConnectionError("chain unreachable (test)")
        return self.snapshot

    async def set_weights(self, weights: dict[int, float]) -> WeightSetResult:
        return WeightSetResult(success=False, message="not in this test")

    async def serve(self, ip: str, port: int) -> None:
        return None

    async def is_registered(self, hotkey: str) -> bool:
        return self.snapshot is not None and self.snapshot.by_hotkey(hotkey) is not None

    async def close(self) -> None:
        return None


@pytest.fixture(scope="session")
def snapshot(wallets: dict[str, Any]) -> MetagraphSnapshot:
    def n(uid: int, name: str, stake: float, permit: bool) -> NeuronInfo:
        return NeuronInfo(uid=uid, hotkey=wallets[name].hotkey.ss58_address, stake=stake, validator_permit=permit)

    return MetagraphSnapshot(
        netuid=1,
        block=100,
        neurons=(
            n(0, "v_high", 5000.0, True),
            n(1, "v_mid", 1000.0, True),
            n(2, "v_low", 200.0, True),
            n(3, "no_permit", 5000.0, False),
            n(4, "low_stake", MIN_STAKE / 2, True),
            n(5, "miner", 0.0, False),
        ),
    )


@dataclass
class RecordingHandler:
    """TaskHandler that records callers; optionally blocks on `gate`, sleeps, or answers a wrong id."""

    gate: asyncio.Event | None = None
    sleep_s: float = 0.0
    wrong_task_id: bool = False
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def capabilities(self) -> Capabilities:
        return Capabilities(task_type="upscaling", upscaling_types=["SD2HD", "SD24K"], software_version="test")

    async def _answer(self, task_id: str, caller: CallerInfo) -> TaskResult | TaskError:
        self.seen.append((task_id, caller.hotkey))
        if self.gate is not None:
            await self.gate.wait()
        if self.sleep_s:
            await asyncio.sleep(self.sleep_s)
        out_id = "someone-else" if self.wrong_task_id else task_id
        return TaskResult(task_id=out_id, output_url=f"http://127.0.0.1:9/out/{task_id}.mp4", processing_time_s=0.01)

    async def handle_upscaling(self, task: UpscalingTask, caller: CallerInfo) -> TaskResult | TaskError:
        return await self._answer(task.task_id, caller)

    async def handle_compression(self, task: CompressionTask, caller: CallerInfo) -> TaskResult | TaskError:
        if task.codec.value == "h264":
            return TaskError(task_id=task.task_id, error="codec h264 not mined here")
        return await self._answer(task.task_id, caller)


@dataclass
class Miner:
    url: str
    axon: str
    hotkey: str
    handler: RecordingHandler
    chain: StaticChain
    app: Any


def server_config(**overrides: Any) -> ServerConfig:
    base: dict[str, Any] = {
        "host": "127.0.0.1", "port": 0, "min_validator_stake": MIN_STAKE, "max_body_bytes": 4096,
        "max_concurrency": 4, "max_queue": 8, "metagraph_refresh_s": 30.0,
    }
    base.update(overrides)
    return ServerConfig(**base)


@asynccontextmanager
async def start_miner(
    wallets: dict[str, Any], snapshot: MetagraphSnapshot | None, handler: RecordingHandler | None = None,
    **cfg: Any,
) -> AsyncIterator[Miner]:
    handler = handler or RecordingHandler()
    hotkey = wallets["miner"].hotkey.ss58_address
    chain = StaticChain(snapshot, hotkey)
    app = build_miner_app(handler, hotkey_ss58=hotkey, chain=chain, cfg=server_config(**cfg))
    async with running_app(app, "127.0.0.1", 0) as srv:
        yield Miner(srv.url, f"127.0.0.1:{srv.port}", hotkey, handler, chain, app)


@pytest.fixture
async def miner(wallets: dict[str, Any], snapshot: MetagraphSnapshot) -> AsyncIterator[Miner]:
    async with start_miner(wallets, snapshot) as m:
        yield m


def upscaling_task(task_id: str = "t1", deadline_s: float = 10.0) -> UpscalingTask:
    return UpscalingTask(
        task_id=task_id, round_id="r1", input_url="http://127.0.0.1:9/in.mp4", task_type="SD2HD", scale=2,
        content_length=5, deadline_s=deadline_s,
    )
