"""One real round: signed HTTP to in-process miners playing strategies, moto S3, localnet chain,
synthesised tiny clips, real scoring (VMAF; PIE-APP with random weights, flagged). Every miner gets
its expected status and reason in `miner_round_history`, honest miners rank first, and the weights
written through the chain port split 0.6 / 0.4 between the pools."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import validator_strategies as st
from validator_support import (
    MinerSpec,
    Subnet,
    compression_caps,
    run_miners,
    upscaling_caps,
)

from vidaio.storage.s3 import S3Store
from vidaio.validator.daemon import run_validator
from vidaio.validator.loop import RoundStats

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SPECS = [
    MinerSpec("c_honest_a", compression_caps(), st.honest_compression(20, post=True)),
    MinerSpec("c_honest_b", compression_caps(), st.honest_compression(30)),
    MinerSpec("c_copier", compression_caps(), st.copier()),
    MinerSpec("c_reference", compression_caps(), st.reference_copy()),
    MinerSpec("c_wrong_codec", compression_caps(), st.wrong_codec()),
    MinerSpec("c_oversized", compression_caps(), st.oversized()),
    MinerSpec("c_timeout", compression_caps(), st.sleeper()),
    MinerSpec("c_crash", compression_caps(), st.crasher()),
    MinerSpec("u_lanczos", upscaling_caps(), st.lanczos_upscaling()),
    MinerSpec("u_garbage", upscaling_caps(), st.garbage()),
    MinerSpec("u_wrong_res", upscaling_caps(), st.wrong_resolution()),
    MinerSpec("u_private", upscaling_caps(), st.private_url()),
]

# name -> (status, token in the reason, score is positive)
EXPECTED: dict[str, tuple[str, str | None, bool]] = {
    "c_honest_a": ("ok", None, True),
    "c_honest_b": ("ok", None, True),
    "c_copier": ("invalid", "duplicate_submission", False),
    "c_reference": ("invalid", "same_as_reference", False),
    "c_wrong_codec": ("invalid", "wrong_codec", False),
    "c_oversized": ("invalid", "oversized", False),
    "c_timeout": ("timeout", "504", False),
    "c_crash": ("refused", "HTTP 500", False),
    "u_lanczos": ("ok", None, True),
    "u_garbage": ("invalid", "not_a_video", False),
    "u_wrong_res": ("invalid", "wrong_resolution", False),
    "u_private": ("fetch_failed", "private_address", False),
}


def _rows(db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


async def test_round_with_every_strategy(tmp_path: Path, s3: Any, wallet_dir: Path) -> None:
    subnet = Subnet(tmp_path, s3, wallet_dir)
    _, v_uid = subnet.register("validator", validator=True)
    db = tmp_path / "validator.db"
    cfg = subnet.validator_config("validator", db, upscaling_group_size=4)
    seen: list[RoundStats] = []
    async with run_miners(subnet, SPECS) as miners:
        rounds = await run_validator(cfg, on_round=seen.append)
    assert rounds == 1 and len(seen) == 1
    stats = seen[0]
    assert stats.status == "finished" and stats.planned == len(SPECS) == stats.recorded
    assert stats.random_weights  # PIE-APP ran with random weights and says so

    by_uid = {m.uid: name for name, m in miners.items()}
    rows = _rows(db, "SELECT * FROM miner_round_history ORDER BY uid")
    assert len(rows) == len(SPECS)
    assert {r["task_id"] for r in rows} == {f"{stats.round_id}-{'c' if by_uid[r['uid']][0] == 'c' else 'u'}{r['uid']}" for r in rows}
    for r in rows:
        name = by_uid[r["uid"]]
        status, token, positive = EXPECTED[name]
        assert r["status"] == status, (name, r["status"], r["reason"])
        if token is not None:
            assert token in (r["reason"] or ""), (name, r["reason"])
        assert (r["s_f"] > 0) is positive, (name, r["s_f"], r["reason"])
        assert r["round_id"] == stats.round_id and r["hotkey"] == miners[name].hotkey
    up = next(r for r in rows if by_uid[r["uid"]] == "u_lanczos")
    assert up["vmaf"] is not None and up["pieapp"] is not None and '"pieapp_random_weights": true' in up["params"]
    comp = next(r for r in rows if by_uid[r["uid"]] == "c_honest_a")
    assert 0 < comp["compression_rate"] < 1 and comp["vmaf_threshold"] == 70.0 and '"codec": "hevc"' in comp["params"]

    # honest miners rank first in their pool
    meta = {by_uid[r["uid"]]: r for r in _rows(db, "SELECT * FROM miner_metadata")}
    assert set(meta) == set(EXPECTED)
    honest = {"c_honest_a", "c_honest_b", "u_lanczos"}
    assert all(meta[n]["accumulate_score"] > 0 for n in honest)
    assert all(meta[n]["accumulate_score"] == 0 for n in set(meta) - honest)
    assert all(meta[n]["total_rounds_completed"] == 1 for n in meta)

    # the round is closed, the weights went through the chain port: 0.6 compression / 0.4 upscaling
    (rnd,) = _rows(db, "SELECT * FROM rounds")
    assert rnd["status"] == "finished" and rnd["task_count"] == len(SPECS)
    sets = _rows(db, "SELECT * FROM weight_sets")
    assert len(sets) == 1 and sets[0]["success"] == 1 and sets[0]["round_id"] == stats.round_id
    on_chain = subnet.chain("x").weights_of(v_uid)
    uid = {n: miners[n].uid for n in honest}
    assert set(on_chain) == set(uid.values())
    # the chain holds u16-quantised weights (as subtensor does): 60/40 within the quantisation step
    assert on_chain[uid["c_honest_a"]] + on_chain[uid["c_honest_b"]] == pytest.approx(0.6, abs=1e-4)
    assert on_chain[uid["u_lanczos"]] == pytest.approx(0.4, abs=1e-4)

    # inputs deleted from the validator's bucket, downloads and clips removed
    store = S3Store(s3.storage_config(subnet.validator_bucket))
    try:
        assert await store.list() == []
    finally:
        store.close()
    assert not any((tmp_path / "work").iterdir())
    assert not any(p.is_dir() for p in (tmp_path / "tasks").iterdir())
