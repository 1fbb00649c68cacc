"""Read-only queries behind the dashboard (the safe recipe of docs/operators-sql.md).

The file is opened with `mode=ro` and every request reads in one short deferred transaction, so
the dashboard never takes the write lock, never blocks the validator and never holds a snapshot
long enough to stall WAL checkpoints. Rows are plain dicts of *every* column (`SELECT *`), so
columns added by later migrations (e.g. `switched_from`, `weight_sets.split`) appear without a
code change; JSON columns are decoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from vidaio.db.engine import make_engine

Row = dict[str, Any]
JSON_COLUMNS = frozenset({"params", "weights", "timings", "split"})
TABLES = ("miner_metadata", "miner_round_history", "rounds", "weight_sets")
TASK_TYPES = ("compression", "upscaling")
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


class DashboardDataError(RuntimeError):
    """The database cannot be read as a validator database (missing file, no schema)."""


def parse_time(value: Any) -> datetime | None:
    """A stored UTC timestamp (ISO text) as a naive UTC datetime; None if empty/unreadable."""
    if value is None or isinstance(value, datetime):
        return value
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(str(value), fmt)
        except ValueError:
            continue
    return None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _decode(row: Row) -> Row:
    for key in JSON_COLUMNS.intersection(row):
        value = row[key]
        if isinstance(value, str):
            try:
                row[key] = json.loads(value)
            except json.JSONDecodeError:
                pass
    return row


class DashboardData:
    """The dashboard's view of one validator database (read-only engine, short transactions)."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 2_000) -> None:
        self.path = Path(path).expanduser()
        try:
            self._engine: Engine = make_engine(self.path, busy_timeout_ms=busy_timeout_ms, read_only=True)
        except FileNotFoundError as exc:
            raise DashboardDataError(f"{exc} (start the validator first, or pass --db)") from None
        with self._read() as conn:
            present = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
        missing = [t for t in TABLES if t not in present]
        if missing:
            self.close()
            raise DashboardDataError(
                f"{self.path} is not a vidaio validator database (missing tables: {', '.join(missing)}); "
                "start the validator or run `vidaio db upgrade`"
            )

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:  # deferred BEGIN on a mode=ro connection
            yield conn

    @staticmethod
    def _rows(conn: Connection, sql: str, **params: Any) -> list[Row]:
        return [_decode(dict(r._mapping)) for r in conn.execute(text(sql), params)]

    # ------------------------------------------------------------------ pages
    def leaderboard(self) -> Row:
        """Both pools: miner_metadata rows (every column) + rank, last weight, pool share, last result."""
        with self._read() as conn:
            miners = self._rows(conn, "SELECT * FROM miner_metadata ORDER BY task_type, accumulate_score DESC, uid")
            last = self._rows(
                conn,
                "SELECT uid, status, reason, round_id, task_id, created_at FROM miner_round_history "
                "WHERE id IN (SELECT MAX(id) FROM miner_round_history GROUP BY uid)",
            )
            ws = self._rows(conn, "SELECT * FROM weight_sets WHERE success = 1 ORDER BY id DESC LIMIT 1")
        last_by_uid = {r["uid"]: r for r in last}
        weights = {int(k): float(v) for k, v in (ws[0]["weights"] if ws else {}).items()}
        pool_total: dict[str, float] = {}
        for m in miners:
            pool_total[m["task_type"]] = pool_total.get(m["task_type"], 0.0) + weights.get(m["uid"], 0.0)
        pools: dict[str, list[Row]] = {t: [] for t in TASK_TYPES}
        for m in miners:
            pool = pools.setdefault(m["task_type"], [])
            m["rank"] = len(pool) + 1
            w = weights.get(m["uid"])
            m["last_weight"] = w
            total = pool_total.get(m["task_type"], 0.0)
            m["pool_share"] = (w / total) if (w is not None and total > 0) else None
            lr = last_by_uid.get(m["uid"], {})
            m["last_status"], m["last_reason"] = lr.get("status"), lr.get("reason")
            m["last_round_id"] = lr.get("round_id")
            pool.append(m)
        return {
            "pools": pools,
            "weight_set": _weight_set_brief(ws[0]) if ws else None,
            "miners": len(miners),
        }

    def miner(self, uid: int, limit: int = 500) -> Row | None:
        """One miner: its metadata row and its newest `limit` results, oldest first, with markers."""
        with self._read() as conn:
            meta = self._rows(conn, "SELECT * FROM miner_metadata WHERE uid = :uid", uid=uid)
            hist = self._rows(
                conn, "SELECT * FROM miner_round_history WHERE uid = :uid ORDER BY id DESC LIMIT :n", uid=uid, n=limit
            )
            total = conn.execute(text("SELECT COUNT(*) FROM miner_round_history WHERE uid = :uid"), {"uid": uid})
            count = int(total.scalar_one())
        if not meta and not hist:
            return None
        hist.reverse()
        first_n = count - len(hist)
        prev: Row | None = None
        markers: list[Row] = []
        for i, row in enumerate(hist):
            row["n"] = first_n + i + 1  # the miner's result number (integer axis)
            marks = []
            if row.get("switched_from"):
                marks.append(f"task type switch: {row['switched_from']} → {row['task_type']}")
            elif prev is not None and prev["task_type"] != row["task_type"]:
                marks.append(f"task type switch: {prev['task_type']} → {row['task_type']}")
            if prev is not None and prev["hotkey"] != row["hotkey"]:
                marks.append("hotkey change")
            row["marks"] = marks
            if marks:
                markers.append({"n": row["n"], "label": "; ".join(marks)})
            prev = row
        return {"meta": meta[0] if meta else None, "history": hist, "markers": markers, "total_results": count}

    def rounds(self, limit: int = 50) -> Row:
        """The newest rounds with results recorded so far (live for the running one), statuses, durations."""
        with self._read() as conn:
            rounds = self._rows(
                conn,
                "SELECT r.*, (SELECT COUNT(*) FROM miner_round_history h WHERE h.round_id = r.round_id) AS recorded "
                "FROM rounds r ORDER BY r.started_at DESC LIMIT :n",
                n=limit,
            )
            ids = [r["round_id"] for r in rounds]
            counts = self._rows(
                conn,
                "SELECT round_id, status, COUNT(*) AS n FROM miner_round_history "
                "WHERE round_id IN (SELECT round_id FROM rounds ORDER BY started_at DESC LIMIT :n) "
                "GROUP BY round_id, status",
                n=limit,
            )
        by_round: dict[str, dict[str, int]] = {i: {} for i in ids}
        for c in counts:
            by_round.setdefault(c["round_id"], {})[c["status"]] = int(c["n"])
        now = _now()
        for r in rounds:
            r["statuses"] = by_round.get(r["round_id"], {})
            start, end = parse_time(r.get("started_at")), parse_time(r.get("finished_at"))
            end = end or (now if r.get("status") == "running" else None)
            timings = r.get("timings") if isinstance(r.get("timings"), dict) else None
            r["timings"] = timings
            if timings is not None and timings.get("wall_s") is not None:
                r["duration_s"] = float(timings["wall_s"])  # the validator's own measurement
            else:
                r["duration_s"] = (end - start).total_seconds() if (start and end) else None
        running = next((r for r in rounds if r.get("status") == "running"), None)
        return {"rounds": rounds, "running": running}

    def weights(self, limit: int = 50) -> Row:
        """The newest weight-set attempts, each with its per-pool split (recorded, else computed)."""
        with self._read() as conn:
            sets = self._rows(conn, "SELECT * FROM weight_sets ORDER BY id DESC LIMIT :n", n=limit)
            types = {int(r["uid"]): r["task_type"] for r in self._rows(conn, "SELECT uid, task_type FROM miner_metadata")}
        for ws in sets:
            ws.update(_split_of(ws, types))
        last_ok = next((ws for ws in sets if ws.get("success")), None)
        return {"weight_sets": sets, "last": sets[0] if sets else None, "last_success": last_ok}

    def summary(self) -> Row:
        """Header numbers: miners per pool, the last round, the last successful weight set."""
        with self._read() as conn:
            pools = {r["task_type"]: int(r["n"]) for r in self._rows(
                conn, "SELECT task_type, COUNT(*) AS n FROM miner_metadata GROUP BY task_type")}  # fmt: skip
            last_round = self._rows(conn, "SELECT round_id, status, started_at, finished_at FROM rounds "
                                          "ORDER BY started_at DESC LIMIT 1")  # fmt: skip
            last_ws = self._rows(conn, "SELECT id, created_at, block FROM weight_sets WHERE success = 1 "
                                       "ORDER BY id DESC LIMIT 1")  # fmt: skip
            results = int(conn.execute(text("SELECT COUNT(*) FROM miner_round_history")).scalar_one())
        return {
            "pools": {t: pools.get(t, 0) for t in sorted(set(TASK_TYPES) | set(pools))},
            "last_round": last_round[0] if last_round else None,
            "last_weight_set": last_ws[0] if last_ws else None,
            "results": results,
        }


