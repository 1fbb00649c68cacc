"""ScoringConfig: every constant of docs/scoring.md with its default and allowed range.

Defaults are the spec's; bounds are the "Technical Specifications" ranges of the scoring seed
where it gives one, otherwise the mathematical domain of the constant. An out-of-range value is
rejected with a message that names the setting and its range.

Usable standalone (env prefix ``VIDAIO_SCORING__``) or as the ``scoring`` section of the daemon
configs (``VIDAIO_SCORING__<FIELD>`` through the parent's nested delimiter).
"""

from __future__ import annotations

from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Content durations (s) the length-score table of the seed knows. Which of them a validator serves
# (validator.content_lengths) and the VMAF thresholds it asks for (validator.compression_thresholds)
# are the validator's task-planning settings, not scoring constants.
KNOWN_CONTENT_LENGTHS: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320)


def _describe_bounds(metadata: list[Any]) -> str:
    lo = hi = None
    lo_incl = hi_incl = True
    for m in metadata:
        if isinstance(m, Ge):
            lo = m.ge
        elif isinstance(m, Gt):
            lo, lo_incl = m.gt, False
        elif isinstance(m, Le):
            hi = m.le
        elif isinstance(m, Lt):
            hi, hi_incl = m.lt, False
    if lo is not None and hi is not None:
        return f"{'[' if lo_incl else '('}{lo}, {hi}{']' if hi_incl else ')'}"
    if lo is not None:
        return f"{'>=' if lo_incl else '>'} {lo}"
    if hi is not None:
        return f"{'<=' if hi_incl else '<'} {hi}"
    return ""


