"""The mandatory SQLite engine recipe (tables: docs/operators-sql.md#tables).

pysqlite's default transaction handling issues BEGIN only before a DML statement, so a
read-then-write transaction is not atomic and concurrent writers silently lose updates.
Every connection here therefore gets, in a `connect` listener:

- `isolation_level = None` (pysqlite's implicit BEGIN off; SQLAlchemy's `begin` event emits ours),
- `journal_mode=WAL` (readers never block the writer and vice versa), `synchronous=NORMAL`,
- `busy_timeout` (a writer waits for another writer's lock instead of failing),
- `foreign_keys=ON`,

and every transaction starts with `BEGIN IMMEDIATE` (write lock taken up front, so no
SQLITE_BUSY_SNAPSHOT on upgrade). Read-only engines open the file with `mode=ro` and use a
plain deferred `BEGIN`: they never take the write lock and never block the validator.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool, QueuePool

BEGIN_OPTION = "vidaio_begin"
"""Execution option naming the BEGIN statement of a transaction ("BEGIN IMMEDIATE" or "BEGIN")."""


class DatabaseMissingError(FileNotFoundError):
    """A read-only open of a database file that does not exist."""


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a read-write SQLite file (used by alembic's config as well)."""
    return f"sqlite+pysqlite:///{path}"


def make_engine(
    path: Path | str,
    *,
    busy_timeout_ms: int = 15_000,
    read_only: bool = False,
    foreign_keys: bool = True,
) -> Engine:
    """Build an engine on the SQLite file `path` that applies the recipe above.

    `read_only=True`: opens `file:PATH?mode=ro` (the file must exist; nothing is created),
    uses deferred `BEGIN` and no WAL switch. `foreign_keys=False` is only for migrations
    (SQLite's documented procedure for schema changes that recreate tables).
    """
    db_path = Path(path).expanduser()
    # A creator instead of a URL: paths with '?', '#' or '%' would be misparsed as URL syntax.
    if read_only:
        if not db_path.is_file():
            raise DatabaseMissingError(f"no database file at {db_path}")
        ro_uri = f"file:{quote(str(db_path.resolve()), safe='/')}?mode=ro"

        def _connect() -> sqlite3.Connection:
            return sqlite3.connect(ro_uri, uri=True, check_same_thread=False)

        # NullPool: the file is released as soon as a read-only query is done.
        engine = create_engine("sqlite+pysqlite://", creator=_connect, poolclass=NullPool)
    else:
        db_path.parent.mkdir(parents=True, exist_ok=True)

        def _connect() -> sqlite3.Connection:
            return sqlite3.connect(str(db_path), check_same_thread=False)

        # A small pool keeps connections open: closing the last connection to a WAL file
        # checkpoints it (~20 ms per transaction otherwise). Never share an engine across fork().
        engine = create_engine(
            "sqlite+pysqlite://", creator=_connect, poolclass=QueuePool, pool_size=2, max_overflow=4
        )
    begin_sql = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if not read_only:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(BEGIN_OPTION, begin_sql))

    return engine


def reader(engine: Engine) -> Engine:
    """The same engine with deferred `BEGIN` transactions (for reads inside a read-write process)."""
    return engine.execution_options(**{BEGIN_OPTION: "BEGIN"})
