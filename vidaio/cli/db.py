"""`vidaio db ...`: operator queries on the validator database (read-only) and `db upgrade`.

Rich tables for people; `--json` / `--csv` (every column) for scripts. Reads open the file with
`mode=ro` in short transactions, so they never block a running validator. The raw SQL behind
each command is in `docs/operators-sql.md`. sqlalchemy/alembic are imported inside the commands,
because every `vidaio` command imports this module.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from vidaio.db.config import DbConfig
from vidaio.db.types import jsonable
from vidaio.settings_base import VidaioSettings

if TYPE_CHECKING:
    from sqlalchemy import Engine

db_app = typer.Typer(
    help="Query the validator database: leaderboard, one miner, its history, weight sets, rounds.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")
TaskOpt = Literal["upscaling", "compression"]

DB_OPTION = typer.Option(
    None,
    "--db",
    help="SQLite file of the validator [default: VIDAIO_DB__PATH, .env, or ~/.vidaio/validator.db].",
)
JSON_OPTION = typer.Option(
    False, "--json", help="Print JSON (a list of rows, every column) instead of a table."
)
CSV_OPTION = typer.Option(False, "--csv", help="Print CSV (header + rows, every column) instead of a table.")


class _DbEnv(VidaioSettings):
    """Reads only the `VIDAIO_DB__*` section from the environment and `.env`."""

    db: DbConfig = DbConfig()


def db_settings(path: Path | None) -> DbConfig:
    """The DbConfig of the environment, with `path` (the --db option) taking precedence."""
    try:
        cfg = _DbEnv().db
    except ValueError as exc:
        raise fail(f"invalid VIDAIO_DB__ setting: {exc}", code=2) from None
    return cfg if path is None else cfg.model_copy(update={"path": path.expanduser()})


def fail(reason: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the Exit to raise."""
    typer.echo(f"error: {' '.join(reason.split())}", err=True)
    return typer.Exit(code=code)


def _queries() -> ModuleType:
    from vidaio.db import queries

    return queries


@contextmanager
def read_only(path: Path | None) -> Iterator[Engine]:
    """A read-only engine on the configured database; a missing or old file exits with one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from vidaio.db.engine import DatabaseMissingError
    from vidaio.db.migrate import SchemaError

    cfg = db_settings(path)
    try:
        engine = _queries().open_read_only(cfg.path, busy_timeout_ms=cfg.read_busy_timeout_ms)
    except (DatabaseMissingError, SchemaError) as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise fail(f"cannot read {cfg.path}: {getattr(exc, 'orig', exc)}") from None
    try:
        yield engine
    finally:
        engine.dispose()


def run_query(path: Path | None, query: Callable[[Engine], T]) -> T:
    """Run `query` on a read-only engine; database errors exit with one line."""
    from sqlalchemy.exc import SQLAlchemyError

    with read_only(path) as engine:
        try:
            return query(engine)
        except SQLAlchemyError as exc:
            raise fail(f"query failed: {getattr(exc, 'orig', exc)}") from None


def _cell(value: Any, key: str = "") -> str:
    if key == "hotkey" and isinstance(value, str) and len(value) > 12:
        return value[:10] + "…"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def emit(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    title: str,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Print rows as JSON or CSV (every column), or as a rich table of `columns` (key, header)."""
    if as_json and as_csv:
        raise fail("choose one of --json and --csv", code=2)
    if as_json:
        typer.echo(json.dumps([jsonable(r) for r in rows], indent=2))
        return
    if as_csv:
        fields = list(rows[0].keys()) if rows else [key for key, _ in columns]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            plain = jsonable(row)
            writer.writerow(
                {k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for k, v in plain.items()}
            )
        return
    table = Table(title=title)
    for _, header in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(key), key) for key, _ in columns))
    Console().print(table)
    if not rows:
        Console(stderr=True).print("(no rows)")


