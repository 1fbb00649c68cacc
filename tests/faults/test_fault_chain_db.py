"""Faults around the validator's state: the chain unreachable when weights are due (retried, logged, set
at the next interval; the loop never stops) and an operator holding a long read transaction on the
validator's database while it writes results (no error, no stall: WAL)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bittensor.result import RpcConnectionError
from loguru import logger

from scoring.config import ScoringConfig
from vidaio.chain.localnet import LocalnetChain
from vidaio.chain.port import MetagraphSnapshot
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult
from vidaio.validator.config import ValidatorSettings
from vidaio.validator.loop import RoundStats, ValidatorLoop
from vidaio.validator.weights import WeightSetter

UNREACHABLE = "could not connect to any endpoint: [Errno 111] Connect call failed ('127.0.0.1', 9944)"


class ChainOutage:
    """A ChainPort in front of a real (localnet) chain; calls named in `down` raise what bittensor raises
    when its endpoint cannot be reached, until the next round starts (reads the metagraph)."""

    def __init__(self, inner: LocalnetChain) -> None:
        self.inner = inner
        self.down: set[str] = set()
        self.failed: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in {"metagraph", "current_block", "set_weights"}:
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if name == "metagraph":
                self.down = set()  # the outage ends before the next round reads the chain
            if name in self.down:
                self.failed.append(name)
                raise RpcConnectionError(UNREACHABLE)
            return await attr(*args, **kwargs)

        return call


class ScriptedRunner:
    """Stands in for the round runner: records one result per miner, then applies the next outage."""

    def __init__(
        self, chain: ChainOutage, repo: Repository, miners: dict[int, str], outages: list[set[str]]
    ) -> None:
        self.chain, self.repo, self.miners, self.outages = chain, repo, miners, outages
        self.rounds = 0

    async def run_round(self, snapshot: MetagraphSnapshot, block: int) -> RoundStats:
        round_id = f"r{self.rounds}"
        for uid, hotkey in self.miners.items():
            self.repo.record_result(
                RoundResult(round_id=round_id, task_id=f"{round_id}-{uid}", uid=uid, hotkey=hotkey,
                            task_type="compression", status="ok", score=0.5 + uid / 100, vmaf_threshold=85.0)
            )  # fmt: skip
        self.chain.down = self.outages[self.rounds]
        self.rounds += 1
        return RoundStats(round_id=round_id, block=block, planned=len(self.miners), status="finished")


async def test_chain_unreachable_at_weight_time(tmp_path: Path) -> None:
    localnet = LocalnetChain(tmp_path / "chain.sqlite", hotkey="validator-hk", netuid=1, block_time_s=1.0)
    v_uid = localnet.register("validator-hk", stake=1e4, validator_permit=True)
    miners = {localnet.register(f"miner-{i}"): f"miner-{i}" for i in range(3)}
    chain = ChainOutage(localnet)
    repo = Repository.open(DbConfig(path=tmp_path / "validator.db"), ScoringConfig())
    # round 1: the whole chain is gone when the weights pass starts; round 2: reads work, the weights
    # extrinsic cannot be sent (every retry); round 3: the chain is back
    runner = ScriptedRunner(chain, repo, miners, [{"current_block", "set_weights"}, {"set_weights"}, set()])
    weights = WeightSetter(chain, repo, ScoringConfig(), retries=2, backoff_s=0.01)  # type: ignore[arg-type]
    settings = ValidatorSettings(round_interval_s=0, max_rounds=3, prune_interval_s=0)
    loop = ValidatorLoop(settings=settings, chain=chain, repo=repo, runner=runner, weights=weights)  # type: ignore[arg-type]
    logs: list[str] = []
    sink = logger.add(lambda m: logs.append(m.record["message"]), level="INFO")
    try:
        rounds = await asyncio.wait_for(loop.run(asyncio.Event()), 60)
    finally:
        logger.remove(sink)
        repo.close()
    assert rounds == 3  # the outage never stopped the loop
    assert chain.failed.count("current_block") == 1 and chain.failed.count("set_weights") == 3

    attempts = Repository.open(DbConfig(path=tmp_path / "validator.db"), ScoringConfig())
    try:
        records = list(reversed(attempts.recent_weight_sets(20)))
    finally:
        attempts.close()
    assert [r.success for r in records] == [
        False,
        False,
        False,
        True,
    ]  # round 2's three attempts, then round 3
    assert [r.attempt for r in records] == [1, 2, 3, 1]
    assert all("RpcConnectionError" in r.message and "could not connect" in r.message for r in records[:3])
    assert set(localnet.weights_of(v_uid)) == set(miners)  # set at the next interval

    text = "\n".join(logs)
    assert "weights pass failed" in text and UNREACHABLE in text  # round 1, logged with the cause
    assert (
        "setting weights failed (attempt 1/3)" in text and "setting weights failed after 3 attempt(s)" in text
    )
    assert f"weights set on {len(miners)} uid(s)" in text


READER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN")
first = con.execute("SELECT COUNT(*) FROM miner_round_history").fetchone()[0]
print("open", first, flush=True)
time.sleep(float(sys.argv[2]))
second = con.execute("SELECT COUNT(*) FROM miner_round_history").fetchone()[0]
con.execute("COMMIT")
after = con.execute("SELECT COUNT(*) FROM miner_round_history").fetchone()[0]
print("done", first, second, after, flush=True)
"""


@pytest.mark.slow
def test_long_operator_read_while_the_validator_writes(tmp_path: Path) -> None:
    db = tmp_path / "validator.db"
    repo = Repository.open(DbConfig(path=db), ScoringConfig())
    hold_s = 4.0
    try:
        repo.record_result(RoundResult(round_id="r0", task_id="r0-1", uid=1, hotkey="m1", task_type="compression",
                                       status="ok", score=0.6, vmaf_threshold=85.0))  # fmt: skip
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(db), str(hold_s)], stdout=subprocess.PIPE, text=True
        )
        assert reader.stdout is not None
        assert reader.stdout.readline().split() == ["open", "1"]  # the operator's transaction is open
        latencies = []
        started = time.monotonic()
        for i in range(40):
            t0 = time.monotonic()
            repo.record_result(
                RoundResult(round_id=f"r{1 + i // 4}", task_id=f"r{1 + i // 4}-{i}", uid=1 + i % 4, hotkey=f"m{1 + i % 4}",
                            task_type="compression", status="ok", score=0.5, vmaf_threshold=85.0)
            )  # fmt: skip
            repo.log_weight_set({1: 1.0}, success=True, message="ok", block=i, attempt=1, round_id=None)
            latencies.append(time.monotonic() - t0)
        writes_s = time.monotonic() - started
        out, _ = reader.communicate(timeout=60)
    finally:
        repo.close()
    assert reader.returncode == 0, out
    _, first, second, after = out.split()
    assert (int(first), int(second), int(after)) == (1, 1, 41)  # one snapshot for the whole read; then all
    assert writes_s < hold_s  # every write committed while the read transaction was still open
    assert max(latencies) < 1.0, latencies