class ScoringConfig(BaseSettings):
    """Constants of the scoring formulas (docs/scoring.md). Pure data: no I/O beyond reading env/.env."""

    model_config = SettingsConfigDict(
        env_prefix="VIDAIO_SCORING__",
        env_file=".env",
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    # --- §6.1 metrics -----------------------------------------------------------------------
    vmaf_samples: int = Field(5, ge=1, le=100, description="Frames sampled at random for VMAF (harmonic mean).")
    pieapp_frames: int = Field(4, ge=1, le=100, description="Frames sampled at random for PIE-APP.")
    pieapp_cap: float = Field(2.0, gt=0, le=10, description="Cap on the raw PIE-APP score before normalisation.")
    pieapp_log_base: float = Field(
        3.5, gt=2.0, le=100, description="Base b of the normalisation f(x) = (1 - log10(sigmoid(x)+1)/log10(b))^e."
    )
    pieapp_exponent: float = Field(
        2.5, gt=0, le=10, description="Exponent e of the normalisation f(x) = (1 - log10(sigmoid(x)+1)/log10(b))^e."
    )

    # --- §6.2 upscaling ---------------------------------------------------------------------
    upscaling_vmaf_threshold: float = Field(
        50.0, ge=0, le=100, description="Upscaling gate: VMAF below this gives S_Q = 0."
    )
    quality_weight: float = Field(0.5, ge=0.0, le=1.0, description="W1: weight of S_Q in S_pre.")
    length_weight: float = Field(0.5, ge=0.0, le=1.0, description="W2: weight of S_L in S_pre.")
    max_content_length: float = Field(
        320.0, gt=0, le=100_000, description="Length (s) at which S_L = 1: S_L = log(1+L)/log(1+max)."
    )
    final_score_scale: float = Field(0.1, gt=0, le=10, description="a in S_F = a * exp(k * (S_pre - m)).")
    final_score_steepness: float = Field(6.979, gt=0, le=50, description="k in S_F = a * exp(k * (S_pre - m)).")
    final_score_midpoint: float = Field(0.5, ge=0, le=1, description="m in S_F = a * exp(k * (S_pre - m)).")

    # --- §6.3 compression -------------------------------------------------------------------
    compression_rate_weight: float = Field(0.8, ge=0.6, le=0.9, description="w_c: weight of (1 - C^exp).")
    compression_vmaf_weight: float = Field(
        0.2, ge=0.1, le=0.4, description="w_vmaf: weight of (VMAF - thr)/(100 - thr)."
    )
    compression_rate_exponent: float = Field(
        1.5, ge=1.2, le=2.0, description="Exponent on the compression rate C in (1 - C^exp)."
    )

    # §6.4 output-validation limits live in MetricsConfig (scoring/metrics/config.py).

    # --- §6.5 history and multipliers -------------------------------------------------------
    history_window: int = Field(10, ge=5, le=10, description="Rounds in the rolling window (per miner, per task).")
    upscaling_bonus_threshold: float = Field(0.32, ge=0.3, le=0.4, description="Bonus round when S_F > this.")
    upscaling_penalty_f_threshold: float = Field(
        0.20, ge=0.15, le=0.25, description="S_F penalty round when S_F < this."
    )
    upscaling_penalty_q_threshold: float = Field(
        0.25, ge=0.2, le=0.3, description="S_Q penalty round when S_Q < this."
    )
    compression_bonus_threshold: float = Field(0.74, ge=0.7, le=0.8, description="Bonus round when S_f > this.")
    compression_penalty_f_threshold: float = Field(
        0.4, ge=0.35, le=0.45, description="S_f penalty round when S_f < this."
    )
    vmaf_safety_margin: float = Field(
        5.0, ge=3, le=10, description="VMAF penalty round when VMAF < task threshold + this margin."
    )
    max_bonus: float = Field(0.15, ge=0.10, le=0.20, description="Bonus multiplier at a full window of bonus rounds.")
    max_penalty_f: float = Field(0.20, ge=0.15, le=0.25, description="Max S_F/S_f penalty (all rounds poor).")
    max_penalty_q: float = Field(0.25, ge=0.20, le=0.30, description="Max S_Q penalty (upscaling).")
    max_penalty_vmaf: float = Field(0.25, ge=0.20, le=0.30, description="Max VMAF-margin penalty (compression).")
    ema_decay: float = Field(
        0.75, gt=0.0, lt=1.0, description="accumulate <- decay * accumulate + (1 - decay) * adjusted round score."
    )
    upscaling_tier_elite: float = Field(0.32, ge=0, le=100, description="Upscaling tier Elite: avg S_F >= this.")
    upscaling_tier_good: float = Field(0.20, ge=0, le=100, description="Upscaling tier Good: avg S_F >= this.")
    upscaling_tier_average: float = Field(0.10, ge=0, le=100, description="Upscaling tier Average: avg S_F >= this.")
    compression_tier_elite: float = Field(0.74, ge=0, le=1, description="Compression tier Elite: avg S_f >= this.")
    compression_tier_good: float = Field(0.55, ge=0, le=1, description="Compression tier Good: avg S_f >= this.")
    compression_tier_average: float = Field(
        0.40, ge=0, le=1, description="Compression tier Average: avg S_f >= this."
    )

    # --- §6.6 weights -----------------------------------------------------------------------
    compression_pool_share: float = Field(0.6, ge=0, le=1, description="Share of weight for compression miners.")
    upscaling_pool_share: float = Field(0.4, ge=0, le=1, description="Share of weight for upscaling miners.")
    weights_interval: int = Field(
        360, ge=1, le=100_000, description="Blocks between weight settings (default: the subnet tempo)."
    )

    @field_validator("*", mode="wrap")
    @classmethod
    def _name_the_range(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            name = info.field_name or "?"
            field = cls.model_fields.get(name)
            bounds = _describe_bounds(list(field.metadata)) if field is not None else ""
            reasons = "; ".join(e["msg"] for e in exc.errors())
            if bounds and any(e["type"] in _RANGE_ERRORS for e in exc.errors()):
                raise ValueError(f"scoring setting {name}={value!r} is out of range: allowed {bounds}") from None
            raise ValueError(f"scoring setting {name}={value!r} is invalid: {reasons}") from None

    @model_validator(mode="after")
    def _check_consistency(self) -> ScoringConfig:
        problems: list[str] = []
        if abs(self.compression_pool_share + self.upscaling_pool_share - 1.0) > 1e-9:
            problems.append(
                "compression_pool_share + upscaling_pool_share must be 1 "
                f"(got {self.compression_pool_share} + {self.upscaling_pool_share})"
            )
        if abs(self.quality_weight + self.length_weight - 1.0) > 1e-9:
            problems.append(
                f"quality_weight + length_weight must be 1 (got {self.quality_weight} + {self.length_weight})"
            )
        if abs(self.compression_rate_weight + self.compression_vmaf_weight - 1.0) > 1e-9:
            problems.append(
                "compression_rate_weight + compression_vmaf_weight must be 1 "
                f"(got {self.compression_rate_weight} + {self.compression_vmaf_weight})"
            )
        for task in ("upscaling", "compression"):
            e, g, a = (getattr(self, f"{task}_tier_{t}") for t in ("elite", "good", "average"))
            if not e >= g >= a:
                problems.append(f"{task}_tier_elite >= {task}_tier_good >= {task}_tier_average must hold")
        if problems:
            raise ValueError("; ".join(problems))
        return self


_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
