"""Several processes on one file: concurrent writers + a reader, and a writer killed mid-transaction."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from db_support import history_rows, metadata_rows, replay_accumulate

from scoring.config import ScoringConfig
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository

WORKER = Path(__file__).with_name("db_worker.py")
UIDS = (0, 1, 2, 3)


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, object]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, f"worker failed ({proc.returncode}): {err[-2000:]}"
    return json.loads(out.strip().splitlines()[-1])


def _check_consistent(path: Path, cfg: ScoringConfig) -> dict[int, int]:
    """Every miner's counters equal its history rows and its score equals a replay of them."""
    metas = metadata_rows(path)
    counts: dict[int, int] = {}
    for uid, meta in metas.items():
        rows = history_rows(path, uid)
        counts[uid] = len(rows)
        assert meta.total_rounds_completed == len(rows), f"uid {uid}"
        assert meta.successful_rounds == sum(r.status == "ok" for r in rows), f"uid {uid}"
        assert meta.accumulate_score == pytest.approx(replay_accumulate(rows, cfg)), f"uid {uid}"
    return counts


@pytest.mark.slow
@pytest.mark.integration
def test_two_writers_and_a_reader_lose_nothing(db_cfg: DbConfig, scoring_cfg: ScoringConfig) -> None:
    path = db_cfg.path
    stop = path.with_suffix(".stop")
    n = 60
    reader = _spawn("read", str(path), str(stop))
    writers = [_spawn("write", str(path), prefix, str(n)) for prefix in ("A", "B")]
    try:
        done = [_finish(w) for w in writers]
    finally:
        stop.touch()
    seen = _finish(reader)
    assert [d["recorded"] for d in done] == [n, n]
    assert seen["errors"] == 0, seen["last_error"]
    assert int(seen["answers"]) >= 5  # the reader kept getting answers while both wrote
    counts = _check_consistent(path, scoring_cfg)
    assert sum(counts.values()) == 2 * n
    assert counts == {uid: 2 * n // len(UIDS) for uid in UIDS}


@pytest.mark.slow
@pytest.mark.integration
def test_writer_killed_inside_record_result(db_cfg: DbConfig, scoring_cfg: ScoringConfig) -> None:
    path = db_cfg.path
    marker = path.with_suffix(".paused")
    pause_at = 9  # results 0..8 commit; result 9 (uid 1) hangs inside its transaction
    proc = _spawn("write", str(path), "K", "20", str(pause_at))
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, f"worker exited early: {proc.communicate()[1][-2000:]}"
            assert time.monotonic() < deadline, "worker never reached the pause hook"
            time.sleep(0.05)
        # While the writer holds the write lock mid-transaction, readers still answer and
        # see none of its uncommitted rows.
        assert len(history_rows(path)) == pause_at
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    counts = _check_consistent(path, scoring_cfg)
    assert sum(counts.values()) == pause_at
    assert "K-9" not in {r.task_id for r in history_rows(path)}

    from db_worker import result  # the very result the killed writer was recording (same dir on sys.path)

    repo = Repository.open(db_cfg, scoring_cfg)
    try:
        before = metadata_rows(path)[1].total_rounds_completed
        assert repo.record_result(result("K", pause_at)).recorded
        assert not repo.record_result(result("K", pause_at)).recorded
    finally:
        repo.close()
    assert metadata_rows(path)[1].total_rounds_completed == before + 1
    assert [r.task_id for r in history_rows(path)].count("K-9") == 1
    _check_consistent(path, scoring_cfg)
