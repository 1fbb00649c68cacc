"""Subprocess worker for the multi-process database tests (not a test module).

    python db_worker.py write DB PREFIX N [PAUSE_AT]   record N results (uids 0..3); with
        PAUSE_AT, result number PAUSE_AT (0-based) stalls inside its transaction (the repository's
        `after_history_row` seam writes DB.paused, then hangs until the test kills the process).
    python db_worker.py read DB STOP_FILE              query standings + leaderboard until STOP_FILE exists.

Prints one JSON line with what it did; exits non-zero on any error.
"""

from __future__ import annotations

import functools
import json
import os
import random
import sys
import time
from pathlib import Path

from loguru import logger

from scoring.config import ScoringConfig
from vidaio.db import queries
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult

UIDS = (0, 1, 2, 3)


def result(prefix: str, i: int) -> RoundResult:
    rng = random.Random(f"{prefix}-{i}")
    uid = UIDS[i % len(UIDS)]
    ok = rng.random() > 0.2
    task = "compression" if uid % 2 == 0 else "upscaling"
    return RoundResult(
        round_id=f"round-{i // len(UIDS)}", task_id=f"{prefix}-{i}", uid=uid, hotkey=f"hk-{uid}", task_type=task,
        status="ok" if ok else "timeout", score=rng.uniform(0.0, 0.95) if ok else 0.0,
        vmaf=rng.uniform(85.0, 99.0) if ok else None, vmaf_threshold=85.0 if task == "compression" else None,
        s_q=rng.uniform(0.0, 1.0) if ok and task == "upscaling" else None,
    )  # fmt: skip


def _hang(marker: Path) -> None:
    """Say we are inside the transaction, then wait for the SIGKILL (bounded, so no orphan lingers)."""
    marker.write_text(str(os.getpid()))
    time.sleep(300)
    raise RuntimeError("the test never killed the paused writer")


def write(db: Path, prefix: str, n: int, pause_at: int | None) -> dict[str, object]:
    repo = Repository.open(DbConfig(path=db), ScoringConfig(), migrate=False)
    recorded = 0
    started = time.monotonic()
    for i in range(n):
        if pause_at is not None and i == pause_at:
            repo.after_history_row = functools.partial(_hang, db.with_suffix(".paused"))
        if repo.record_result(result(prefix, i)).recorded:
            recorded += 1
    repo.close()
    return {"recorded": recorded, "seconds": round(time.monotonic() - started, 3)}


def read(db: Path, stop_file: Path) -> dict[str, object]:
    engine = queries.open_read_only(db)
    repo = Repository(engine, ScoringConfig(), DbConfig(path=db))
    answers = errors = 0
    deadline = time.monotonic() + 60
    last_error = ""
    while not stop_file.exists() and time.monotonic() < deadline:
        try:
            repo.standings()
            queries.leaderboard(engine)
            answers += 1
            time.sleep(0.01)  # a polling operator, not a busy loop stealing the writers' CPU
        except Exception as exc:  # the test asserts there are none; count and report them
            errors += 1
            last_error = repr(exc)
    engine.dispose()
    return {"answers": answers, "errors": errors, "last_error": last_error}


def main(argv: list[str]) -> int:
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    mode, db = argv[0], Path(argv[1])
    if mode == "write":
        out = write(db, argv[2], int(argv[3]), int(argv[4]) if len(argv) > 4 else None)
    else:
        out = read(db, Path(argv[2]))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
