"""Operator-shaped logs (issue 16.3) from a real localnet round: every task sent has exactly one
validator `task` line and one miner `task` line with the listed fields, and the validator's numbers
are the ones in the DB; the round starts with a `round_start` line naming the uids asked."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from vidaio.localnet.config import LocalnetSettings
from vidaio.tasklog import parse_kv

pytestmark = [pytest.mark.slow, pytest.mark.integration]

VALIDATOR_FIELDS = {"round", "uid", "hotkey", "task", "type", "status", "score", "vmaf", "reason", "accumulate",
                    "seconds"}  # fmt: skip
MINER_FIELDS = {"task", "validator_uid", "type", "codec", "threshold", "scale", "input_bytes", "output_bytes",
                "seconds", "status", "engine"}  # fmt: skip


def _lines(path: Path, role: str) -> list[dict[str, str]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if " task role=" in line:
            kv = parse_kv(line.split(" task ", 1)[1])
            if kv.get("role") == role:
                out.append(kv)
    return out


def _num(text: str) -> float | None:
    return None if text == "-" else float(text)


def _close(logged: str, stored: float | None) -> bool:
    value = _num(logged)
    if value is None or stored is None:
        return value is None and stored is None
    # scores are logged rounded to 6 decimals (0.037111 for 0.0371105...), other values to 6 significant digits
    return math.isclose(value, stored, rel_tol=1e-5, abs_tol=5e-7)


def test_one_line_per_task_on_both_sides_matching_the_db(tmp_path: Path) -> None:
    from vidaio.localnet.runner import run_localnet

    cfg = LocalnetSettings(dir=tmp_path / "ln", rounds=1, profile="tiny", dashboard=False, metrics=False)  # type: ignore[call-arg]
    report = run_localnet(cfg)
    assert report.error is None, report.error
    logs = tmp_path / "ln" / "logs"
    con = sqlite3.connect(f"file:{tmp_path / 'ln' / 'validator.db'}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    rows: list[Any] = con.execute("SELECT * FROM miner_round_history").fetchall()
    con.close()
    assert len(rows) == report.tasks_sent > 0

    v_lines = _lines(logs / "validator.log", "validator")
    by_task = {}
    for kv in v_lines:
        assert VALIDATOR_FIELDS <= kv.keys(), kv
        assert kv["task"] not in by_task, f"two validator lines for {kv['task']}"
        by_task[kv["task"]] = kv
    m_lines = [kv for f in logs.glob("miner-*.log") for kv in _lines(f, "miner")]
    m_by_task: dict[str, list[dict[str, str]]] = {}
    for kv in m_lines:
        assert MINER_FIELDS <= kv.keys(), kv
        m_by_task.setdefault(kv["task"], []).append(kv)

    assert set(by_task) == {r["task_id"] for r in rows}
    for r in rows:
        v = by_task[r["task_id"]]
        assert (int(v["uid"]), v["hotkey"], v["type"], v["status"]) == (r["uid"], r["hotkey"], r["task_type"],
                                                                         r["status"])  # fmt: skip
        assert v["round"] == r["round_id"]
        assert _close(v["score"], r["s_f"]) and _close(v["vmaf"], r["vmaf"]), (v, dict(r))
        assert _close(v["accumulate"], r["accumulate_score"]), (v, dict(r))
        if r["task_type"] == "compression":
            assert _close(v["c"], r["compression_rate"])
        else:
            assert _close(v["pieapp"], r["pieapp"])
        assert (v["reason"] == "-") == (r["reason"] is None)
        if r["status"] != "unreachable":  # the task was sent: the miner logged it exactly once
            (m,) = m_by_task[r["task_id"]]
            assert m["type"] == r["task_type"] and int(m["validator_uid"]) == 0
            if r["task_type"] == "compression":
                assert _close(m["threshold"], r["vmaf_threshold"])
            if m["status"] == "ok":
                assert int(m["output_bytes"]) > 0 and m["engine"] != "-"

    text = (logs / "validator.log").read_text()
    starts = [parse_kv(ln.split(" round_start ", 1)[1]) for ln in text.splitlines() if " round_start " in ln]
    assert len(starts) == 1
    asked = {int(u) for u in starts[0]["asked"].split(",")}
    assert asked == {r["uid"] for r in rows if r["status"] != "unreachable"}
    assert text.count("weights set on") == 1  # each weight set logged once (1 round, weights every round)
