"""The dashboard keeps answering while validators write at full speed, and never writes to the DB.

Writers: two processes of the DB tests' worker (`tests/vidaio/db/db_worker.py write`), each
recording results through the real Repository as fast as it can (the validator's DB writer).
Meanwhile every page and API of a real `vidaio dashboard` process is fetched in a loop: every
answer is 200, no `database is locked` anywhere, both writers record everything. Afterwards the
DB and WAL files do not change while the dashboard is read (its connection is `mode=ro`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from dashboard_support import dashboard_env

from scoring.config import ScoringConfig
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository

pytestmark = [pytest.mark.slow, pytest.mark.integration]

WORKER = Path(__file__).resolve().parents[1] / "db" / "db_worker.py"
REPO = Path(__file__).resolve().parents[3]
PATHS = ("/", "/api/leaderboard", "/api/rounds", "/api/weights", "/api/summary", "/api/miner/0", "/miner/1",
         "/rounds", "/weights")  # fmt: skip
PER_WRITER = 300


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def test_dashboard_answers_during_full_speed_writes_and_never_writes(tmp_path: Path, dashboard) -> None:  # noqa: ANN001
    db = tmp_path / "validator.db"
    Repository.open(DbConfig(path=db), ScoringConfig()).close()  # schema, as the validator creates it
    env = {**dashboard_env(), "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    first = [sys.executable, str(WORKER), "write", str(db), "first", "4"]  # one result per uid 0..3
    subprocess.run(first, env=env, check=True, capture_output=True, timeout=120)
    served = dashboard(db)
    writers = [
        subprocess.Popen([sys.executable, str(WORKER), "write", str(db), f"w{i}", str(PER_WRITER)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        for i in range(2)
    ]
    codes: Counter[int] = Counter()
    bad: list[str] = []
    with httpx.Client(base_url=served.url, timeout=30) as client:
        while any(w.poll() is None for w in writers) or sum(codes.values()) < len(PATHS):
            for path in PATHS:
                r = client.get(path)
                codes[r.status_code] += 1
                if r.status_code != 200:
                    bad.append(f"{path}: {r.status_code} {r.text[:200]}")
    outs = [w.communicate(timeout=120) for w in writers]
    for w, (out, err) in zip(writers, outs, strict=True):
        assert w.returncode == 0, err[-2000:]
        assert json.loads(out.strip().splitlines()[-1])["recorded"] == PER_WRITER
        assert "database is locked" not in err
    assert not bad, bad[:5]
    assert codes[200] >= len(PATHS)
    assert "database is locked" not in served.stderr() and "Traceback" not in served.stderr()
    with httpx.Client(base_url=served.url, timeout=30) as client:
        board = client.get("/api/leaderboard").json()
        assert sum(len(rows) for rows in board["pools"].values()) == 4  # the worker's uids 0..3
        # the files are only ever written by the writers: reading changes neither the DB nor the WAL
        before = (digest(db), digest(db.with_name(db.name + "-wal")))
        for _ in range(5):
            for path in PATHS:
                assert client.get(path).status_code == 200
        after = (digest(db), digest(db.with_name(db.name + "-wal")))
    assert before == after
    print(f"dashboard answered {codes[200]} requests while 2 writers recorded {2 * PER_WRITER} results")
