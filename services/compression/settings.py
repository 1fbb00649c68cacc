"""Settings of the miner's compression engines (a plain pydantic section; the miner config embeds it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Codec = Literal["av1", "hevc", "h264"]
CODECS: tuple[Codec, ...] = ("av1", "hevc", "h264")

# ffmpeg encoder per task codec, and the CRF scale each encoder accepts.
ENCODERS: dict[str, str] = {"av1": "libsvtav1", "hevc": "libx265", "h264": "libx264"}
CRF_LIMITS: dict[str, tuple[int, int]] = {"av1": (1, 63), "hevc": (0, 51), "h264": (0, 51)}


class CompressionSettings(BaseModel):
    """Target-VMAF search and lazy fixed-CRF settings (env prefix `VIDAIO_COMPRESSION__` in the miner)."""

    model_config = ConfigDict(extra="forbid")

    safety_margin: float = Field(
        0.0,
        ge=0.0,
        le=20.0,
        description="VMAF points aimed above the task threshold. objective=single_round: on top of the "
        "`risk_quantile` reading (~1-2 points under the all-frame mean; use ~1.5 without a quantile); "
        "objective=paid: the all-frame mean must clear threshold + this (draw risk is priced in the objective).",
    )
    max_probes: int = Field(
        6, ge=1, le=20, description="Most probe encodes (CRF trials) per task with objective=single_round."
    )
    sample_seconds: float = Field(
        2.0, gt=0.0, le=60.0, description="Length of each probe sample cut from the clip (seconds)."
    )
    n_samples: int = Field(3, ge=1, le=20, description="Probe samples spread evenly over the clip.")
    full_clip_fraction: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Probe on the whole clip when the samples would cover at least this fraction of it "
        "(the best probe then is the final file, no re-encode).",
    )
    objective: Literal["paid", "single_round"] = Field(
        "paid",
        description="What the search maximises: 'paid' = expected S_f x steady-state history multiplier "
        "(docs/scoring.md#rolling-history-and-multipliers: what a miner is paid); 'single_round' = the older target-VMAF search for the best "
        "single-round S_f (kept for comparison).",
    )
    paid_max_probes: int = Field(
        8, ge=1, le=30, description="Most probe encodes per task with objective=paid (the deadline may stop sooner)."
    )
    paid_draws: int = Field(
        1000, ge=100, le=20000, description="Simulated validator frame draws per objective estimate (objective=paid)."
    )
    paid_final_draws: int = Field(
        20000, ge=100, le=200000,
        description="objective=paid: simulated validator draws when choosing the answer among the probes "
        "(precise: neighbouring CRFs near the VMAF-penalty line differ by less than the noise of fewer draws).",
    )
    paid_min_gain: float = Field(
        0.002, ge=0.0, le=0.1, description="objective=paid: stop when no CRF is predicted to beat the best probe by this."
    )
    paid_explore: float = Field(
        0.15,
        ge=0.0,
        le=2.0,
        description="objective=paid: optimism of the probe planner, VMAF points per CRF of distance from the "
        "nearest probe (0 = trust the interpolation; more = more probes near the cliffs).",
    )
    encoder_params: dict[str, str] = Field(
        default_factory=lambda: {"av1": "", "hevc": "psy-rd=0:aq-mode=0", "h264": ""},
        description="Extra encoder parameters per codec (key=value:key=value, appended to -svtav1-params / "
        "-x265-params / -x264-params). x265 psy-rd=0:aq-mode=0: ~2-3 % smaller at equal VMAF than x265's "
        "psycho-visual defaults (VMAF does not reward them); SVT-AV1 tune=0 and film-grain=8 measured worse.",
    )
    gop: dict[str, int] = Field(
        default_factory=lambda: {"av1": 999},
        description="Keyframe interval in frames per codec (-g); absent = encoder default. AV1 999: one "
        "keyframe per task clip (SVT-AV1's default puts one every few seconds; ~3 % smaller at equal VMAF).",
    )
    presets: dict[str, str] = Field(
        default_factory=lambda: {"av1": "6", "hevc": "medium", "h264": "medium"},
        description="Encoder preset per codec (SVT-AV1 0-13, x265/x264 names). SVT-AV1 6: about 6 % smaller "
        "than 8 at equal VMAF for ~1.5x the encode time (benchmarks/REPORT.md); x265 slow: ~4.5x medium's time.",
    )
    threads: int = Field(2, ge=1, le=256, description="Encoder and VMAF threads.")
    vmaf_model: str = Field("vmaf_v0.6.1neg", description="libvmaf model the validator scores compression with.")
    validator_frames: int = Field(5, ge=1, le=1000, description="Frames the validator samples for VMAF.")
    risk_quantile: float | None = Field(
        0.05,
        ge=0.0,
        le=0.5,
        description="objective=single_round: how probe/final VMAF is read: empty = harmonic mean over every "
        "frame; a number q = the "
        "q-quantile of the validator's random n-frame harmonic mean (never above the all-frame mean).",
    )
    prefer_score: bool = Field(
        True,
        description="objective=single_round: among the passing probes answer the best estimated S_f (docs/scoring.md#compression-score), not "
        "always the highest CRF: once the file is small, VMAF margin is worth more than a few bytes.",
    )
    verify: bool = Field(True, description="Measure the final file's full VMAF before answering.")
    verify_margin: float = Field(
        0.5,
        ge=0.0,
        le=20.0,
        description="The final file must reach threshold + this (else one step down and re-encode).",
    )
    crf_ranges: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: {"av1": (10, 63), "hevc": (10, 51), "h264": (10, 51)},
        description="CRF range searched per codec (low, high).",
    )
    slope_prior: dict[str, float] = Field(
        default_factory=lambda: {"av1": 0.6, "hevc": 1.0, "h264": 1.0},
        description="Expected VMAF points lost per CRF step, before the probes tell.",
    )
    conservative_crf: dict[str, int] = Field(
        default_factory=lambda: {"av1": 24, "hevc": 18, "h264": 18},
        description="CRF used when the deadline leaves no time to search (safe for the highest tier).",
    )
    fixed_crf: dict[int, dict[str, int]] = Field(
        default_factory=lambda: {
            85: {"av1": 40, "hevc": 28, "h264": 26},
            89: {"av1": 35, "hevc": 25, "h264": 23},
            93: {"av1": 30, "hevc": 22, "h264": 20},
        },
        description="Lazy miner: one CRF per threshold tier and codec (also the search's first probe).",
    )
    work_dir: Path | None = Field(None, description="Directory for temporary files (default: system temp).")

    @model_validator(mode="after")
    def _check_tables(self) -> CompressionSettings:
        for codec, (lo, hi) in self.crf_ranges.items():
            if codec not in ENCODERS:
                raise ValueError(f"crf_ranges: unknown codec {codec!r} (known: {', '.join(ENCODERS)})")
            lim_lo, lim_hi = CRF_LIMITS[codec]
            if not lim_lo <= lo <= hi <= lim_hi:
                raise ValueError(f"crf_ranges[{codec}]=({lo}, {hi}) outside {lim_lo}..{lim_hi} or reversed")
        for codec, params in self.encoder_params.items():
            if any(ch.isspace() for ch in params):
                raise ValueError(f"encoder_params[{codec}] must not contain spaces: {params!r}")
        for codec, gop in self.gop.items():
            if gop < 1:
                raise ValueError(f"gop[{codec}]={gop} must be >= 1")
        for name, table in (("presets", self.presets), ("conservative_crf", self.conservative_crf),
                            ("encoder_params", self.encoder_params), ("gop", self.gop)):  # fmt: skip
            for codec in table:
                if codec not in ENCODERS:
                    raise ValueError(f"{name}: unknown codec {codec!r}")
        if not self.fixed_crf:
            raise ValueError("fixed_crf needs at least one threshold tier")
        for tier, table in self.fixed_crf.items():
            for codec, crf in table.items():
                lim_lo, lim_hi = CRF_LIMITS.get(codec, (0, -1))
                if not lim_lo <= crf <= lim_hi:
                    raise ValueError(f"fixed_crf[{tier}][{codec}]={crf} invalid for that codec")
        return self

    def crf_range(self, codec: str) -> tuple[int, int]:
        return self.crf_ranges.get(codec, CRF_LIMITS[_known(codec)])

    def preset(self, codec: str) -> str:
        return self.presets.get(_known(codec), {"av1": "8"}.get(codec, "medium"))

    def encoder_options(self, codec: str) -> dict[str, Any]:
        """`params` and `gop` keyword arguments of `encoder.encode` for this codec."""
        _known(codec)
        return {"params": self.encoder_params.get(codec, ""), "gop": self.gop.get(codec)}

    def tier_crf(self, codec: str, vmaf_threshold: float) -> int:
        """The fixed CRF of the tier for this threshold: the lowest tier >= threshold (else the top one)."""
        _known(codec)
        tiers = sorted(self.fixed_crf)
        tier = next((t for t in tiers if t >= vmaf_threshold), tiers[-1])
        table = self.fixed_crf[tier]
        if codec not in table:
            raise ValueError(f"fixed_crf tier {tier} has no CRF for codec {codec!r}")
        return table[codec]


def _known(codec: str) -> str:
    if codec not in ENCODERS:
        raise ValueError(f"unsupported codec {codec!r} (supported: {', '.join(ENCODERS)})")
    return codec