def _weight_set_brief(ws: Row) -> Row:
    return {"id": ws["id"], "block": ws.get("block"), "created_at": ws.get("created_at")}


def _pools_first(shares: dict[str, float]) -> dict[str, float]:
    """The task types in a fixed order (compression, upscaling, then any other), for stable display."""
    order = {t: i for i, t in enumerate(TASK_TYPES)}
    return dict(sorted(shares.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _split_of(ws: Row, types: dict[int, str]) -> Row:
    """The pools' shares of one weight set: the recorded `split` column when present, else the sum of
    the weights by each uid's current task type (labelled as computed)."""
    recorded = ws.get("split")
    if isinstance(recorded, dict) and isinstance(recorded.get("effective"), dict):
        return {
            "pool_split": _pools_first({str(k): float(v) for k, v in recorded["effective"].items()}),
            "pool_target": _pools_first({str(k): float(v) for k, v in (recorded.get("target") or {}).items()}),
            "split_source": "recorded",
            "split_note": recorded.get("note") or "",
        }
    weights = ws.get("weights") or {}
    total = sum(float(v) for v in weights.values())
    split: dict[str, float] = {t: 0.0 for t in TASK_TYPES}
    for uid, w in weights.items():
        t = types.get(int(uid), "unknown")
        split[t] = split.get(t, 0.0) + float(w)
    if total > 0:
        split = {t: v / total for t, v in split.items()}
    return {"pool_split": split, "pool_target": {}, "split_source": "computed", "split_note": ""}


def has_schema(path: Path | str) -> bool:
    """True when `path` is a validator database with its tables (read-only check; False while being created)."""
    p = Path(path).expanduser()
    if not p.is_file():
        return False
    try:
        data = DashboardData(p)
    except Exception:
        return False
    data.close()
    return True
