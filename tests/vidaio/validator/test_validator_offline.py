"""Offline miners on a live network (issue 14): a validator restarted with a DB in which two miners
score high while they are now offline (one serves an axon nobody answers on, one serves none).

Each round records a missed round (`unreachable`, score 0) for them, so their accumulate score
follows 0.75^N and their weight decays until the chain's u16 quantisation drops it to 0; online
miners not drawn by `miners_per_round` sampling are never penalised.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import validator_strategies as st
from validator_support import MinerSpec, Subnet, compression_caps, run_miners

from scoring.config import ScoringConfig
from vidaio.chain.localnet import LocalnetChain
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult
from vidaio.validator.daemon import run_validator
from vidaio.validator.loop import RoundStats
from vidaio.validator.weights import WeightSetter

HIGH = 0.9


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: nothing listens there


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _seed(repo: Repository, uid: int, hotkey: str, rounds: int = 4) -> float:
    """History of a validator that ran before: `rounds` good compression rounds."""
    out = None
    for i in range(rounds):
        out = repo.record_result(RoundResult(
            round_id=f"before-{i}", task_id=f"before-{i}-c{uid}", uid=uid, hotkey=hotkey, task_type="compression",
            status="ok", score=HIGH, vmaf=95.0, vmaf_threshold=70.0, compression_rate=0.3,
        ))  # fmt: skip
    assert out is not None
    return out.accumulate_score


@pytest.mark.slow
@pytest.mark.integration
async def test_restarted_validator_decays_offline_miners(tmp_path: Path, s3: Any, wallet_dir: Path) -> None:
    rounds = 3
    subnet = Subnet(tmp_path, s3, wallet_dir)
    _, v_uid = subnet.register("off_validator", validator=True)
    w_dead, dead = subnet.register("off_dead_axon")
    subnet.chain(w_dead.hotkey.ss58_address).serve_sync(w_dead.hotkey.ss58_address, "127.0.0.1", _closed_port())
    w_none, silent = subnet.register("off_no_axon")
    db = tmp_path / "validator.db"
    cfg = subnet.validator_config(
        "off_validator", db, upscaling_types=[], miners_per_round=1, max_rounds=rounds, round_interval_s=0,
        capabilities_timeout_s=2.0,
    )  # fmt: skip
    specs = [MinerSpec(f"off_online_{c}", compression_caps(), st.quick_compression(30)) for c in "ab"]
    seen: list[RoundStats] = []
    async with run_miners(subnet, specs) as miners:
        repo = Repository.open(cfg.db, cfg.scoring)
        try:
            before = {dead: _seed(repo, dead, w_dead.hotkey.ss58_address),
                      silent: _seed(repo, silent, w_none.hotkey.ss58_address)}  # fmt: skip
            before.update({m.uid: _seed(repo, m.uid, m.hotkey) for m in miners.values()})
        finally:
            repo.close()
        assert await run_validator(cfg, on_round=seen.append) == rounds  # a fresh process: empty caches
    assert [s.status for s in seen] == ["finished"] * rounds
    acc = dict(_rows(db, "SELECT uid, accumulate_score FROM miner_metadata"))
    missed = _rows(db, "SELECT uid, reason FROM miner_round_history WHERE status = 'unreachable' ORDER BY id")
    for uid in (dead, silent):
        assert acc[uid] == pytest.approx(before[uid] * 0.75**rounds, rel=1e-12)  # 0.75^N
        assert sum(1 for u, _ in missed if u == uid) == rounds
    reasons = {u: r for u, r in missed}
    assert reasons[silent] == "no axon served" and reasons[dead].startswith("/capabilities failed")
    online = {m.uid for m in miners.values()}
    assert not online & {u for u, _ in missed}  # reachable miners never get a missed round
    drawn = dict(_rows(db, "SELECT uid, count(*) FROM miner_round_history WHERE round_id LIKE 'r%' "
                           "AND status != 'unreachable' GROUP BY uid"))  # fmt: skip
    assert sum(drawn.values()) == rounds  # miners_per_round = 1
    for uid in online - set(drawn):
        assert acc[uid] == pytest.approx(before[uid])  # never drawn: untouched
    # the weights set after the first round already carry the first decay (all four are compression
    # miners: the empty upscaling pool hands its share over, so weight = accumulate / sum)
    first = seen[0].round_id
    at_first = {**before, **dict(_rows(db, f"SELECT uid, accumulate_score FROM miner_round_history "
                                           f"WHERE round_id = '{first}'"))}  # fmt: skip
    assert at_first[dead] == pytest.approx(before[dead] * 0.75)
    (weights_json,) = _rows(db, "SELECT weights FROM weight_sets WHERE success = 1 ORDER BY id LIMIT 1")[0]
    weights = {int(k): v for k, v in json.loads(weights_json).items()}
    total = sum(at_first.values())
    assert weights == pytest.approx({u: a / total for u, a in at_first.items()}) and v_uid not in weights


async def test_missed_rounds_drive_the_weight_to_zero_on_chain(tmp_path: Path) -> None:
    """The EMA never reaches exactly 0, but the weight the chain holds does: once the offline
    miner's share rounds to 0 in u16 it is dropped, and stays dropped."""
    cfg = ScoringConfig(_env_file=None, weights_interval=1)
    repo = Repository.open(DbConfig(path=tmp_path / "v.db"), cfg)
    chain = LocalnetChain(tmp_path / "chain.sqlite", hotkey="VAL", netuid=1)
    chain.register("VAL", stake=1e4, validator_permit=True)
    uids = {hk: chain.register(hk) for hk in ("offline-1", "offline-2", "steady")}

    async def no_sleep(_s: float) -> None:
        return None

    setter = WeightSetter(chain, repo, cfg, sleep=no_sleep)
    try:
        for hk, uid in uids.items():
            _seed(repo, uid, hk)
        start = {s.uid: s.accumulate_score for s in repo.standings()}
        dropped_at = None
        for n in range(1, 80):
            for hk in ("offline-1", "offline-2"):
                repo.record_result(RoundResult(round_id=f"r{n}", task_id=f"r{n}-c{uids[hk]}", uid=uids[hk], hotkey=hk,
                                               task_type="compression", status="unreachable", reason="no axon served",
                                               score=0.0))  # fmt: skip
            repo.record_result(RoundResult(round_id=f"r{n}", task_id=f"r{n}-c{uids['steady']}", uid=uids["steady"],
                                           hotkey="steady", task_type="compression", status="ok", score=HIGH,
                                           vmaf=95.0, vmaf_threshold=70.0))  # fmt: skip
            acc = {s.uid: s.accumulate_score for s in repo.standings()}
            off = uids["offline-1"]
            assert acc[off] == pytest.approx(start[off] * 0.75**n, rel=1e-9)
            out = await setter.set_weights(await chain.metagraph())
            assert out.success
            on_chain = chain.weights_of(0)
            if off not in on_chain and dropped_at is None:
                dropped_at = n
            if dropped_at is not None:
                assert off not in on_chain and uids["offline-2"] not in on_chain
                assert on_chain == {uids["steady"]: pytest.approx(1.0)}
        assert dropped_at is not None and 30 <= dropped_at <= 60, dropped_at
    finally:
        repo.close()
