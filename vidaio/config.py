"""The daemons' configuration models in one place (one pydantic-settings model per daemon).

Each daemon's model lives beside the daemon (`vidaio.miner.config.MinerConfig`,
`vidaio.validator.config.ValidatorConfig`, `vidaio.localnet.config.LocalnetConfig`); this module
names them for tools that need all of them (the `.env.example` generator, `vidaio config`).
"""

from __future__ import annotations

from pydantic import BaseModel

from vidaio.dashboard.config import DashboardConfig
from vidaio.envdoc import render_env_example
from vidaio.localnet.config import LocalnetConfig
from vidaio.miner.config import MinerConfig
from vidaio.validator.config import ValidatorConfig

DAEMON_MODELS: dict[str, type[BaseModel]] = {
    "miner": MinerConfig,
    "validator": ValidatorConfig,
    "localnet": LocalnetConfig,
    "dashboard": DashboardConfig,
}


def env_example() -> str:
    """The text of `.env.example`: every setting of every daemon with its default."""
    return render_env_example(DAEMON_MODELS.items())


__all__ = ["DAEMON_MODELS", "DashboardConfig", "LocalnetConfig", "MinerConfig", "ValidatorConfig", "env_example"]
