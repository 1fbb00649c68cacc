"""Scraping /metrics of the validator and the miners during a real localnet round (tiny profile).

`vidaio localnet` enables Prometheus on every neuron (free loopback ports, in the env files) and
starts the dashboard. While the rounds run, the validator's counters move and, whenever its DB
writes are at rest, equal the DB: tasks planned = the rounds' task counts, tasks recorded = the
history rows, by status. After the validator exits (the miners keep running), each miner's
received/completed/failed counters equal that uid's rows in the DB. The dashboard answers meanwhile.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from vidaio.dashboard.data import has_schema

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROUNDS = 2


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_") or k == "VIDAIO_WEIGHTS_DIR"}
    out["PYTHONUNBUFFERED"] = "1"
    return out


def metrics_port(env_file: Path) -> int | None:
    m = re.search(r"^VIDAIO_PROMETHEUS__PORT='(\d+)'", env_file.read_text(), re.M) if env_file.is_file() else None
    return int(m.group(1)) if m else None


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}  # fmt: skip


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in samples.items() if n == name and all(dict(lab).get(k) == x for k, x in labels.items()))


def dashboard_answers(directory: Path) -> int:
    """1 when the dashboard started by localnet (URL in its log) answers /api/rounds, else 0."""
    log = directory / "logs" / "dashboard.log"
    m = re.search(r"dashboard: (http://\S+)", log.read_text(errors="replace")) if log.is_file() else None
    if not m:
        return 0
    try:
        return int(httpx.get(m.group(1) + "api/rounds", timeout=5).status_code == 200)
    except httpx.HTTPError:
        return 0


def db_state(db: Path) -> dict[str, object]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rounds = con.execute("SELECT status, task_count FROM rounds").fetchall()
        statuses = dict(con.execute("SELECT status, COUNT(*) FROM miner_round_history GROUP BY status").fetchall())
        per_uid = con.execute("SELECT uid, status, COUNT(*) FROM miner_round_history GROUP BY uid, status").fetchall()
    finally:
        con.close()
    return {"planned": sum(n for _, n in rounds), "finished": sum(1 for s, _ in rounds if s == "finished"),
            "statuses": statuses, "rows": sum(statuses.values()), "per_uid": per_uid}  # fmt: skip


def test_metrics_follow_the_database_during_a_localnet_round(tmp_path: Path) -> None:
    directory = tmp_path / "ln"
    cmd = [sys.executable, "-m", "vidaio.cli.main", "localnet", "--profile", "tiny", "--rounds", str(ROUNDS),
           "--dir", str(directory), "--json", "--keep-running"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = directory / "validator.db"
    matches, recorded_seen, dashboard_ok = 0, set(), 0
    try:
        deadline = time.monotonic() + 900
        vport = None
        while vport is None and time.monotonic() < deadline and proc.poll() is None:
            vport = metrics_port(directory / "env" / "validator.env")
            time.sleep(0.5)
        assert vport, f"no validator metrics port; stderr: {proc.stderr.read()[-2000:] if proc.poll() is not None else ''}"
        # --- during the rounds: validator counters == DB when its writes are at rest
        finished = False
        while time.monotonic() < deadline and proc.poll() is None:
            before = db_state(db) if has_schema(db) else None
            samples = scrape(vport)
            after = db_state(db) if has_schema(db) else None
            if samples is None:
                if after is not None and after["finished"] >= ROUNDS:
                    finished = True
                    break  # the validator exited after its rounds
                time.sleep(0.2)
                continue
            recorded = total(samples, "vidaio_validator_tasks_recorded_total")
            recorded_seen.add(recorded)
            if before is not None and before == after and after["finished"] >= 1:
                by_status = {s: total(samples, "vidaio_validator_tasks_recorded_total", status=s) for s in after["statuses"]}
                if recorded == after["rows"] and by_status == after["statuses"] and (
                    total(samples, "vidaio_validator_tasks_planned_total") == after["planned"]
                ):
                    matches += 1
            dashboard_ok += dashboard_answers(directory)
            time.sleep(0.1)
        assert finished, f"localnet did not finish its rounds; stderr: {proc.stderr.read()[-3000:] if proc.poll() is not None else ''}"
        assert matches >= 1, f"no scrape matched the DB at rest (recorded values seen: {sorted(recorded_seen)})"
        assert len(recorded_seen) >= 2, "the validator's counters never moved"
        assert dashboard_ok >= 1, "the dashboard never answered during the rounds"
        # --- the validator is gone, the miners keep running: their counters equal the DB per uid
        final = db_state(db)
        assert final["finished"] == ROUNDS
        rows_by_uid: dict[int, Counter[str]] = {}
        for uid, status, n in final["per_uid"]:
            rows_by_uid.setdefault(uid, Counter())[status] += n
        uid_of = {}
        for env_file in (directory / "env").glob("miner-*.env"):
            text = env_file.read_text()
            uid_of[env_file.stem] = metrics_port(env_file)
            assert "VIDAIO_PROMETHEUS__ENABLED='true'" in text
        report_miners: dict[str, dict[str, float]] = {}
        for name, port in uid_of.items():
            assert port is not None
            samples = scrape(port)
            assert samples is not None, f"{name} metrics not answering"
            report_miners[name] = {
                "received": total(samples, "vidaio_miner_tasks_received_total"),
                "completed": total(samples, "vidaio_miner_tasks_completed_total"),
                "failed": total(samples, "vidaio_miner_tasks_failed_total"),
                "refused": total(samples, "vidaio_miner_admission_refusals_total"),
                "in_progress": total(samples, "vidaio_miner_tasks_in_progress"),
            }
        assert sum(m["received"] for m in report_miners.values()) == final["rows"], (report_miners, final)
        for name, m in report_miners.items():
            assert m["received"] == m["completed"] + m["failed"] and m["in_progress"] == 0, (name, m)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    report = json.loads(out)
    assert report["error"] is None, report["error"]
    assert report["urls"]["dashboard"].startswith("http://127.0.0.1:")
    assert {k for k in report["urls"] if k.endswith(" metrics")} >= {"validator metrics"}
    # per uid: each miner's received == its rows, failed == its miner_error rows
    names_by_uid = {m["uid"]: m["name"] for m in report["miners"]}
    for uid, counts in rows_by_uid.items():
        m = report_miners[names_by_uid[uid]]
        assert m["received"] == sum(counts.values()), (names_by_uid[uid], m, counts)
        assert m["failed"] == counts.get("miner_error", 0), (names_by_uid[uid], m, counts)
