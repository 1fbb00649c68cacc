"""The `prometheus` settings section of the miner and the validator (env `VIDAIO_PROMETHEUS__*`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MINER_DEFAULT_PORT = 9102
VALIDATOR_DEFAULT_PORT = 9103


class PrometheusConfig(BaseModel):
    """Where the daemon serves its Prometheus `/metrics` (a port of its own, separate from the API)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        False, description="Serve Prometheus metrics at http://HOST:PORT/metrics (off by default in production)."
    )
    host: str = Field(
        "127.0.0.1", min_length=1, max_length=255,
        description="Interface of the metrics endpoint (0.0.0.0 only behind a firewall: it has no auth).",
    )  # fmt: skip
    port: int = Field(0, ge=0, le=65535, description="TCP port of the metrics endpoint (0: the daemon's default).")

    def port_or(self, default: int) -> int:
        """The configured port, or `default` when it is 0."""
        return self.port or default
