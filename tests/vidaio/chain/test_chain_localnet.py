"""The SIMULATED chain (one SQLite file): registrations, weights, incentive, blocks, two processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vidaio.chain.localnet import LocalnetChain
from vidaio.chain.port import ChainError, ChainPort


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(path: Path, hotkey: str = "V1", clock: Clock | None = None, **kw: object) -> LocalnetChain:
    return LocalnetChain(path, hotkey=hotkey, block_time_s=2.0, clock=clock or Clock(), **kw)  # type: ignore[arg-type]


def test_register_serve_and_snapshot(tmp_path: Path) -> None:
    chain = make(tmp_path / "c.sqlite")
    assert isinstance(chain, ChainPort)
    assert chain.register("V1", coldkey="C1", stake=300, validator_permit=True) == 0
    assert chain.register("M1") == 1
    assert chain.register("M1", stake=5) == 1  # re-register updates, keeps uid
    chain.serve_sync("M1", "127.0.0.1", 9001)
    snap = chain.snapshot()
    assert [n.hotkey for n in snap.neurons] == ["V1", "M1"]
    assert snap.by_uid(0).coldkey == "C1" and snap.by_uid(0).validator_permit
    assert snap.by_hotkey("M1").axon == "127.0.0.1:9001" and snap.by_hotkey("M1").stake == 5
    with pytest.raises(ChainError, match="not registered"):
        chain.serve_sync("nobody", "127.0.0.1", 9002)
    with pytest.raises(ValueError):
        chain.register("X", stake=-1)


def test_block_advances_with_time_and_params_come_from_the_file(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    chain = make(tmp_path / "c.sqlite", clock=clock)
    assert chain.block() == 0
    clock.t += 7.0
    assert chain.block() == 3  # 2 s blocks
    other = LocalnetChain(tmp_path / "c.sqlite", hotkey="M", block_time_s=99, clock=clock)
    assert other.block() == 3  # the first creator fixed the block time


def test_weights_and_stake_weighted_incentive(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    v1, v2 = make(path, "V1"), make(path, "V2")
    v1.register("V1", stake=300, validator_permit=True)
    v1.register("V2", stake=100, validator_permit=True)
    m1, m2 = v1.register("M1"), v1.register("M2")
    v1.register("NP", stake=10_000)  # stake but no permit: its weights don't count
    assert v1.set_weights_sync("V1", {m1: 3, m2: 1}).success  # normalised to .75/.25
    assert v2.set_weights_sync("V2", {m2: 5}).success
    assert v1.weights_of(0) == {m1: 0.75, m2: 0.25}
    nop = v1.set_weights_sync("NP", {m1: 1})
    assert not nop.success and "permit" in nop.message
    snap = v1.snapshot()
    # incentive = sum(stake_v * w_v,i) / sum(...) = M1: 300*.75 / 400, M2: (300*.25 + 100) / 400
    assert snap.by_uid(m1).incentive == pytest.approx(225 / 400)
    assert snap.by_uid(m2).incentive == pytest.approx(175 / 400)
    assert sum(n.incentive for n in snap.neurons) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("weights", "reason"),
    [({}, "empty"), ({9: 1.0}, "not registered"), ({1: -1.0}, ">= 0"), ({1: float("nan")}, "finite"),
     ({1: 0.0}, "zero")],
)
def test_bad_weights_are_refused_and_nothing_changes(tmp_path: Path, weights: dict[int, float], reason: str) -> None:
    chain = make(tmp_path / "c.sqlite")
    chain.register("V1", stake=1, validator_permit=True)
    chain.register("M1")
    assert chain.set_weights_sync("V1", {1: 1.0}).success
    res = chain.set_weights_sync("V1", weights)
    assert not res.success and reason in res.message
    assert chain.weights_of(0) == {1: 1.0}


def test_weights_rate_limit(tmp_path: Path) -> None:
    clock = Clock()
    chain = make(tmp_path / "c.sqlite", clock=clock, weights_rate_limit_blocks=5)
    chain.register("V1", stake=1, validator_permit=True)
    chain.register("M1")
    assert chain.set_weights_sync("V1", {1: 1}).success
    limited = chain.set_weights_sync("V1", {1: 1})
    assert not limited.success and "rate limited" in limited.message
    clock.t += 10.0  # 5 blocks later
    assert chain.set_weights_sync("V1", {1: 1}).success


async def test_weight_limits_are_enforced_and_shared_by_every_opener(tmp_path: Path) -> None:
    chain = make(tmp_path / "c.sqlite")
    chain.register("V1", stake=1, validator_permit=True)
    for i in range(4):
        chain.register(f"M{i}")
    assert (await chain.hyperparameters()).max_weight_limit == 65535  # no limit by default
    assert chain.set_weights_sync("V1", {1: 0.7, 2: 0.1, 3: 0.1, 4: 0.1}).success
    chain.set_hyperparameters(max_weight_limit=32768, min_allowed_weights=3, weights_version=4)
    other = make(tmp_path / "c.sqlite", hotkey="V1", max_weight_limit=65535)  # a later opener follows the file
    hp = await other.hyperparameters()
    assert (hp.max_weight_limit, hp.min_allowed_weights, hp.weights_version) == (32768, 3, 4)
    assert "MaxWeightExceeded" in other.set_weights_sync("V1", {1: 0.7, 2: 0.1, 3: 0.1, 4: 0.1}, 4).message
    assert "WeightVecLengthIsLow" in other.set_weights_sync("V1", {1: 0.5, 2: 0.5}, 4).message
    assert "IncorrectWeightVersionKey" in other.set_weights_sync("V1", {1: 0.25, 2: 0.25, 3: 0.5}, 3).message
    ok = await other.set_weights({1: 0.25, 2: 0.25, 3: 0.5}, version_key=4)
    assert ok.success and other.weights_of(0) == pytest.approx({1: 0.25, 2: 0.25, 3: 0.5}, abs=1e-4)


async def test_async_port_methods(tmp_path: Path) -> None:
    chain = make(tmp_path / "c.sqlite", hotkey="V1")
    chain.register("V1", stake=1, validator_permit=True)
    chain.register("M1")
    assert await chain.current_block() == 0
    assert await chain.is_registered("M1") and not await chain.is_registered("M9")
    res = await chain.set_weights({1: 2.0})
    assert res.success and res.block == 0
    await chain.serve("127.0.0.1", 7000)
    assert (await chain.metagraph()).by_hotkey("V1").axon == "127.0.0.1:7000"
    await chain.close()


CHILD = textwrap.dedent(
    """
    import json, sys, time
    from vidaio.chain.localnet import LocalnetChain
    path, role = sys.argv[1], sys.argv[2]
    deadline = time.time() + 20
    if role == "validator":
        chain = LocalnetChain(path, hotkey="VAL", block_time_s=0.5)
        chain.register("VAL", stake=50.0, validator_permit=True)
        while (m := chain.snapshot().by_hotkey("MIN")) is None or m.axon is None:  # wait for the miner
            assert time.time() < deadline, "never saw the miner"
            time.sleep(0.02)
        res = chain.set_weights_sync("VAL", {m.uid: 1.0})
        print(json.dumps({"ok": res.success, "miner_axon": m.axon}))
    else:
        chain = LocalnetChain(path, hotkey="MIN", block_time_s=0.5)
        uid = chain.register("MIN")
        chain.serve_sync("MIN", "127.0.0.1", 8123)
        while chain.snapshot().by_uid(uid).incentive == 0:  # wait for the validator's weights
            assert time.time() < deadline, "never got weights"
            time.sleep(0.02)
        snap = chain.snapshot()
        print(json.dumps({"incentive": snap.by_uid(uid).incentive, "validators": [n.hotkey for n in snap.validators()]}))
    """
)


@pytest.mark.slow
def test_two_processes_share_one_chain_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, path, role], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for role in ("validator", "miner")
    ]
    results = []
    for p in procs:
        try:
            results.append(p.communicate(timeout=60))
        finally:
            p.kill()
    # both processes' stderr on failure: the one that waited is rarely the one that went wrong
    report = "\n".join(f"--- {role} (exit {p.returncode}):\n{err[-2000:]}"
                       for role, p, (_, err) in zip(("validator", "miner"), procs, results, strict=True))  # fmt: skip
    assert all(p.returncode == 0 for p in procs), report
    val, miner = (json.loads(out.strip().splitlines()[-1]) for out, _ in results)
    assert val == {"ok": True, "miner_axon": "127.0.0.1:8123"}
    assert miner == {"incentive": 1.0, "validators": ["VAL"]}
    final = LocalnetChain(path, hotkey="x").snapshot()
    assert {n.hotkey for n in final.neurons} == {"VAL", "MIN"}
