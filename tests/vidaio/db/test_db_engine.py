"""The SQLite recipe: pragmas on every connection, BEGIN IMMEDIATE for writes, read-only opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from vidaio.db.engine import DatabaseMissingError, make_engine, reader


def test_every_connection_gets_the_pragmas(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "a.db", busy_timeout_ms=4321)
    try:
        with engine.connect() as conn:
            got = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                   for p in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")}  # fmt: skip
            assert conn.connection.dbapi_connection.isolation_level is None  # type: ignore[union-attr]
    finally:
        engine.dispose()
    assert got == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 4321, "foreign_keys": 1}


def test_write_transactions_begin_immediate_and_reads_deferred(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "a.db")
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, stmt, *_a: seen.append(stmt))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with reader(engine).begin() as conn:
            conn.execute(text("SELECT count(*) FROM t"))
    finally:
        engine.dispose()
    assert seen == ["BEGIN IMMEDIATE", "CREATE TABLE t (x INTEGER)", "BEGIN", "SELECT count(*) FROM t"]


def test_read_then_write_is_atomic_against_another_writer(tmp_path: Path) -> None:
    """The lost-update trap: with BEGIN IMMEDIATE the second writer waits instead of racing."""
    path = tmp_path / "a.db"
    engine = make_engine(path, busy_timeout_ms=200)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE c (v INTEGER)"))
            conn.execute(text("INSERT INTO c VALUES (0)"))
        with engine.begin() as conn:
            value = conn.execute(text("SELECT v FROM c")).scalar_one()  # holds the write lock from here
            other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("UPDATE c SET v = v + 100")
            other.close()
            conn.execute(text("UPDATE c SET v = :v"), {"v": value + 1})
    finally:
        engine.dispose()


def test_read_only_engine_never_writes_or_creates(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissingError, match="no database file"):
        make_engine(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()
    path = tmp_path / "odd name %#?.db"
    rw = make_engine(path)
    with rw.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    ro = make_engine(path, read_only=True)
    try:
        # A writer holding the write lock does not block the read-only engine (WAL).
        with rw.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            with ro.begin() as rconn:
                assert rconn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        with ro.begin() as rconn:
            assert rconn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
            with pytest.raises(OperationalError, match="readonly"):
                rconn.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        ro.dispose()
        rw.dispose()
