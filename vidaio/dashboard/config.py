"""Settings of `vidaio dashboard` (env `VIDAIO_DASHBOARD__*`, the database from `VIDAIO_DB__*`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from vidaio.db.config import DbConfig
from vidaio.settings_base import VidaioSettings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class DashboardSettings(BaseModel):
    """Where the dashboard listens, who may read it and how often the pages refresh."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(
        "127.0.0.1", min_length=1, max_length=255,
        description="Interface to bind (loopback by default; set a token before binding anything else).",
    )  # fmt: skip
    port: int = Field(8300, ge=0, le=65535, description="TCP port of the dashboard (0: any free port).")
    token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token required on every request when set (header `Authorization: Bearer TOKEN`, "
        "or open /login?token=TOKEN once in a browser). Empty: no auth (loopback only).",
    )
    refresh_s: float = Field(5.0, ge=1.0, le=3600.0, description="Seconds between the pages' data refreshes.")
    history_limit: int = Field(
        500, ge=10, le=100_000, description="Newest results shown on a miner page (and its chart)."
    )
    rounds_limit: int = Field(50, ge=1, le=10_000, description="Newest rounds shown on the rounds page.")
    weights_limit: int = Field(50, ge=1, le=10_000, description="Newest weight-set attempts on the weights page.")


class DashboardConfig(VidaioSettings):
    """Everything `vidaio dashboard` reads (env prefix `VIDAIO_`, nested sections with `__`)."""

    db: DbConfig = Field(default_factory=DbConfig, description="The validator's SQLite database (read-only here).")
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings, description="The web dashboard.")
