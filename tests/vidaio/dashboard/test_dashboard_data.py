"""The dashboard's read-only queries on a DB filled through the real Repository."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from dashboard_seed import ROUNDS, roster, seed_database
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from vidaio.dashboard.data import DashboardData, DashboardDataError


def raw(db: Path, sql: str) -> list[sqlite3.Row]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        return list(con.execute(sql))
    finally:
        con.close()


def test_leaderboard_is_miner_metadata_with_weights_and_last_results(seeded_db: Path) -> None:
    data = DashboardData(seeded_db)
    try:
        board = data.leaderboard()
    finally:
        data.close()
    meta = {r["uid"]: r for r in raw(seeded_db, "SELECT * FROM miner_metadata")}
    rows = [r for pool in board["pools"].values() for r in pool]
    assert sorted(r["uid"] for r in rows) == sorted(meta)
    for r in rows:
        m = meta[r["uid"]]
        assert r["task_type"] == m["task_type"] and r["accumulate_score"] == m["accumulate_score"]
        assert r["total_multiplier"] == m["total_multiplier"] and r["hotkey"] == m["hotkey"]
    for task_type, pool in board["pools"].items():
        assert all(r["task_type"] == task_type for r in pool)
        assert [r["rank"] for r in pool] == list(range(1, len(pool) + 1))
        assert [r["accumulate_score"] for r in pool] == sorted((r["accumulate_score"] for r in pool), reverse=True)
        shares = [r["pool_share"] for r in pool if r["pool_share"] is not None]
        assert sum(shares) == pytest.approx(1.0)
    last_ws = raw(seeded_db, "SELECT weights FROM weight_sets WHERE success = 1 ORDER BY id DESC LIMIT 1")[0]
    weights = {int(k): v for k, v in json.loads(last_ws["weights"]).items()}
    assert {r["uid"]: r["last_weight"] for r in rows} == weights
    flaky = next(r for r in rows if r["uid"] == 3)  # fails on even rounds; the last (6th) failed
    assert flaky["last_status"] == "timeout" and flaky["last_reason"].startswith("timeout:")


def test_miner_history_marks_the_task_type_switch_and_numbers_results(seeded_db: Path) -> None:
    data = DashboardData(seeded_db)
    try:
        m4 = data.miner(4)
        m5 = data.miner(5)
        assert data.miner(999) is None
    finally:
        data.close()
    assert m4 is not None and m5 is not None
    assert [r["n"] for r in m4["history"]] == list(range(1, ROUNDS + 1))  # integer axis, oldest first
    assert [mk["n"] for mk in m4["markers"]] == [4]
    assert "compression → upscaling" in m4["markers"][0]["label"]
    # uid 5 changed hotkey in round 3: the validator reset it (old history deleted), so it starts afresh
    assert {r["hotkey"] for r in m5["history"]} == {roster(3)[4][2]}
    assert m5["meta"]["hotkey"] == roster(3)[4][2] and len(m5["history"]) == ROUNDS - 2


def test_rounds_count_results_live_and_carry_the_time_breakdown(tmp_path: Path) -> None:
    db = tmp_path / "running.db"
    seed_database(db, rounds=3, leave_running=True).close()
    data = DashboardData(db)
    try:
        rounds = data.rounds()
    finally:
        data.close()
    by_id = {r["round_id"]: r for r in rounds["rounds"]}
    assert rounds["running"]["round_id"] == "round-003"
    assert by_id["round-003"]["recorded"] == len(roster(3)) and by_id["round-003"]["timings"] is None
    assert by_id["round-003"]["duration_s"] is not None  # running: time since its start
    assert by_id["round-001"]["timings"]["prepare_s"] == 3.0 and by_id["round-001"]["duration_s"] == 46.0
    for rid, r in by_id.items():  # exactly the DB's rows (uid 5's round-2 row went with its hotkey reset)
        rows = raw(db, f"SELECT status, COUNT(*) AS n FROM miner_round_history WHERE round_id = '{rid}' GROUP BY status")
        assert r["statuses"] == {x["status"]: x["n"] for x in rows} and r["recorded"] == sum(x["n"] for x in rows)
    assert by_id["round-002"]["statuses"]["timeout"] == 1


def test_weights_split_recorded_when_present_else_computed(seeded_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    shutil.copy(seeded_db, db)
    data = DashboardData(db)
    try:
        sets = data.weights()
    finally:
        data.close()
    last = sets["last_success"]
    assert last["split_source"] == "recorded" and last["pool_target"] == {"compression": 0.6, "upscaling": 0.4}
    assert last["pool_split"]["compression"] == pytest.approx(0.6) and last["pool_split"]["upscaling"] == pytest.approx(0.4)
    assert [ws["success"] for ws in sets["weight_sets"]].count(0) == 1  # the failed attempt is listed
    oldest = sets["weight_sets"][-1]  # before the split was stored: summed by the uids' current task types
    assert oldest["split_source"] == "computed" and oldest["pool_split"]["upscaling"] == pytest.approx(0.55)
    cols = {r["name"] for r in raw(db, "PRAGMA table_info(weight_sets)")}
    if "split" not in cols:
        pytest.skip("this schema has no weight_sets.split column")
    split = {"target": {"compression": 0.6, "upscaling": 0.4}, "effective": {"compression": 0.5999, "upscaling": 0.4001},
             "kept": True, "note": ""}  # fmt: skip
    con = sqlite3.connect(db)
    con.execute("UPDATE weight_sets SET split = ? WHERE id = (SELECT MAX(id) FROM weight_sets)", (json.dumps(split),))
    con.commit()
    con.close()
    data = DashboardData(db)
    try:
        last = data.weights()["last_success"]
    finally:
        data.close()
    assert last["split_source"] == "recorded" and last["pool_split"]["compression"] == 0.5999
    assert last["pool_target"] == {"compression": 0.6, "upscaling": 0.4}


def test_the_connection_is_read_only(seeded_db: Path) -> None:
    data = DashboardData(seeded_db)
    try:
        with pytest.raises(OperationalError, match="readonly"):
            with data._engine.begin() as conn:
                conn.execute(text("UPDATE miner_metadata SET accumulate_score = 0"))
    finally:
        data.close()


def test_missing_or_foreign_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DashboardDataError, match="no database file"):
        DashboardData(tmp_path / "nope.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(DashboardDataError, match="not a vidaio validator database"):
        DashboardData(other)
