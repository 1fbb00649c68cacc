"""Miner configuration: `MinerSettings` (section `VIDAIO_MINER__*`) and the daemon's `MinerConfig`.

What a miner mines (task type, longest clip, upscaling types, codecs, engine) is configuration,
never a code edit (docs/protocol.md). `MinerConfig` reads env vars (`VIDAIO_<SECTION>__<FIELD>`), then
`.env`; `load_miner_config` adds an explicit env file and CLI overrides on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scoring.metrics.config import MetricsConfig
from services.compression.settings import CompressionSettings
from services.upscaling.settings import UpscaleSettings
from vidaio.chain.config import ChainConfig, WalletConfig
from vidaio.executor.config import EXECUTOR_DESCRIPTION, ExecutorName, RaySettings
from vidaio.fetch import FetchConfig
from vidaio.logging import LogConfig
from vidaio.protocol import MAX_CONTENT_LENGTH_S, Codec, Profile, TaskType, UpscalingType
from vidaio.settings_base import VidaioSettings
from vidaio.settings_load import ConfigError as ConfigError  # re-exported for the daemon
from vidaio.settings_load import load_settings
from vidaio.storage.config import StorageConfig
from vidaio.telemetry.config import PrometheusConfig
from vidaio.transport.config import ServerConfig

GIB = 1024**3
MIB = 1024**2

CompressionEngineName = Literal["search", "fixed", "passthrough"]
DEMO_ONLY_COMPRESSION = frozenset({"passthrough"})


class MinerSettings(BaseModel):
    """What this miner mines and how it works (env prefix `VIDAIO_MINER__`)."""

    model_config = ConfigDict(extra="forbid")

    task_type: TaskType = Field(
        TaskType.COMPRESSION, description='Task family this miner serves: "upscaling" or "compression".'
    )
    max_content_length: int = Field(
        5, ge=1, le=MAX_CONTENT_LENGTH_S, description="Longest clip in seconds this miner accepts (validators serve 5 or 10)."
    )
    upscaling_types: list[UpscalingType] = Field(
        default_factory=lambda: [UpscalingType.SD2HD, UpscalingType.HD24K, UpscalingType.SD24K],
        description="Upscaling types accepted (SD2HD, HD24K, SD24K, 4K28K); used when task_type=upscaling.",
    )
    codecs: list[Codec] = Field(
        default_factory=lambda: [Codec.AV1, Codec.HEVC],
        description="Output codecs accepted for compression (av1, hevc, h264); used when task_type=compression.",
    )
    profile: Profile = Field(
        Profile.PRODUCTION,
        description='Resolution table of upscaling inputs ("production", "demo", "tiny"): the largest input accepted per type.',
    )
    upscaling: UpscaleSettings = Field(
        default_factory=UpscaleSettings, description="Upscaling engine settings."
    )
    compression_engine: CompressionEngineName = Field(
        "search",
        description='"search" (target-VMAF CRF search), "fixed" (one CRF per tier, lazy) or "passthrough" '
        "(DEMO ONLY: answers the input unchanged; needs allow_demo_strategies).",
    )
    compression: CompressionSettings = Field(
        default_factory=CompressionSettings, description="Compression engine settings."
    )
    allow_demo_strategies: bool = Field(
        False, description="Allow demo-only strategies (passthrough) that exist to show the anti-cheat; never on a real subnet."
    )
    work_dir: Path = Field(
        Path(".miner/work"), description="Directory of per-task temporary files (emptied after every task)."
    )
    executor: ExecutorName = Field("local", description=EXECUTOR_DESCRIPTION)
    cpu_workers: int = Field(1, ge=1, le=64, description="CPU engine jobs (lanczos, compression) run at the same time.")
    gpu_workers: int = Field(1, ge=1, le=16, description="GPU engine jobs (upscaling model) run at the same time.")
    cleanup_interval_s: float | None = Field(
        None,
        ge=0,
        le=7 * 86400,
        description="Seconds between deletions of this miner's objects older than storage.retention_s; "
        "empty = storage.cleanup_interval_s, 0 = never.",
    )
    input_max_bytes: int = Field(
        2 * GIB, ge=1024, le=64 * GIB, description="Hard cap on the size of one task input download."
    )
    input_max_bits_per_pixel: float = Field(
        4.0,
        gt=0,
        le=64,
        description="Upscaling inputs: byte cap = width x height x input_max_fps x content length x this / 8 "
        "(capped by input_max_bytes, at least input_min_bytes).",
    )
    input_max_fps: float = Field(60.0, gt=0, le=240, description="Highest frame rate assumed for the input byte cap.")
    input_min_bytes: int = Field(
        1 * MIB, ge=1024, le=64 * GIB, description="Smallest derived input byte cap (container overhead of tiny clips)."
    )
    duration_tolerance_s: float = Field(
        1.0, ge=0, le=60, description="An input may last this much longer than the task's content length."
    )
    deadline_margin_s: float = Field(
        5.0,
        ge=0,
        le=600,
        description="Seconds kept free before the task deadline for the upload and the answer.",
    )
    shutdown_grace_s: float = Field(
        5.0,
        ge=0,
        le=600,
        description="On SIGINT/SIGTERM, in-flight tasks get this long to finish before they are abandoned "
        "(set pm2 kill_timeout above it).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MinerSettings:
        if self.compression_engine in DEMO_ONLY_COMPRESSION and not self.allow_demo_strategies:
            raise ValueError(
                f"compression_engine {self.compression_engine!r} is demo-only (it returns the input unchanged); "
                "set allow_demo_strategies=true to use it in the one-machine demo"
            )
        if self.task_type is TaskType.UPSCALING and not self.upscaling_types:
            raise ValueError("an upscaling miner needs at least one upscaling type")
        if self.task_type is TaskType.COMPRESSION and not self.codecs:
            raise ValueError("a compression miner needs at least one codec")
        self.upscaling_types = list(dict.fromkeys(self.upscaling_types))
        self.codecs = list(dict.fromkeys(self.codecs))
        return self

    def upscale_settings(self, ffmpeg_path: Path | None = None) -> UpscaleSettings:
        """The engine's settings (ffmpeg from metrics.ffmpeg_path unless set here)."""
        if self.upscaling.ffmpeg_path is None and ffmpeg_path is not None:
            return self.upscaling.model_copy(update={"ffmpeg_path": str(ffmpeg_path)})
        return self.upscaling


class MinerConfig(VidaioSettings):
    """Everything the miner daemon reads (env prefix `VIDAIO_`, nested sections with `__`)."""

    wallet: WalletConfig = Field(default_factory=WalletConfig, description="The miner's wallet.")
    chain: ChainConfig = Field(default_factory=ChainConfig, description="Chain to serve on.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="Signed HTTP endpoint.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Bucket for the results.")
    fetch: FetchConfig = Field(default_factory=FetchConfig, description="Safe fetcher for task inputs.")
    log: LogConfig = Field(default_factory=LogConfig, description="Logging.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="ffmpeg binary and metric settings.")
    miner: MinerSettings = Field(default_factory=MinerSettings, description="What is mined and how.")
    ray: RaySettings = Field(default_factory=RaySettings, description="Ray cluster (used when miner.executor=ray).")
    prometheus: PrometheusConfig = Field(
        default_factory=PrometheusConfig, description="Prometheus /metrics endpoint (default port 9102)."
    )


def load_miner_config(env_file: Path | None = None, overrides: dict[str, Any] | None = None) -> MinerConfig:
    """Env vars, then `env_file` (default `.env`), under `overrides` (highest); ConfigError on problems."""
    return load_settings(MinerConfig, env_file, overrides)
