"""Schema migrations: alembic with a config built in code, so it works from any cwd.

The daemons call `upgrade_to_head(path)` at start. The persisted schema is versioned by
alembic's `alembic_version` table (`current_revision`), and `head_revision()` is the version
this code expects.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from loguru import logger
from sqlalchemy import text

from vidaio.db.engine import make_engine, sqlite_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaError(RuntimeError):
    """The database schema is missing, too old, too new, or inconsistent."""


def alembic_config(db_path: Path | str, *, busy_timeout_ms: int = 15_000) -> Config:
    """An alembic Config for the SQLite file `db_path`, independent of the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    # '%' is alembic's interpolation character: escape it in paths.
    cfg.set_main_option("sqlalchemy.url", sqlite_url(Path(db_path).expanduser()).replace("%", "%%"))
    cfg.attributes["busy_timeout_ms"] = busy_timeout_ms
    cfg.attributes["db_path"] = str(Path(db_path).expanduser())
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config(":memory:")).get_current_head()
    if head is None:
        raise SchemaError(f"no alembic revisions under {MIGRATIONS_DIR}")
    return head


def current_revision(db_path: Path | str, *, busy_timeout_ms: int = 2_000) -> str | None:
    """The revision stamped in the file (None for an empty or unmigrated database); read-only."""
    engine = make_engine(db_path, busy_timeout_ms=busy_timeout_ms, read_only=True)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade_to_head(db_path: Path | str, *, busy_timeout_ms: int = 15_000) -> str:
    """Create or upgrade the schema of `db_path` to the head revision; return that revision.

    Idempotent (a second call does nothing). Runs in one transaction; afterwards checks
    foreign keys, since migrations run with them off.
    """
    path = Path(db_path).expanduser()
    before = current_revision(path) if path.is_file() else None
    head = head_revision()
    if before == head:
        return head
    command.upgrade(alembic_config(path, busy_timeout_ms=busy_timeout_ms), "head")
    _check_foreign_keys(path, busy_timeout_ms)
    after = current_revision(path)
    if after != head:
        raise SchemaError(f"{path}: upgrade ended at revision {after!r}, expected {head!r}")
    logger.info("database {} upgraded from {} to {}", path, before or "empty", after)
    return head


def downgrade(db_path: Path | str, revision: str, *, busy_timeout_ms: int = 15_000) -> None:
    """Downgrade `db_path` to `revision` ("base" drops every table). For operators and tests."""
    command.downgrade(alembic_config(db_path, busy_timeout_ms=busy_timeout_ms), revision)


def _check_foreign_keys(path: Path, busy_timeout_ms: int) -> None:
    engine = make_engine(path, busy_timeout_ms=busy_timeout_ms, read_only=True)
    try:
        with engine.connect() as conn:
            problems = conn.execute(text("PRAGMA foreign_key_check")).fetchall()
    finally:
        engine.dispose()
    if problems:
        raise SchemaError(f"{path}: foreign key check failed after migration: {problems[:5]}")


def require_head(db_path: Path | str) -> None:
    """Raise SchemaError unless `db_path` is at the head revision (for read-only tools)."""
    current = current_revision(db_path)
    head = head_revision()
    if current is None:
        raise SchemaError(f"{db_path} has no vidaio schema (start the validator or run `vidaio db upgrade`)")
    if current != head:
        raise SchemaError(
            f"{db_path} is at schema revision {current}, this code expects {head} "
            "(restart the validator or run `vidaio db upgrade`)"
        )
