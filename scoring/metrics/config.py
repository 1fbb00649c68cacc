"""`MetricsConfig`: how quality is measured (ffmpeg, VMAF, PIE-APP) and how outputs are validated.

Section `VIDAIO_METRICS__*` of the daemon configs (see docs/architecture.md). Plain pydantic model:
the daemons compose it; `MetricsConfig()` gives the docs/scoring.md#metrics and #output-validation defaults. How many frames are
sampled (VMAF N=5, PIE-APP 4) is a scoring constant: `ScoringConfig.vmaf_samples` / `pieapp_frames`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

VMAF_MODELS: tuple[str, ...] = ("vmaf_v0.6.1", "vmaf_v0.6.1neg", "vmaf_4k_v0.6.1")
"""Models built into the imageio-ffmpeg 0.8.1 libvmaf (checked with `model=version=...`)."""


class MetricsConfig(BaseModel):
    """Settings for VMAF, PIE-APP and output validation (docs/scoring.md#metrics and #output-validation)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- ffmpeg -------------------------------------------------------------------------------
    ffmpeg_path: Path | None = Field(
        default=None,
        description="Path to an ffmpeg binary with libvmaf; empty = the binary shipped in the imageio-ffmpeg wheel.",
    )

    # --- VMAF ---------------------------------------------------------------------------------
    vmaf_threads: int = Field(default=2, ge=1, le=128, description="libvmaf worker threads (n_threads).")
    vmaf_timeout_s: float = Field(
        default=600.0, gt=0, le=7200, description="Wall-clock limit for one ffmpeg/libvmaf run, in seconds."
    )
    vmaf_window: int = Field(
        default=1,
        ge=1,
        le=4,
        description="Neighbouring frames scored on each side of a sampled frame so the motion feature "
        "matches a full-clip run (1 = triplets i-1, i, i+1).",
    )
    answer_budget_base_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="CPU budget for scoring one answer (validation, decoding, VMAF, colour check; PIE-APP "
        "excluded): this many seconds plus answer_budget_s_per_mpx_frame x frames x megapixels of the clip. "
        "Past it the answer scores 0 (scoring_budget_exceeded) and its work is killed; 0 and 0 = no limit.",
    )
    answer_budget_s_per_mpx_frame: float = Field(
        default=0.05,
        ge=0,
        le=10,
        description="CPU budget per frame-megapixel of the clip: ~7x what an honest answer costs (measured "
        "0.007 CPU-s per frame-megapixel for a 1080p AV1 answer, decoding, libvmaf and colour check included).",
    )
    answer_budget_max_s: float = Field(
        default=900.0, gt=0, le=7200, description="Upper bound of the per-answer work budget, in seconds."
    )
    answer_budget_wall_factor: float = Field(
        default=4.0,
        ge=1,
        le=100,
        description="The per-answer budget is CPU seconds; its wall-clock limit is this multiple of it.",
    )
    vmaf_model_compression: str = Field(
        default="vmaf_v0.6.1neg", description="libvmaf model for the compression score (resists sharpening)."
    )
    vmaf_model_upscaling: str = Field(
        default="vmaf_v0.6.1", description="libvmaf model for the upscaling gate below 2160p."
    )
    vmaf_model_upscaling_4k: str = Field(
        default="vmaf_4k_v0.6.1", description="libvmaf model for the upscaling gate at >= 2160p."
    )

    # --- output validation (docs/scoring.md#output-validation) -----------------------------------------------------------
    frame_tolerance: int = Field(
        default=2, ge=0, le=1000, description="Allowed difference in frame count from the reference."
    )
    fps_tolerance: float = Field(
        default=0.3, ge=0, le=10, description="Allowed difference in average fps from the reference."
    )
    max_size_ratio_x2: float = Field(
        default=8.0,
        gt=0,
        le=1000,
        description="Upscaling x2: output size cap as a multiple of the input size.",
    )
    max_size_ratio_x4: float = Field(
        default=20.0,
        gt=0,
        le=1000,
        description="Upscaling x4: output size cap as a multiple of the input size.",
    )
    chroma_min_saturation_ratio: float = Field(
        default=0.78,
        ge=0,
        le=1,
        description="Colour check (VMAF ignores chroma): minimum RMS chroma of the output as a fraction of the "
        "reference's on sampled frames (grayscale 0, chroma blur + saturation x0.66 <= 0.66; honest encodes >= 0.80 "
        "at any CRF, >= 0.90 at VMAF >= 70: benchmarks/calibrate_chroma.py); 0 disables.",
    )
    chroma_min_psnr_db: float = Field(
        default=18.0,
        ge=0,
        le=100,
        description="Colour check: minimum PSNR of the U and V planes vs the reference (honest encodes >= 22 dB); 0 disables.",
    )
    chroma_max_luma_gap_db: float = Field(
        default=14.0,
        ge=0,
        le=100,
        description="Colour check: refuse when the chroma PSNR (worse of U, V) is more than this many dB below the "
        "luma PSNR on the sampled frames (chroma starved while VMAF, which reads luma, stays). Honest encodes reach "
        "6.3 on the shared clips and 11.0 (SVT-AV1, x265 9.8) on the validator's synthetic clips (services/synthesis, "
        "seeds 0-15, 40 draws); chroma QP starvation is refused from the bitstream (chroma_qp_offset) and blur + desaturation by "
        "the saturation floor, so this is a backstop (U/V swapped, heavy chroma blur); 0 disables.",
    )
    chroma_gap_detail_slope: float = Field(
        default=0.0,
        ge=0,
        le=2,
        description="Colour check: the allowed luma gap grows by this many dB per dB of the reference's colour "
        "detail (chroma vs luma high-frequency energy). 0 by default: no slope separated the starvation attacks "
        "better on the calibration set.",
    )
    chroma_max_detail_loss_db: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="Colour check (opt-in): refuse when the answer's chroma kept this many dB less of the "
        "reference's high-frequency energy than its luma did (chroma blurred before encoding). Off by default: "
        "honest encodes of the shared clips stay <= 2.6 dB, but of the validator's synthetic clips "
        "(services/synthesis) reach 8.6 dB (chroma-only fine texture), while a chroma gblur sigma 2 on real "
        "footage loses 2.7-3.6 dB. 0 disables.",
    )
    chroma_detail_loss_gap_slope: float = Field(
        default=0.1,
        ge=0,
        le=2,
        description="Colour check: the allowed chroma detail loss grows by this many dB per dB the chroma PSNR "
        "exceeds the luma PSNR (chroma coded far more accurately than luma may drop chroma noise: honest AV1 at "
        "CRF 50-55 on grainy footage lost 2.3-2.6 dB at luma gaps of -8.6..-9.8 dB).",
    )
    chroma_min_reference_rms: float = Field(
        default=2.0,
        ge=0,
        le=128,
        description="The saturation ratio is checked only when the reference's RMS chroma reaches this (it has colour).",
    )
    claim_frames: int = Field(
        default=5,
        ge=2,
        le=60,
        description="One claim per solution: frames drawn per task group (same for every miner of a clip) to "
        "fingerprint answers (decoded-frame hashes and luma PSNR).",
    )
    claim_max_cross_ratio: dict[str, float] = Field(
        default_factory=lambda: {"hevc": 0.0, "h264": 0.0, "av1": 0.0},
        description="Per answer codec: two answers to one task are one solution (paid once, to the first arrival) "
        "when they differ from each other at most this many times as much as the closer one differs from the "
        "reference (a copy inherits its original's errors). Off (0) by default: where every encoder loses the "
        "same detail (grain, noise, fine texture) independent honest answers are as close: on 8 synthetic-source "
        "clips honest pairs within the size ratio came down to 0.15 (hevc), 0.20 (h264), 0.11 (av1) and the old "
        "limits (0.93/0.75/0.6) merged 77 of 1,176 honest pairs, while an x265 CRF + 1 copy was often no closer "
        "than another preset (benchmarks/calibrate_claims.py --synthetic 8). On the shared real clips "
        "honest pairs stayed >= 0.95 (hevc), >= 0.80 (h264), >= 0.64 (av1): an operator whose content is clean "
        "may opt in below those; a codec not listed uses the smallest value; 0 disables the rule for that codec "
        "(identical decoded frames and the coding-structure rule still count).",
    )
    claim_max_size_ratio: float = Field(
        default=1.2,
        ge=0,
        le=100,
        description="Near copies also agree in size: the larger answer at most this many times the smaller "
        "(the same encoder one CRF step apart: 1.05-1.18; several steps: 1.3-2); 0 ignores the size.",
    )
    claim_max_size_pattern: dict[str, float] = Field(
        default_factory=lambda: {"hevc": 0.04, "h264": 0.0, "av1": 0.0},
        description="Per answer codec: two answers to one task with the same coding structure (frame types, "
        "GOP and B-frame order, read by a demux pass) are one solution when the spread (standard deviation) "
        "of their per-frame log size ratios is at most this and their sizes agree within claim_max_size_ratio: "
        "the same encode at another CRF. Measured (benchmarks/calibrate_claims.py, shared clips and 8 synthetic "
        "ones): x265 CRF + 1 0.019-0.043 on the shared clips, 0.019-0.14 on the synthetic; the closest honest "
        "pair with one structure (x265 medium vs slow at one CRF) 0.043 on the synthetic, >= 0.064 on the "
        "shared clips. x264 presets (>= 0.008) and SVT-AV1 presets (>= 0.024) are as close as their CRF + 1, "
        "hence 0 (off) for them. A codec not listed, or 0, turns this rule off.",
    )
    claim_crop: int = Field(
        default=384,
        ge=16,
        le=4096,
        description="Side of the luma crop kept per claim frame (seeded position): bounds the memory per answer.",
    )
    vmaf_enhancement_gap_max: float = Field(
        default=15.0,
        ge=0,
        le=100,
        description="Upscaling: a VMAF minus VMAF-NEG gap above this is refused when VMAF-NEG alone would fail the "
        "gate (sharpening/contrast boosts inflate VMAF by 11-22 points; honest SR measured 5-16); 0 disables "
        "the check and its extra VMAF-NEG run.",
    )
    upscaling_codecs: list[str] = Field(
        default_factory=lambda: ["hevc", "av1", "h264"],
        min_length=1,
        description="Video codecs accepted in upscaling outputs (ffmpeg codec names).",
    )
    # --- PIE-APP --------------------------------------------------------------------------------
    pieapp_backend: Literal["pyiqa", "piq"] = Field(
        default="pyiqa",
        description="PIE-APP implementation: pyiqa (default; PolyForm-Noncommercial licence) or piq (Apache-2.0).",
    )
    pieapp_weights_path: Path | None = Field(
        default=None,
        description="PIE-APP weights file; empty = the backend's own cache/download location.",
    )
    pieapp_chunk_size: int = Field(
        default=256, ge=1, le=100_000, description="PIE-APP patches per forward pass (bounds memory)."
    )
    pieapp_device: str = Field(
        default="auto", description="Torch device for PIE-APP: auto (cuda if available), cpu, cuda, cuda:N."
    )
    allow_random_weights: bool = Field(
        default=False,
        description="Demo/test only: run PIE-APP with random-initialised weights when none are found "
        "(scores are labelled as such). Never in production.",
    )

    @field_validator("vmaf_model_compression", "vmaf_model_upscaling", "vmaf_model_upscaling_4k")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in VMAF_MODELS:
            raise ValueError(f"unknown VMAF model {value!r}; built-in models: {', '.join(VMAF_MODELS)}")
        return value

    @field_validator("upscaling_codecs")
    @classmethod
    def _lower_codecs(cls, value: list[str]) -> list[str]:
        return [c.strip().lower() for c in value if c.strip()]

    @field_validator("pieapp_device")
    @classmethod
    def _device(cls, value: str) -> str:
        v = value.strip().lower()
        if v in {"auto", "cpu", "cuda", "mps"} or v.startswith("cuda:"):
            return v
        raise ValueError(f"pieapp_device must be auto, cpu, cuda, cuda:N or mps, got {value!r}")

    def max_size_ratio(self, scale: int) -> float:
        """Upscaling output size cap (multiple of the input file size) for a scale factor."""
        if scale == 2:
            return self.max_size_ratio_x2
        if scale == 4:
            return self.max_size_ratio_x4
        raise ValueError(f"unsupported upscaling scale {scale} (expected 2 or 4)")
