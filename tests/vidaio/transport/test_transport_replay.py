"""Replay stores: the SQLite store is shared across instances/processes and expires entries."""

from __future__ import annotations

from pathlib import Path

from vidaio.transport.config import ServerConfig
from vidaio.transport.replay import SqliteNonceStore, make_nonce_store


def test_sqlite_store_shared_between_instances(tmp_path: Path) -> None:
    a = SqliteNonceStore(tmp_path / "n.sqlite")
    b = SqliteNonceStore(tmp_path / "n.sqlite")
    try:
        assert a.check_and_store("hk", 1) is True
        assert b.check_and_store("hk", 1) is False  # another worker already accepted it
        assert b.check_and_store("hk", 2) is True
        assert a.check_and_store("other", 1) is True
    finally:
        a.close()
        b.close()


def test_sqlite_store_forgets_after_retention(tmp_path: Path) -> None:
    store = SqliteNonceStore(tmp_path / "n.sqlite", retention=0.0)
    try:
        assert store.check_and_store("hk", 7)
        assert store.check_and_store("hk", 7)  # expired immediately: accepted again
    finally:
        store.close()


def test_factory_retention_covers_the_window(tmp_path: Path) -> None:
    cfg = ServerConfig(auth_max_age_s=50, auth_allowed_skew_s=10, replay_store="sqlite",
                       replay_db_path=tmp_path / "r.sqlite")
    store = make_nonce_store(cfg)
    assert isinstance(store, SqliteNonceStore) and store.retention >= 60
    store.close()
    mem = make_nonce_store(ServerConfig())
    assert mem.retention >= 12 and mem.check_and_store("x", 1) and not mem.check_and_store("x", 1)
