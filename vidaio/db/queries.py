"""Read-only queries for operator tools (`vidaio db ...`, `vidaio plot ...`).

They open the file with `mode=ro` and plain deferred `BEGIN`, in short transactions: they
never take the write lock and never hold a read snapshot long (WAL checkpoints keep working).
Rows come back as plain dicts keyed by column name (the same names as in `docs/operators-sql.md`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from scoring.task_type import TaskType
from vidaio.db.engine import make_engine
from vidaio.db.migrate import require_head
from vidaio.db.models import MinerMetadata, MinerRoundHistory, Round, WeightSet

Row = dict[str, Any]

_META: Table = MinerMetadata.__table__  # type: ignore[assignment]
_HIST: Table = MinerRoundHistory.__table__  # type: ignore[assignment]
_WS: Table = WeightSet.__table__  # type: ignore[assignment]
_ROUNDS: Table = Round.__table__  # type: ignore[assignment]


def open_read_only(path: Path | str, *, busy_timeout_ms: int = 2_000) -> Engine:
    """A read-only engine on an existing database at the head schema (else a clear error)."""
    engine = make_engine(path, busy_timeout_ms=busy_timeout_ms, read_only=True)
    try:
        require_head(path)
    except Exception:
        engine.dispose()
        raise
    return engine


@contextmanager
def _read(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        yield conn


def _rows(result: Any) -> list[Row]:
    return [dict(r._mapping) for r in result]


def leaderboard(engine: Engine, task_type: TaskType | None = None) -> list[Row]:
    """miner_metadata rows, best first within each task type, with a 1-based `rank` per task type."""
    query = select(_META).order_by(_META.c.task_type, _META.c.accumulate_score.desc(), _META.c.uid)
    if task_type is not None:
        query = query.where(_META.c.task_type == task_type)
    with _read(engine) as conn:
        rows = _rows(conn.execute(query))
    ranks: dict[str, int] = {}
    for row in rows:
        ranks[row["task_type"]] = ranks.get(row["task_type"], 0) + 1
        row["rank"] = ranks[row["task_type"]]
    return rows


def miner(engine: Engine, uid: int) -> Row | None:
    """The miner_metadata row of `uid`, or None."""
    with _read(engine) as conn:
        rows = _rows(conn.execute(select(_META).where(_META.c.uid == uid)))
    return rows[0] if rows else None


def history(engine: Engine, uid: int, limit: int = 20) -> list[Row]:
    """The newest `limit` miner_round_history rows of `uid`, newest first."""
    query = select(_HIST).where(_HIST.c.uid == uid).order_by(_HIST.c.id.desc()).limit(limit)
    with _read(engine) as conn:
        return _rows(conn.execute(query))


def weight_sets(engine: Engine, last: int = 10) -> list[Row]:
    """The newest `last` weight-set attempts, newest first."""
    with _read(engine) as conn:
        return _rows(conn.execute(select(_WS).order_by(_WS.c.id.desc()).limit(last)))


def rounds(engine: Engine, last: int = 10) -> list[Row]:
    """The newest `last` rounds, newest first."""
    with _read(engine) as conn:
        return _rows(conn.execute(select(_ROUNDS).order_by(_ROUNDS.c.started_at.desc()).limit(last)))

