"""Weights against a chain's limits (issue 14): max weight limit 0.5 and 0.1 through the bittensor
adapter (SDK + fake substrate: the exact extrinsic) and the localnet chain (which enforces them).

The per-pool split the chain receives (after u16 quantisation) stays within 0.5 % of 60/40 wherever
the limit allows it; otherwise the DB and the log say what was kept. Zero-score miners get nothing,
version_key is the chain's weights version, and each recorded attempt is exactly one submission.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from scoring.config import ScoringConfig
from vidaio.chain.bittensor_adapter import BittensorChain
from vidaio.chain.config import ChainConfig
from vidaio.chain.localnet import LocalnetChain
from vidaio.chain.port import MetagraphSnapshot, NeuronInfo
from vidaio.chain.wallets import create_wallet
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult
from vidaio.validator.weights import WeightSetter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chain"))
from fake_substrate import FakeSubstrate  # noqa: E402

SCORING = ScoringConfig(_env_file=None, weights_interval=1)
WEIGHTS_VERSION = 2031
S = "SubtensorModule"

# (limit, compression scores, upscaling scores, kept?)
CASES = {
    "half-kept": (0.5, [0.9, 0.05, 0.05, 0.0], [0.5, 0.5, 0.0], True),
    "half-one-compression": (0.5, [0.9], [0.3, 0.5, 0.2], False),
    "tenth-kept": (0.1, [0.9] + [0.1] * 9, [0.9] + [0.05] * 9 + [0.0], True),
    "tenth-3-plus-200": (0.1, [0.9, 0.6, 0.3], [0.2 + (i % 7) / 20 for i in range(200)], False),
}


async def _no_sleep(_s: float) -> None:
    return None


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def validator_wallet(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return create_wallet("limits_validator", "hk", tmp_path_factory.mktemp("w"))


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    r = Repository.open(DbConfig(path=tmp_path / "v.db"), SCORING)
    try:
        yield r
    finally:
        r.close()


def populate(repo: Repository, comp: list[float], up: list[float]) -> tuple[dict[int, str], dict[int, str]]:
    """One recorded round per miner (uid 0 is the validator): {uid: hotkey}, {uid: task type}."""
    hotkeys, types = {}, {}
    for i, (task, score) in enumerate([("compression", s) for s in comp] + [("upscaling", s) for s in up]):
        uid = i + 1
        hotkeys[uid], types[uid] = f"miner-{uid}", task
        repo.record_result(RoundResult(
            round_id="r0", task_id=f"r0-{uid}", uid=uid, hotkey=hotkeys[uid], task_type=task,
            status="ok" if score > 0 else "timeout", score=score, vmaf=95.0 if score > 0 else None,
            vmaf_threshold=85.0, s_q=0.8 if score > 0 and task == "upscaling" else None,
        ))  # fmt: skip
    return hotkeys, types


def snapshot(me: str, hotkeys: dict[int, str]) -> MetagraphSnapshot:
    neurons = [NeuronInfo(uid=0, hotkey=me, validator_permit=True, stake=1e4)]
    neurons += [NeuronInfo(uid=u, hotkey=h) for u, h in hotkeys.items()]
    return MetagraphSnapshot(netuid=7, block=1000, neurons=tuple(neurons))


def split_of(received: dict[int, float], types: dict[int, str]) -> dict[str, float]:
    total = sum(received.values())
    return {t: sum(w for u, w in received.items() if types[u] == t) / total for t in ("compression", "upscaling")}


def check(case: str, received: dict[int, float], types: dict[int, str], repo: Repository,
          scores: dict[int, float]) -> dict[str, float]:  # fmt: skip
    limit, _comp, _up, kept = CASES[case]
    split = split_of(received, types)
    chain_limit = round(limit * 65535) / 65535  # MaxWeightsLimit is a u16
    assert max(received.values()) / sum(received.values()) <= chain_limit  # what the chain checks
    assert not any(scores[u] <= 0 for u in received), "a zero-score miner got weight"
    [logged] = repo.recent_weight_sets(1)
    assert logged.success and logged.split is not None
    assert logged.split["kept"] is kept and logged.split["version_key"] == WEIGHTS_VERSION
    assert logged.split["effective"]["compression"] == pytest.approx(split["compression"], abs=1e-9)
    if kept:
        assert split["compression"] == pytest.approx(0.6, abs=0.005)
        assert split["upscaling"] == pytest.approx(0.4, abs=0.005)
    else:
        n_comp = sum(1 for u, t in types.items() if t == "compression" and scores[u] > 0)
        assert split["compression"] == pytest.approx(n_comp * limit, abs=0.002)  # as much as the limit allows
        assert f"compression holds {n_comp * limit:.3f} of its 0.600" in logged.split["note"]
    return split


@pytest.mark.parametrize("case", list(CASES))
async def test_bittensor_adapter_respects_the_limit(case: str, repo: Repository, validator_wallet: Any) -> None:
    limit, comp, up, _kept = CASES[case]
    hotkeys, types = populate(repo, comp, up)
    scores = {u: s for u, s in zip(sorted(types), comp + up, strict=True)}
    me = validator_wallet.hotkey.ss58_address
    fake = FakeSubstrate(storage={
        (S, "Uids"): lambda p: 0 if p[1] == me else None, (S, "CommitRevealWeightsEnabled"): False,
        (S, "WeightsSetRateLimit"): 0, (S, "LastUpdate"): [0] * 300, (S, "MinAllowedWeights"): 1,
        (S, "MaxWeightsLimit"): round(limit * 65535), (S, "SubnetEpochConsensus"): "Yuma",
        (S, "WeightsVersionKey"): WEIGHTS_VERSION,
    })  # fmt: skip
    chain = BittensorChain(ChainConfig(netuid=7, network="local", reconnect_backoff_s=0), validator_wallet,
                           substrate=fake, sleep=_no_sleep)  # fmt: skip
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO")
    try:
        out = await WeightSetter(chain, repo, SCORING, sleep=_no_sleep).set_weights(snapshot(me, hotkeys))
    finally:
        logger.remove(sink)
        await chain.close()
    assert out.success and len(fake.submitted) == 1
    call, _signer = fake.submitted[0]
    assert call.function == "set_mechanism_weights" and call.params["version_key"] == WEIGHTS_VERSION
    received = dict(zip(call.params["dests"], call.params["weights"], strict=True))
    split = check(case, received, types, repo, scores)
    text = "".join(lines)
    assert f"compression {split['compression']:.4f} (target 0.600)" in text
    assert ("NOT KEPT" in text) is (not CASES[case][3])


@pytest.mark.parametrize("case", list(CASES))
async def test_localnet_chain_enforces_and_the_validator_respects_the_limit(case: str, repo: Repository,
                                                                            tmp_path: Path) -> None:  # fmt: skip
    limit, comp, up, _kept = CASES[case]
    hotkeys, types = populate(repo, comp, up)
    scores = {u: s for u, s in zip(sorted(types), comp + up, strict=True)}
    chain = LocalnetChain(tmp_path / "chain.sqlite", hotkey="VAL", netuid=7, max_weight_limit=round(limit * 65535),
                          min_allowed_weights=1, weights_version=WEIGHTS_VERSION)  # fmt: skip
    chain.register("VAL", stake=1e4, validator_permit=True)
    for uid in sorted(hotkeys):
        assert chain.register(hotkeys[uid]) == uid
    # the chain refuses what breaks its limits, as subtensor does
    assert "MaxWeightExceeded" in chain.set_weights_sync("VAL", {1: 0.9, 2: 0.1}, WEIGHTS_VERSION).message
    assert "IncorrectWeightVersionKey" in chain.set_weights_sync("VAL", dict.fromkeys(hotkeys, 1.0), 0).message
    out = await WeightSetter(chain, repo, SCORING, sleep=_no_sleep).set_weights(await chain.metagraph())
    assert out.success and out.version_key == WEIGHTS_VERSION, out.message
    check(case, chain.weights_of(0), types, repo, scores)


async def test_one_submission_per_recorded_attempt(repo: Repository, validator_wallet: Any) -> None:
    hotkeys, _types = populate(repo, [0.8, 0.4], [0.5])
    me = validator_wallet.hotkey.ss58_address
    fake = FakeSubstrate(storage={
        (S, "Uids"): lambda p: 0 if p[1] == me else None, (S, "CommitRevealWeightsEnabled"): False,
        (S, "WeightsSetRateLimit"): 0, (S, "LastUpdate"): [0] * 4, (S, "MinAllowedWeights"): 1,
        (S, "MaxWeightsLimit"): 65535, (S, "SubnetEpochConsensus"): "Yuma", (S, "WeightsVersionKey"): 5,
    }, submit_success=False)  # fmt: skip
    chain = BittensorChain(ChainConfig(netuid=7, network="local", reconnect_backoff_s=0, reconnect_retries=3),
                           validator_wallet, substrate=fake, sleep=_no_sleep)  # fmt: skip
    try:
        out = await WeightSetter(chain, repo, SCORING, retries=3, sleep=_no_sleep).set_weights(snapshot(me, hotkeys))
    finally:
        await chain.close()
    recorded = repo.recent_weight_sets(10)
    assert not out.success and out.attempts == 4
    assert len(recorded) == 4 and len(fake.submitted) == 4  # one submission per recorded attempt
    assert all(c.params["version_key"] == 5 for c, _ in fake.submitted)


async def test_configured_version_key_wins_and_deregistered_miner_gets_zero(repo: Repository, tmp_path: Path) -> None:
    hotkeys, _types = populate(repo, [0.8, 0.4], [0.5])
    chain = LocalnetChain(tmp_path / "chain.sqlite", hotkey="VAL", netuid=7, weights_version=3)
    chain.register("VAL", stake=1e4, validator_permit=True)
    for uid in sorted(hotkeys):
        chain.register(hotkeys[uid])
    snap = await chain.metagraph()
    gone = snap.model_copy(update={"neurons": tuple(n for n in snap.neurons if n.uid != 1)})  # uid 1 deregistered
    out = await WeightSetter(chain, repo, SCORING, version_key=9, sleep=_no_sleep).set_weights(gone)
    assert out.success and out.version_key == 9 and out.weights is not None
    assert 1 not in out.weights and 1 not in chain.weights_of(0)
    assert repo.recent_weight_sets(1)[0].split["version_key"] == 9  # type: ignore[index]
