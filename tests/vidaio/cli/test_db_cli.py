"""`vidaio db ...` on a seeded database: JSON/CSV for scripts, tables for people, clear errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scoring.config import ScoringConfig
from vidaio.cli.db import db_app
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult

runner = CliRunner()


def _result(i: int, uid: int) -> RoundResult:
    task = "compression" if uid in (1, 2) else "upscaling"
    good = {1: 0.85, 2: 0.5, 3: 0.6, 4: 0.2}[uid]
    failed = uid == 4 and i % 3 == 0
    return RoundResult(
        round_id=f"r{i}", task_id=f"t{i}-{uid}", uid=uid, hotkey=f"5Hotkey{uid}xxxxxxxxxxxxxxxx", task_type=task,
        params={"n": i}, status="timeout" if failed else "ok", reason="no answer" if failed else None,
        score=0.0 if failed else good, vmaf=None if failed else 93.0,
        vmaf_threshold=85.0 if task == "compression" else None, s_q=0.5 if task == "upscaling" else None,
    )  # fmt: skip


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-db") / "validator.db"
    repo = Repository.open(DbConfig(path=path), ScoringConfig())
    try:
        for i in range(6):
            repo.start_round(f"r{i}", block=100 + i)
            for uid in (1, 2, 3, 4):
                repo.record_result(_result(i, uid))
            repo.finish_round(f"r{i}")
        repo.log_weight_set({1: 0.4, 2: 0.2, 3: 0.3, 4: 0.1}, success=False, message="rate limited", block=360)
        repo.log_weight_set({1: 0.4, 2: 0.2, 3: 0.3, 4: 0.1}, success=True, block=361, attempt=2)
    finally:
        repo.close()
    return path


def _ok(*args: str) -> str:
    out = runner.invoke(db_app, list(args))
    assert out.exit_code == 0, out.output
    return out.stdout


def test_leaderboard_json_ranks_within_each_task(seeded_db: Path) -> None:
    rows = json.loads(_ok("leaderboard", "--json", "--db", str(seeded_db)))
    assert [(r["task_type"], r["uid"], r["rank"]) for r in rows] == [
        ("compression", 1, 1), ("compression", 2, 2), ("upscaling", 3, 1), ("upscaling", 4, 2),
    ]  # fmt: skip
    assert rows[0]["total_rounds_completed"] == 6 and rows[0]["last_update_timestamp"].endswith("Z")
    assert rows[3]["success_rate"] == pytest.approx(4 / 6)


def test_leaderboard_csv_matches_json(seeded_db: Path) -> None:
    as_json = json.loads(_ok("leaderboard", "--task", "upscaling", "--json", "--db", str(seeded_db)))
    as_csv = list(csv.DictReader(io.StringIO(_ok("leaderboard", "--task", "upscaling", "--csv", "--db", str(seeded_db)))))
    assert [int(r["uid"]) for r in as_csv] == [r["uid"] for r in as_json] == [3, 4]
    assert set(as_csv[0]) == set(as_json[0])  # every column
    assert float(as_csv[0]["accumulate_score"]) == pytest.approx(as_json[0]["accumulate_score"])


def test_leaderboard_table_from_env_path(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDAIO_DB__PATH", str(seeded_db))
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: no wrapped cells
    text = _ok("leaderboard")
    assert "Leaderboard" in text and "5Hotkey1" in text and "compression" in text


def test_miner_and_history(seeded_db: Path) -> None:
    miner = json.loads(_ok("miner", "4", "--json", "--db", str(seeded_db)))
    assert miner["uid"] == 4 and miner["successful_rounds"] == 4 and miner["performance_tier"] == "New"
    assert "penalty_q_multiplier" in _ok("miner", "4", "--db", str(seeded_db))
    rows = json.loads(_ok("history", "4", "--limit", "3", "--json", "--db", str(seeded_db)))
    assert [r["task_id"] for r in rows] == ["t5-4", "t4-4", "t3-4"]
    assert rows[2]["status"] == "timeout" and rows[2]["reason"] == "no answer" and rows[2]["params"] == {"n": 3}
    history_csv = list(csv.DictReader(io.StringIO(_ok("history", "4", "--csv", "--db", str(seeded_db)))))
    assert len(history_csv) == 6 and json.loads(history_csv[-1]["params"]) == {"n": 0}


def test_weights_newest_first(seeded_db: Path) -> None:
    rows = json.loads(_ok("weights", "--last", "1", "--json", "--db", str(seeded_db)))
    assert len(rows) == 1 and rows[0]["success"] is True and rows[0]["block"] == 361
    assert rows[0]["weights"] == {"1": 0.4, "2": 0.2, "3": 0.3, "4": 0.1}
    assert "rate limited" in _ok("weights", "--db", str(seeded_db))
    rounds = json.loads(_ok("rounds", "--last", "2", "--json", "--db", str(seeded_db)))
    assert [r["round_id"] for r in rounds] == ["r5", "r4"] and rounds[0]["status"] == "finished"


def test_reads_do_not_wait_for_a_writer_holding_the_lock(seeded_db: Path) -> None:
    writer = sqlite3.connect(seeded_db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE miner_metadata SET accumulate_score = 99 WHERE uid = 1")
        rows = json.loads(_ok("leaderboard", "--json", "--db", str(seeded_db)))
        assert rows[0]["accumulate_score"] < 99  # uncommitted write invisible, no lock error
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["miner", "42"], 1, "no miner with uid 42"),
        (["leaderboard", "--json", "--csv"], 2, "choose one of --json and --csv"),
    ],
)
def test_errors_are_one_line(seeded_db: Path, args: list[str], code: int, message: str) -> None:
    out = runner.invoke(db_app, [*args, "--db", str(seeded_db)])
    assert out.exit_code == code and message in out.stderr and "Traceback" not in out.output


def test_missing_or_unmigrated_database(tmp_path: Path) -> None:
    out = runner.invoke(db_app, ["leaderboard", "--db", str(tmp_path / "nope.db")])
    assert out.exit_code == 1 and "no database file" in out.stderr
    assert not (tmp_path / "nope.db").exists()
    sqlite3.connect(tmp_path / "empty.db").close()
    out = runner.invoke(db_app, ["history", "1", "--db", str(tmp_path / "empty.db")])
    assert out.exit_code == 1 and "no vidaio schema" in out.stderr


def test_upgrade_creates_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "new" / "v.db"
    assert "schema at revision" in _ok("upgrade", "--db", str(path))
    assert json.loads(_ok("leaderboard", "--json", "--db", str(path))) == []
