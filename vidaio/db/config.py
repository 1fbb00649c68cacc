"""DbConfig: the `VIDAIO_DB__*` section (the validator's SQLite file and its upkeep)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_DB_PATH = Path("~/.vidaio/validator.db")


class DbConfig(BaseModel):
    """Where the validator keeps its state and how the SQLite file is used."""

    model_config = ConfigDict(frozen=True)

    path: Path = Field(
        DEFAULT_DB_PATH,
        description="SQLite file of the validator (WAL mode; keep it on a local disk, never a network share).",
    )
    busy_timeout_ms: int = Field(
        15_000,
        ge=100,
        le=600_000,
        description="How long a write waits for another writer's lock before failing (SQLite busy_timeout).",
    )
    read_busy_timeout_ms: int = Field(
        2_000,
        ge=0,
        le=600_000,
        description="busy_timeout of read-only connections (operator CLI); reads never block the validator.",
    )
    history_retention_days: float = Field(
        30.0,
        ge=1.0,
        le=3650.0,
        description="Prune round history, rounds and weight-set logs older than this; the rolling window "
        "of every miner is always kept.",
    )

    @field_validator("path")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()
