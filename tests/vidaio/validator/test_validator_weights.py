"""WeightSetter: docs/scoring.md#weights from the DB standings, retries with backoff, every attempt stored, cadence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scoring.config import ScoringConfig
from vidaio.chain.port import MetagraphSnapshot, NeuronInfo, SubnetHyperparameters, WeightSetResult
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult
from vidaio.validator.weights import WeightSetter

SCORING = ScoringConfig(weights_interval=100)


class FlakyChain:
    """set_weights fails `failures` times, then succeeds at `block`."""

    def __init__(self, failures: int = 0, block: int = 1000, raise_instead: bool = False) -> None:
        self.failures = failures
        self.block = block
        self.raise_instead = raise_instead
        self.calls: list[dict[int, float]] = []

    async def hyperparameters(self) -> SubnetHyperparameters:
        return SubnetHyperparameters()

    async def set_weights(self, weights: dict[int, float], *, version_key: int = 0) -> WeightSetResult:
        self.calls.append(dict(weights))
        if len(self.calls) <= self.failures:
            if self.raise_instead:
                raise ConnectionError("chain unreachable")
            return WeightSetResult(success=False, message="transaction dropped", block=None)
        return WeightSetResult(success=True, message="ok", block=self.block)

    async def current_block(self) -> int:
        return self.block


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    r = Repository.open(DbConfig(path=tmp_path / "v.db"), SCORING)
    try:
        yield r
    finally:
        r.close()


SNAP = MetagraphSnapshot(
    netuid=1,
    block=900,
    neurons=(
        NeuronInfo(uid=0, hotkey="val", validator_permit=True, stake=1e4),
        NeuronInfo(uid=1, hotkey="c1"),
        NeuronInfo(uid=2, hotkey="c2"),
        NeuronInfo(uid=3, hotkey="u1"),
        NeuronInfo(uid=4, hotkey="zero"),
        NeuronInfo(uid=5, hotkey="was-miner", validator_permit=True),
    ),
)


def record(repo: Repository, uid: int, hotkey: str, task_type: str, score: float, n: int = 0) -> None:
    status = "ok" if score > 0 else "timeout"
    repo.record_result(RoundResult(round_id=f"r{n}", task_id=f"r{n}-{uid}", uid=uid, hotkey=hotkey,
                                   task_type=task_type, status=status, score=score, vmaf_threshold=85.0))  # fmt: skip


def fill(repo: Repository) -> None:
    record(repo, 1, "c1", "compression", 0.8)
    record(repo, 2, "c2", "compression", 0.4)
    record(repo, 3, "u1", "upscaling", 0.3)
    record(repo, 4, "zero", "compression", 0.0)
    record(repo, 5, "was-miner", "upscaling", 0.5)  # now holds a validator permit: gets 0


async def test_pools_split_and_every_attempt_is_stored(repo: Repository) -> None:
    fill(repo)
    chain = FlakyChain(failures=2)
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    ws = WeightSetter(chain, repo, SCORING, retries=3, backoff_s=2.0, sleep=sleep)  # type: ignore[arg-type]
    assert ws.due(900)
    out = await ws.set_weights(SNAP, round_id=None)
    assert out.success and out.attempts == 3 and out.block == 1000 and slept == [2.0, 4.0]
    w = chain.calls[-1]
    assert set(w) == {1, 2, 3}  # zero scores and validators are left out
    acc = {st.uid: st.accumulate_score for st in repo.standings()}
    assert w[1] + w[2] == pytest.approx(0.6) and w[1] / w[2] == pytest.approx(acc[1] / acc[2])  # by accumulate score
    assert w[3] == pytest.approx(0.4)
    logged = list(reversed(repo.recent_weight_sets(10)))
    assert [(r.attempt, r.success) for r in logged] == [(1, False), (2, False), (3, True)]
    assert logged[0].message == "transaction dropped" and logged[2].block == 1000
    assert logged[2].weights == pytest.approx(w)
    assert not ws.due(1099) and ws.due(1100)  # weights_interval = 100 blocks
    # a restarted validator knows when weights were last set
    assert WeightSetter(chain, repo, SCORING).last_block == 1000  # type: ignore[arg-type]


async def test_retries_run_out_and_exceptions_are_attempts(repo: Repository) -> None:
    fill(repo)
    chain = FlakyChain(failures=10, raise_instead=True)

    async def sleep(_s: float) -> None:
        return None

    ws = WeightSetter(chain, repo, SCORING, retries=2, backoff_s=0.0, sleep=sleep)  # type: ignore[arg-type]
    out = await ws.set_weights(SNAP)
    assert not out.success and out.attempts == 3 and "ConnectionError" in out.message
    assert [r.success for r in repo.recent_weight_sets(10)] == [False, False, False]
    assert ws.due(10**6) and ws.last_block is None


async def test_nothing_eligible_sets_nothing(repo: Repository) -> None:
    record(repo, 4, "zero", "compression", 0.0)
    chain = FlakyChain()
    ws = WeightSetter(chain, repo, SCORING)  # type: ignore[arg-type]
    out = await ws.maybe_set(SNAP, 900)
    assert out is not None and out.weights is None and not out.success and "no eligible miner" in out.message
    assert chain.calls == [] and repo.recent_weight_sets(10) == []


async def test_one_empty_pool_hands_its_share_over_and_stale_hotkeys_are_ignored(repo: Repository) -> None:
    record(repo, 1, "c1", "compression", 0.8)
    record(repo, 2, "old-hotkey", "compression", 0.9)  # uid 2 now belongs to "c2" on chain
    chain = FlakyChain()
    ws = WeightSetter(chain, repo, SCORING)  # type: ignore[arg-type]
    out = await ws.set_weights(SNAP)
    assert out.success and chain.calls == [{1: pytest.approx(1.0)}]
