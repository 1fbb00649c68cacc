"""Miner HTTP server settings (env prefix `VIDAIO_SERVER__`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class ServerConfig(BaseModel):
    """How the miner's signed HTTP endpoint listens and whom it admits (docs/protocol.md)."""

    host: str = Field("0.0.0.0", min_length=1, max_length=255, description="Interface uvicorn binds to.")
    port: int = Field(8091, ge=0, le=65535, description="TCP port uvicorn binds to (0: any free port).")
    external_ip: str | None = Field(
        None, max_length=255, description="Address published on chain (serve); None: the miner decides."
    )
    external_port: int | None = Field(None, ge=1, le=65535, description="Published port; None: same as port.")
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, le=16 * 1024 * 1024, description="Largest accepted request body (else 413)."
    )
    max_concurrency: int = Field(2, ge=1, le=256, description="Tasks worked on at the same time.")
    max_queue: int = Field(16, ge=0, le=10_000, description="Admitted tasks allowed to wait (excess gets 429).")
    max_queue_wait_s: float = Field(
        120.0, gt=0, le=3600, description="Longest wait for a work slot (also capped by the task deadline)."
    )
    min_validator_stake: float = Field(
        1000.0, ge=0, description="Minimum caller stake (alpha) to be admitted (else 403)."
    )
    require_validator_permit: bool = Field(True, description="Admit only callers holding a validator permit.")
    auth_max_age_s: float = Field(10.0, gt=0, le=60, description="btauth freshness window (seconds back).")
    auth_allowed_skew_s: float = Field(2.0, ge=0, le=30, description="btauth tolerated clock skew (ahead).")
    replay_store: Literal["memory", "sqlite"] = Field(
        "memory", description='Seen-nonce store: "memory" (one process) or "sqlite" (shared by workers).'
    )
    replay_db_path: Path = Field(Path(".miner/nonces.sqlite"), description="SQLite file of the sqlite replay store.")
    metagraph_refresh_s: float = Field(
        60.0, ge=0.05, le=3600, description="Seconds between background metagraph refreshes (admission cache)."
    )
