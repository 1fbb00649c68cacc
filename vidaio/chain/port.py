"""The chain port: the small async interface the daemons use to talk to a chain.

Two adapters implement it: `bittensor_adapter.BittensorChain` (the real subtensor through the
bittensor v11 SDK) and `localnet.LocalnetChain` (a SIMULATED chain in one SQLite file, for the
one-machine subnet and tests). Daemons depend only on this module.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class NeuronInfo(BaseModel):
    """One registered hotkey on the subnet, as seen in a metagraph snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uid: int = Field(ge=0, le=65535)
    hotkey: str = Field(min_length=1, max_length=64)
    coldkey: str = Field("", max_length=64)
    stake: float = Field(0.0, ge=0, description="Stake weight (alpha/TAO units, float).")
    validator_permit: bool = False
    axon: str | None = Field(None, max_length=300, description='"ip:port" the neuron serves, or None.')
    incentive: float = Field(0.0, ge=0, description="Incentive share in [0, 1] as last computed by the chain.")


class MetagraphSnapshot(BaseModel):
    """An immutable view of the subnet's neurons at one block."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    netuid: int = Field(ge=0, le=65535)
    block: int = Field(ge=0)
    neurons: tuple[NeuronInfo, ...] = ()

    def by_hotkey(self, hotkey: str) -> NeuronInfo | None:
        for n in self.neurons:
            if n.hotkey == hotkey:
                return n
        return None

    def by_uid(self, uid: int) -> NeuronInfo | None:
        for n in self.neurons:
            if n.uid == uid:
                return n
        return None

    def validators(self) -> list[NeuronInfo]:
        """Neurons holding a validator permit."""
        return [n for n in self.neurons if n.validator_permit]

    def miners(self) -> list[NeuronInfo]:
        """Neurons without a validator permit (the ones validators send tasks to)."""
        return [n for n in self.neurons if not n.validator_permit]

    @property
    def hotkeys(self) -> list[str]:
        return [n.hotkey for n in self.neurons]

    @property
    def uids(self) -> list[int]:
        return [n.uid for n in self.neurons]


class WeightSetResult(BaseModel):
    """Outcome of one `set_weights` attempt (what the validator logs and stores)."""

    model_config = ConfigDict(frozen=True)

    success: bool
    message: str = ""
    block: int | None = None


U16_MAX = 65535


class SubnetHyperparameters(BaseModel):
    """The subnet's limits on weight setting, read from the chain at start and every weight cycle."""

    model_config = ConfigDict(frozen=True)

    max_weight_limit: int = Field(
        U16_MAX, ge=0, le=U16_MAX, description="MaxWeightsLimit (u16): the largest share one uid may hold x 65535."
    )
    min_allowed_weights: int = Field(0, ge=0, description="MinAllowedWeights: fewest non-zero weights accepted.")
    weights_rate_limit: int = Field(0, ge=0, description="WeightsSetRateLimit: blocks between two weight sets.")
    weights_version: int = Field(0, ge=0, description="WeightsVersionKey: the lowest version_key accepted.")
    commit_reveal: bool = Field(False, description="CommitRevealWeightsEnabled: weights are committed, then revealed.")

    @property
    def max_weight(self) -> float:
        """max_weight_limit as a fraction of the total (1.0 = no limit)."""
        return max(1, self.max_weight_limit) / U16_MAX

    def describe(self) -> str:
        return (
            f"max_weight_limit {self.max_weight_limit} ({self.max_weight:.4f}), min_allowed_weights "
            f"{self.min_allowed_weights}, weights_rate_limit {self.weights_rate_limit} blocks, weights_version "
            f"{self.weights_version}, commit_reveal {'on' if self.commit_reveal else 'off'}"
        )


class ChainError(RuntimeError):
    """A chain operation failed (connection, not registered, rejected extrinsic...)."""


@runtime_checkable
class ChainPort(Protocol):
    """What a daemon needs from a chain. All methods are async and safe to retry."""

    @property
    def netuid(self) -> int: ...

    @property
    def hotkey(self) -> str:
        """ss58 of this process's own hotkey (the one that signs serve/set_weights)."""
        ...

    @property
    def tempo(self) -> int:
        """Blocks per subnet epoch (360 on finney)."""
        ...

    async def current_block(self) -> int: ...

    async def metagraph(self) -> MetagraphSnapshot: ...

    async def hyperparameters(self) -> SubnetHyperparameters:
        """The subnet's weight-setting limits as the chain holds them now."""
        ...

    async def set_weights(self, weights: dict[int, float], *, version_key: int = 0) -> WeightSetResult:
        """ONE submission of this hotkey's weights {uid: weight>=0} (normalisation and u16 quantisation
        are the adapter's job, exactly as the SDK does them). Retries belong to the caller."""
        ...

    async def serve(self, ip: str, port: int) -> None:
        """Publish this hotkey's axon address (ip:port)."""
        ...

    async def is_registered(self, hotkey: str) -> bool: ...

    async def close(self) -> None: ...
