"""`vidaio localnet` end to end (tiny profile): the CI smoke test and a Ctrl-C in the middle of a round.

Each runs the real CLI in a subprocess: moto S3, the SIMULATED chain file, one validator and five
miner processes talking signed HTTP. Budget on 2 idle cores: about 3 min for the smoke test and
1-2 min for the interruption test.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.procs import alive
from vidaio.localnet.progress import read_progress

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[3]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_") or k == "VIDAIO_WEIGHTS_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cmd(directory: Path, rounds: int) -> list[str]:
    return [
        sys.executable, "-m", "vidaio.cli.main", "localnet", "--profile", "tiny", "--rounds", str(rounds),
        "--dir", str(directory), "--json",
    ]  # fmt: skip


def _db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_localnet_smoke_two_rounds(tmp_path: Path) -> None:
    directory = tmp_path / "ln"
    started = time.monotonic()
    proc = subprocess.run(
        _cmd(directory, 2), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    assert report["error"] is None and not report["interrupted"]

    # every process exited cleanly: the validator by itself after 2 rounds, the others on SIGINT
    assert set(report["exit_codes"]) == {
        "s3", "validator", "miner-search", "miner-lazy", "miner-model", "miner-lanczos", "miner-cheater", "dashboard",
    }  # fmt: skip
    assert all(code == 0 for code in report["exit_codes"].values()), report["exit_codes"]
    assert report["stop_signals"]["validator"] is None
    assert {report["stop_signals"][n] for n in report["exit_codes"] if n != "validator"} == {"SIGINT"}
    assert not [n for n, pid in report["pids"].items() if alive(pid)]

    miners = {m["name"]: m for m in report["miners"]}
    # the cheater returned the reference: recorded with reason same_as_reference, scored 0
    cheater = miners["miner-cheater"]
    assert cheater["results"] == 2 and cheater["reasons"].get("same_as_reference") == 2
    assert cheater["accumulate_score"] == 0.0 and cheater["weight"] == 0.0
    db = Path(report["paths"]["validator_db"])
    rows = _db_rows(db, f"SELECT s_f, reason FROM miner_round_history WHERE uid = {cheater['uid']}")
    assert len(rows) == 2 and all(s_f == 0 and "same_as_reference" in reason for s_f, reason in rows)

    # searching beats lazy
    search, lazy = miners["miner-search"], miners["miner-lazy"]
    assert search["accumulate_score"] > lazy["accumulate_score"], (search, lazy)

    # weights: 0.6 compression / 0.4 upscaling, the same on the chain file as in the report
    # (the chain holds u16-quantised weights, as subtensor does: 60/40 within the quantisation step)
    assert report["pool_share"]["compression"] == pytest.approx(0.6, abs=1e-4)
    assert report["pool_share"]["upscaling"] == pytest.approx(0.4, abs=1e-4)
    assert sum(report["weights"].values()) == pytest.approx(1.0, abs=1e-4)
    assert report["weight_set_successes"] >= 1

    # one history row per task sent, every round finished
    rounds = _db_rows(db, "SELECT round_id, status, task_count FROM rounds")
    assert len(rounds) == 2 and {status for _, status, _ in rounds} == {"finished"}
    per_round = dict(_db_rows(db, "SELECT round_id, COUNT(*) FROM miner_round_history GROUP BY round_id"))
    assert {rid: count for rid, _, count in rounds} == per_round
    assert sum(count for _, _, count in rounds) == report["tasks_sent"] == report["results_recorded"] == 10
    assert _db_rows(db, "SELECT COUNT(DISTINCT task_id) = COUNT(*) FROM miner_round_history") == [(1,)]
    assert (directory / "summary.json").is_file() and not (directory / "localnet.pid").exists()
    print(f"localnet smoke: {elapsed:.0f}s wall")


def test_localnet_ctrl_c_mid_round_stops_everything(tmp_path: Path) -> None:
    directory = tmp_path / "ln"
    proc = subprocess.Popen(
        _cmd(directory, 3),
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if any(not r.done for r in read_progress(directory / "validator.db").rounds):
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(2.0)  # tasks are out: the miners are working
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-3000:]
    report = json.loads(out)
    assert report["interrupted"] and report["error"] is None
    assert all(code == 0 for code in report["exit_codes"].values()), report["exit_codes"]
    assert not [n for n, pid in report["pids"].items() if alive(pid)]
    db = directory / "validator.db"
    assert _db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    statuses = [s for (s,) in _db_rows(db, "SELECT status FROM rounds")]
    assert statuses and "running" not in statuses
    # a result and its miner_metadata row are written together: no orphan, no double count
    assert _db_rows(
        db,
        "SELECT COUNT(*) FROM miner_round_history h LEFT JOIN miner_metadata m ON m.uid = h.uid "
        "WHERE m.uid IS NULL",
    ) == [(0,)]
    assert not (directory / "localnet.pid").exists()
