"""Chain and wallet configuration sections (`VIDAIO_CHAIN__*`, `VIDAIO_WALLET__*`); the factory is `vidaio.chain.factory`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class ChainConfig(BaseModel):
    """Which chain to talk to and how (env prefix `VIDAIO_CHAIN__`)."""

    backend: Literal["bittensor", "localnet"] = Field(
        "bittensor",
        description='"bittensor": a real subtensor through the SDK; "localnet": the SIMULATED chain file.',
    )
    network: str = Field(
        "finney",
        min_length=1,
        max_length=300,
        description='bittensor network: "finney", "test", "local" or a ws(s):// endpoint URL.',
    )
    netuid: int = Field(85, ge=0, le=65535, description="Subnet id.")
    localnet_path: Path = Field(
        Path(".localnet/chain.sqlite"), description="SQLite file of the simulated chain (localnet backend)."
    )
    block_time_s: float = Field(
        12.0, gt=0, le=120, description="Simulated block time in seconds (localnet backend only)."
    )
    localnet_tempo: int = Field(360, ge=1, le=100_000, description="Simulated subnet tempo in blocks (localnet).")
    weights_rate_limit_blocks: int = Field(
        0, ge=0, le=100_000, description="Simulated minimum blocks between two weight sets (localnet)."
    )
    localnet_max_weight_limit: int = Field(
        65535, ge=1, le=65535, description="Simulated MaxWeightsLimit (u16; 65535 = none, 32768 = half) (localnet)."
    )
    localnet_min_allowed_weights: int = Field(
        0, ge=0, le=65535, description="Simulated MinAllowedWeights (localnet)."
    )
    localnet_weights_version: int = Field(0, ge=0, description="Simulated WeightsVersionKey (localnet).")
    call_timeout_s: float = Field(30.0, gt=0, le=600, description="Timeout of one chain call.")
    reconnect_retries: int = Field(3, ge=0, le=20, description="Reconnect attempts after a connection failure.")
    reconnect_backoff_s: float = Field(2.0, ge=0, le=120, description="First reconnect backoff (doubles).")
    version_key: int = Field(
        0, ge=0, description="version_key sent with set_weights; 0 = the subnet's WeightsVersionKey read from the chain."
    )


class WalletConfig(BaseModel):
    """Which bittensor wallet this process uses (env prefix `VIDAIO_WALLET__`)."""

    name: str = Field("default", min_length=1, max_length=128, description="Wallet (coldkey) name.")
    hotkey: str = Field("default", min_length=1, max_length=128, description="Hotkey name inside the wallet.")
    path: Path = Field(Path("~/.bittensor/wallets"), description="Directory holding the wallets (btcli layout).")
