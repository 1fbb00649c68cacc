"""Alembic migrations shipped in the package: from empty, idempotent, round trip, no drift."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from vidaio.db.engine import make_engine
from vidaio.db.migrate import (
    SchemaError,
    current_revision,
    downgrade,
    head_revision,
    require_head,
    upgrade_to_head,
)
from vidaio.db.models import Base

TABLES = {"alembic_version", "miner_metadata", "miner_round_history", "rounds", "weight_sets"}


def _schema(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        conn.close()


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_upgrade_from_empty_again_and_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the alembic config is built in code: any cwd works
    path = tmp_path / "sub" / "v.db"
    assert upgrade_to_head(path) == head_revision()
    assert _tables(path) == TABLES
    assert current_revision(path) == head_revision()
    schema = _schema(path)

    assert upgrade_to_head(path) == head_revision()  # no-op
    assert _schema(path) == schema

    downgrade(path, "base")
    assert _tables(path) == {"alembic_version"} and current_revision(path) is None
    upgrade_to_head(path)
    assert _schema(path) == schema and current_revision(path) == head_revision()


def test_models_and_migrations_do_not_drift(migrated_template: Path) -> None:
    engine = make_engine(migrated_template, read_only=True)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_readers_refuse_a_database_without_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(SchemaError, match="no vidaio schema"):
        require_head(path)