@db_app.command("leaderboard")
def leaderboard(
    task: TaskOpt | None = typer.Option(None, "--task", help="Only this task type."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """Miners ranked by accumulate score within each task type."""
    rows = run_query(db, lambda e: _queries().leaderboard(e, task))
    cols = [("rank", "#"), ("uid", "uid"), ("hotkey", "hotkey"), ("task_type", "task"),
            ("accumulate_score", "score"), ("total_multiplier", "mult"), ("avg_s_f", "avg S"),
            ("total_rounds_completed", "rounds"), ("success_rate", "success"), ("performance_tier", "tier"),
            ("last_update_timestamp", "updated (UTC)")]  # fmt: skip
    emit(rows, cols, f"Leaderboard{f' ({task})' if task else ''}", as_json, as_csv)


@db_app.command("miner")
def miner(
    uid: int = typer.Argument(..., min=0, help="Miner uid."),
    as_json: bool = JSON_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """Every miner_metadata column of one miner."""
    row = run_query(db, lambda e: _queries().miner(e, uid))
    if row is None:
        raise fail(f"no miner with uid {uid} in the database")
    if as_json:
        typer.echo(json.dumps(jsonable(row), indent=2))
        return
    table = Table(title=f"Miner uid {uid}")
    table.add_column("column")
    table.add_column("value", justify="right")
    for key, value in row.items():
        table.add_row(key, _cell(value))
    Console().print(table)


@db_app.command("history")
def history(
    uid: int = typer.Argument(..., min=0, help="Miner uid."),
    limit: int = typer.Option(20, "--last", "--limit", min=1, max=100_000, help="Newest N rounds."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """The miner's newest round results (one row per task), newest first."""
    rows = run_query(db, lambda e: _queries().history(e, uid, limit))
    cols = [("created_at", "time (UTC)"), ("round_id", "round"), ("task_id", "task"), ("status", "status"),
            ("s_f", "score"), ("applied_multiplier", "mult"), ("adjusted_score", "adjusted"),
            ("accumulate_score", "accum."), ("vmaf", "VMAF"), ("s_q", "S_Q"), ("compression_rate", "C"),
            ("reason", "reason"), ("switched_from", "switched from")]  # fmt: skip
    emit(rows, cols, f"History of uid {uid} (newest first)", as_json, as_csv)


@db_app.command("weights")
def weights(
    last: int = typer.Option(10, "--last", min=1, max=100_000, help="Newest N attempts."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """The validator's newest weight-set attempts (successful or not), newest first."""
    rows = run_query(db, lambda e: _queries().weight_sets(e, last))
    cols = [("id", "id"), ("created_at", "time (UTC)"), ("block", "block"), ("attempt", "try"),
            ("success", "ok"), ("weights", "weights {uid: w}"), ("message", "message")]  # fmt: skip
    emit(rows, cols, "Weight sets (newest first)", as_json, as_csv)


@db_app.command("rounds")
def rounds(
    last: int = typer.Option(10, "--last", min=1, max=100_000, help="Newest N rounds."),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """The validator's newest rounds and how they ended."""
    rows = run_query(db, lambda e: _queries().rounds(e, last))
    cols = [("round_id", "round"), ("status", "status"), ("block", "block"), ("task_count", "tasks"),
            ("started_at", "started (UTC)"), ("finished_at", "finished (UTC)"), ("message", "message")]  # fmt: skip
    emit(rows, cols, "Rounds (newest first)", as_json, as_csv)


@db_app.command("upgrade")
def upgrade(db: Path | None = DB_OPTION) -> None:
    """Create the database or upgrade its schema to this version (the validator does this at start)."""
    from sqlalchemy.exc import SQLAlchemyError

    from vidaio.db.migrate import SchemaError, upgrade_to_head

    cfg = db_settings(db)
    try:
        revision = upgrade_to_head(cfg.path, busy_timeout_ms=cfg.busy_timeout_ms)
    except (SchemaError, SQLAlchemyError) as exc:
        raise fail(f"upgrade of {cfg.path} failed: {exc}") from None
    typer.echo(f"{cfg.path}: schema at revision {revision}")
