"""Follow the validator's progress through its DB (`rounds` and `miner_round_history`), read-only.

The reads open the file with `mode=ro` in one short statement each, so they never take the
write lock nor hold a snapshot. Before the validator has created the DB (or migrated it), the
snapshot is simply empty.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

FINISHED_STATUSES = frozenset({"finished", "failed", "interrupted"})


class RoundState(BaseModel):
    """One validator round as the DB shows it right now."""

    model_config = ConfigDict(frozen=True)

    round_id: str
    status: str
    task_count: int
    results: int

    @property
    def done(self) -> bool:
        return self.status in FINISHED_STATUSES


class ProgressSnapshot(BaseModel):
    """Rounds in start order (oldest first)."""

    model_config = ConfigDict(frozen=True)

    rounds: list[RoundState] = []

    def started_since(self, known: set[str]) -> list[RoundState]:
        return [r for r in self.rounds if r.round_id not in known]

    def finished(self) -> list[RoundState]:
        return [r for r in self.rounds if r.done]


_QUERY = """
SELECT r.round_id, r.status, r.task_count,
       (SELECT COUNT(*) FROM miner_round_history h WHERE h.round_id = r.round_id)
FROM rounds r ORDER BY r.started_at, r.round_id
"""


def read_progress(db_path: Path, busy_timeout_ms: int = 1000) -> ProgressSnapshot:
    """The rounds of the validator DB with their result counts; empty if the DB is not there yet."""
    if not db_path.is_file():
        return ProgressSnapshot()
    try:
        con = sqlite3.connect(f"file:{quote(str(db_path))}?mode=ro", uri=True, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error:
        return ProgressSnapshot()
    try:
        rows = con.execute(_QUERY).fetchall()
    except sqlite3.Error:  # tables not created yet, or locked past the timeout: try again later
        return ProgressSnapshot()
    finally:
        con.close()
    return ProgressSnapshot(
        rounds=[
            RoundState(round_id=r[0], status=r[1], task_count=int(r[2] or 0), results=int(r[3])) for r in rows
        ]
    )
