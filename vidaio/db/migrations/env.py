"""Alembic environment of the validator database.

The SQLite pragmas live in the engine's `connect` listener (`vidaio.db.engine.make_engine`),
never here: a PRAGMA executed on the connection before `context.begin_transaction()` autobegins
a transaction that alembic then never commits (the version table stays empty).
Foreign keys are OFF while migrating (SQLite's procedure for table-recreating schema changes);
`vidaio.db.migrate.upgrade_to_head` runs `PRAGMA foreign_key_check` afterwards.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import make_url

from vidaio.db.engine import make_engine
from vidaio.db.models import Base

config = context.config
target_metadata = Base.metadata


def _db_path() -> str:
    if config.attributes.get("db_path"):
        return str(config.attributes["db_path"])
    x_db = context.get_x_argument(as_dictionary=True).get("db")
    if x_db:
        return x_db
    url = make_url(config.get_main_option("sqlalchemy.url") or "")
    if url.get_backend_name() != "sqlite" or not url.database:
        raise RuntimeError(f"vidaio migrations need a SQLite file URL, got {url!r}")
    return url.database


def run_migrations_offline() -> None:
    context.configure(
        url=f"sqlite:///{_db_path()}",
        target_metadata=target_metadata,
        render_as_batch=True,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    busy = int(config.attributes.get("busy_timeout_ms", 15_000))
    engine = make_engine(_db_path(), busy_timeout_ms=busy, foreign_keys=False)
    try:
        with engine.connect() as connection:
            # transactional_ddl: SQLite DDL is transactional, so the whole upgrade is one
            # BEGIN IMMEDIATE transaction: a crash mid-migration leaves the old schema intact.
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=True,
                transactional_ddl=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
