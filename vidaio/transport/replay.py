"""Seen-nonce stores for btauth replay protection (`bittensor.http_auth.NonceStore` protocol).

In-memory (the SDK's `InMemoryNonceStore`) for one process; `SqliteNonceStore` when several
uvicorn workers or processes serve the same hotkey and must share what they have accepted.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from vidaio.transport.config import ServerConfig


class NonceStore(Protocol):
    retention: float

    def check_and_store(self, hotkey_ss58: str, nonce_ns: int) -> bool: ...


class SqliteNonceStore:
    """(hotkey, nonce) pairs in one SQLite file (WAL, BEGIN IMMEDIATE); entries expire after `retention`."""

    def __init__(self, path: Path | str, retention: float = 60.0, busy_timeout_ms: int = 5000) -> None:
        self.retention = retention
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._con.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS nonces (hotkey TEXT NOT NULL, nonce INTEGER NOT NULL,"
            " expires_at REAL NOT NULL, PRIMARY KEY (hotkey, nonce))"
        )
        self._con.execute("CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces(expires_at)")
        self._writes = 0

    def check_and_store(self, hotkey_ss58: str, nonce_ns: int) -> bool:
        now = time.time()
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._writes += 1
                if self._writes % 256 == 1:
                    self._con.execute("DELETE FROM nonces WHERE expires_at < ?", (now,))
                row = self._con.execute(
                    "SELECT expires_at FROM nonces WHERE hotkey = ? AND nonce = ?", (hotkey_ss58, int(nonce_ns))
                ).fetchone()
                if row is not None and row[0] >= now:
                    self._con.execute("COMMIT")
                    return False
                self._con.execute(
                    "INSERT OR REPLACE INTO nonces(hotkey, nonce, expires_at) VALUES (?, ?, ?)",
                    (hotkey_ss58, int(nonce_ns), now + self.retention),
                )
                self._con.execute("COMMIT")
                return True
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._con.close()


def make_nonce_store(cfg: ServerConfig) -> NonceStore:
    """The replay store selected by `cfg.replay_store`, retaining entries past the freshness window."""
    from bittensor.http_auth import InMemoryNonceStore

    retention = max(60.0, 2 * (cfg.auth_max_age_s + cfg.auth_allowed_skew_s))
    if cfg.replay_store == "sqlite":
        return SqliteNonceStore(cfg.replay_db_path, retention=retention)
    return InMemoryNonceStore(retention=retention)
