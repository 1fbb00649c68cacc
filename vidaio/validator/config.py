"""Validator configuration: `ValidatorSettings` (section `VIDAIO_VALIDATOR__*`) and `ValidatorConfig`.

`ValidatorConfig` reads env vars (`VIDAIO_<SECTION>__<FIELD>`), then `.env`; `load_validator_config`
adds an explicit env file and `{section: {field: value}}` overrides on top (highest). Task
synthesis has its own section (`VIDAIO_SYNTHESIS__*`, `services.synthesis.SynthesisConfig`).

The VMAF frame-sampling secret: when `validator.secret` is empty, a random one is generated once
and kept next to the database (`<db>.secret`, mode 0600), so restarts sample the same way and
miners cannot predict the frames.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from scoring.config import ScoringConfig
from scoring.metrics.config import MetricsConfig
from services.synthesis.config import SynthesisConfig
from vidaio.chain.config import ChainConfig, WalletConfig
from vidaio.db.config import DbConfig
from vidaio.executor.config import EXECUTOR_DESCRIPTION, ExecutorName, RaySettings
from vidaio.fetch import FetchConfig
from vidaio.logging import LogConfig
from vidaio.protocol import MAX_CONTENT_LENGTH_S, MAX_DEADLINE_S, Codec, Profile, UpscalingType
from vidaio.settings_base import VidaioSettings
from vidaio.settings_load import ConfigError as ConfigError  # re-exported for the daemon
from vidaio.settings_load import load_settings
from vidaio.storage.config import StorageConfig
from vidaio.telemetry.config import PrometheusConfig

SECRET_SUFFIX = ".secret"
_COMPRESSION_SIZE: dict[Profile, tuple[int, int]] = {
    Profile.PRODUCTION: (1920, 1080),
    Profile.DEMO: (960, 540),
    Profile.TINY: (320, 180),
}


class ValidatorSettings(BaseModel):
    """How the validator runs rounds (env prefix `VIDAIO_VALIDATOR__`)."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr = Field(
        SecretStr(""),
        description="Secret seeding VMAF/PIE-APP frame sampling and per-round draws; empty = generated once "
        "and kept next to the database (<db>.secret).",
    )
    profile: Profile = Field(
        Profile.PRODUCTION,
        description='Resolution table ("production", "demo": halved, "tiny": /6 for tests) of task clips.',
    )
    round_interval_s: float = Field(
        300.0, ge=0, le=86_400, description="Seconds from the start of one round to the start of the next."
    )
    max_rounds: int = Field(0, ge=0, description="Stop after this many rounds (0 = run forever; localnet/tests).")
    miners_per_round: int = Field(
        0, ge=0, le=65_535, description="Miners of each task type asked per round (0 = all of them)."
    )
    upscaling_group_size: int = Field(
        4, ge=1, le=256, description="Upscaling miners sharing one clip (their copies then collide)."
    )
    upscaling_types: list[UpscalingType] = Field(
        default_factory=lambda: [UpscalingType.SD2HD, UpscalingType.HD24K, UpscalingType.SD24K],
        description="Upscaling task types sent (SD2HD, HD24K, SD24K, 4K28K); empty = no upscaling tasks.",
    )
    content_lengths: list[int] = Field(
        default_factory=lambda: [5, 10],
        min_length=1,
        description="Upscaling clip lengths (s) served; each miner is sent the longest one within its declared "
        "max_content_length (a miner declaring none: 5 s).",
    )
    compression_thresholds: list[float] = Field(
        default_factory=lambda: [85.0, 89.0, 93.0],
        min_length=1,
        description="VMAF thresholds drawn from per round (one for every compression miner of the round).",
    )
    compression_codecs: list[Codec] = Field(
        default_factory=lambda: [Codec.AV1, Codec.HEVC],
        description="Codecs a compression task may ask for (among those each miner declares); empty = no "
        "compression tasks.",
    )
    compression_seconds: float = Field(
        10.0, gt=0, le=MAX_CONTENT_LENGTH_S, description="Length (s) of compression clips (capped by miners' maximum)."
    )
    compression_size: tuple[int, int] | None = Field(
        None,
        description="Compression clip size [w, h]; empty = per profile (production 1920x1080, demo 960x540, "
        "tiny 320x180).",
    )
    upscaling_deadline_s: float = Field(
        120.0, gt=0, le=MAX_DEADLINE_S, description="Seconds a miner has to answer an upscaling task."
    )
    compression_deadline_s: float = Field(
        300.0, gt=0, le=MAX_DEADLINE_S, description="Seconds a miner has to answer a compression task."
    )
    dispatch_grace_s: float = Field(
        2.0, ge=0, le=60, description="Extra seconds the HTTP client waits past a task deadline (network)."
    )
    dispatch_concurrency: int = Field(256, ge=1, le=4096, description="Requests to miners in flight at once.")
    fetch_concurrency: int = Field(16, ge=1, le=1024, description="Output downloads in flight at once.")
    synthesis_timeout_s: float = Field(
        300.0, gt=0, le=7200, description="Longest wait for a prepared task clip before the group is skipped."
    )
    score_workers: int = Field(2, ge=1, le=64, description="Parallel scoring jobs (VMAF, PIE-APP, validation).")
    executor: ExecutorName = Field("local", description=EXECUTOR_DESCRIPTION + " (scoring jobs)")
    score_executor: Literal["process", "thread"] = Field(
        "process",
        description='"process": a pool of worker processes (one PIE-APP instance each); "thread": threads in '
        "the validator process (one shared PIE-APP behind a lock).",
    )
    score_torch_threads: int = Field(
        0, ge=0, le=256, description="torch CPU threads per scoring worker (0 = CPU count / score_workers)."
    )
    capabilities_ttl_s: float = Field(
        600.0, ge=0, le=86_400, description="How long a miner's /capabilities answer is reused."
    )
    capabilities_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout of one /capabilities request.")
    work_dir: Path = Field(
        Path("~/.vidaio/validator/work"), description="Where miners' outputs are downloaded for scoring."
    )
    input_presign_ttl_s: int = Field(
        0, ge=0, le=7 * 86_400, description="Lifetime of the task input URLs (0 = the task deadline + 10 min)."
    )
    weights_retries: int = Field(
        3, ge=0, le=20, description="Extra attempts when setting weights fails (the only retry layer: one "
        "submission per attempt, each recorded in weight_sets).",
    )  # fmt: skip
    weights_backoff_s: float = Field(5.0, ge=0, le=600, description="First wait before a weights retry (doubles).")
    prune_interval_s: float = Field(
        86_400.0, ge=0, le=30 * 86_400, description="Seconds between database prunes (0 = only at start-up)."
    )
    shutdown_grace_s: float = Field(
        10.0, ge=0, le=600, description="On SIGINT/SIGTERM, a running round gets this long to finish before it is "
        "abandoned (closed as interrupted)."
    )
    allow_random_pieapp_weights: bool = Field(
        False,
        description="DEMO/TEST ONLY (refused with profile=production): score PIE-APP with random-initialised "
        "weights when none are found; such results are labelled pieapp_random_weights.",
    )

    @field_validator("upscaling_types", "compression_codecs", "content_lengths", "compression_thresholds")
    @classmethod
    def _unique(cls, value: list[Any]) -> list[Any]:
        return list(dict.fromkeys(value))

    @field_validator("content_lengths")
    @classmethod
    def _lengths(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if not 1 <= v <= MAX_CONTENT_LENGTH_S]
        if bad:
            raise ValueError(f"content lengths must be in [1, {MAX_CONTENT_LENGTH_S}] s, got {bad}")
        return sorted(value)

    @field_validator("compression_thresholds")
    @classmethod
    def _thresholds(cls, value: list[float]) -> list[float]:
        bad = [v for v in value if not 0 <= v < 100]
        if bad:
            raise ValueError(f"compression thresholds must be in [0, 100), got {bad}")
        return value

    @field_validator("compression_size")
    @classmethod
    def _size(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and (value[0] < 16 or value[1] < 16 or value[0] % 2 or value[1] % 2):
            raise ValueError(f"compression_size must be even and at least 16x16, got {value[0]}x{value[1]}")
        return value

    @model_validator(mode="after")
    def _something_to_do(self) -> ValidatorSettings:
        if not self.upscaling_types and not self.compression_codecs:
            raise ValueError("nothing to validate: both upscaling_types and compression_codecs are empty")
        if self.allow_random_pieapp_weights and self.profile is Profile.PRODUCTION:
            raise ValueError(
                "allow_random_pieapp_weights is demo/test only: it is refused with profile=production"
            )
        return self

    def clip_size(self) -> tuple[int, int]:
        """The compression clip size of this profile (or the configured one)."""
        return self.compression_size or _COMPRESSION_SIZE[self.profile]

    def presign_ttl_s(self) -> int:
        """Lifetime of input URLs: configured, else the longest deadline plus 10 minutes."""
        if self.input_presign_ttl_s:
            return self.input_presign_ttl_s
        return int(max(self.upscaling_deadline_s, self.compression_deadline_s) + 600)


class ValidatorConfig(VidaioSettings):
    """Everything the validator daemon reads (env prefix `VIDAIO_`, nested sections with `__`)."""

    wallet: WalletConfig = Field(default_factory=WalletConfig, description="The validator's wallet.")
    chain: ChainConfig = Field(default_factory=ChainConfig, description="Chain to read and set weights on.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Bucket for task inputs.")
    fetch: FetchConfig = Field(default_factory=FetchConfig, description="Safe fetcher for miners' outputs.")
    log: LogConfig = Field(default_factory=LogConfig, description="Logging.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="VMAF, PIE-APP and validation.")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="Scoring formulas and weights.")
    db: DbConfig = Field(default_factory=DbConfig, description="The validator's SQLite database.")
    synthesis: SynthesisConfig = Field(default_factory=SynthesisConfig, description="Where task clips come from.")
    validator: ValidatorSettings = Field(default_factory=ValidatorSettings, description="Rounds and scoring.")
    ray: RaySettings = Field(default_factory=RaySettings, description="Ray cluster (used when validator.executor=ray).")
    prometheus: PrometheusConfig = Field(
        default_factory=PrometheusConfig, description="Prometheus /metrics endpoint (default port 9103)."
    )

    @model_validator(mode="after")
    def _random_weights_demo_only(self) -> ValidatorConfig:
        if self.metrics.allow_random_weights and self.validator.profile is Profile.PRODUCTION:
            raise ValueError(
                "metrics.allow_random_weights is demo/test only: it is refused with validator.profile=production"
            )
        return self

    def effective_metrics(self) -> MetricsConfig:
        """The metrics section with the validator's random-PIE-APP passthrough applied."""
        if self.validator.allow_random_pieapp_weights and not self.metrics.allow_random_weights:
            return self.metrics.model_copy(update={"allow_random_weights": True})
        return self.metrics


def load_validator_config(env_file: Path | None = None, overrides: dict[str, Any] | None = None) -> ValidatorConfig:
    """Env vars, then `env_file` (default `.env`), under `overrides` (highest); ConfigError on problems."""
    return load_settings(ValidatorConfig, env_file, overrides)


def secret_path(db: DbConfig) -> Path:
    """Where the generated sampling secret lives: next to the database file."""
    return db.path.with_name(db.path.name + SECRET_SUFFIX)


def resolve_secret(settings: ValidatorSettings, db: DbConfig) -> str:
    """The configured secret, else the one persisted next to the DB (generated and stored on first use)."""
    configured = settings.secret.get_secret_value().strip()
    if configured:
        return configured
    path = secret_path(db)
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
        raise ConfigError(f"secret file {path} is empty: delete it to generate a new one or set validator.secret")
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        try:
            os.link(tmp, path)  # atomic, and never replaces a secret another process just wrote
        except FileExistsError:
            return resolve_secret(settings, db)
    finally:
        tmp.unlink(missing_ok=True)
    return value
