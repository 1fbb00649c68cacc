"""Upscaling round score (docs/scoring.md#upscaling-score): VMAF gate, S_L, S_pre, S_F."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scoring.config import ScoringConfig
from scoring.quality import pieapp_to_quality


@dataclass(frozen=True)
class UpscalingBreakdown:
    """Every term of one upscaling score. ``s_q`` is 0 when the VMAF gate failed."""

    s_q: float
    s_l: float
    s_pre: float
    s_f: float
    vmaf_passed: bool


def _check_vmaf(vmaf: float) -> None:
    if not math.isfinite(vmaf) or not 0.0 <= vmaf <= 100.0:
        raise ValueError(f"VMAF must be in [0, 100], got {vmaf!r}")


def length_score(length_s: float, cfg: ScoringConfig) -> float:
    """S_L = log(1 + L) / log(1 + max_length) (5 s -> 0.3105, 10 s -> 0.4155, 320 s -> 1)."""
    if not math.isfinite(length_s) or length_s < 0:
        raise ValueError(f"content length must be a finite number of seconds >= 0, got {length_s!r}")
    if length_s > cfg.max_content_length:
        raise ValueError(f"content length {length_s} s exceeds the maximum of {cfg.max_content_length} s")
    return math.log1p(length_s) / math.log1p(cfg.max_content_length)


def preliminary_score(s_q: float, s_l: float, cfg: ScoringConfig) -> float:
    """S_pre = W1 * S_Q + W2 * S_L."""
    return cfg.quality_weight * s_q + cfg.length_weight * s_l


def final_score(s_pre: float, cfg: ScoringConfig) -> float:
    """S_F = 0.1 * exp(6.979 * (S_pre - 0.5)) (0.30 -> 0.0248, 0.60 -> 0.2010, 0.90 -> 1.6307)."""
    if not math.isfinite(s_pre):
        raise ValueError(f"S_pre must be finite, got {s_pre!r}")
    return cfg.final_score_scale * math.exp(cfg.final_score_steepness * (s_pre - cfg.final_score_midpoint))


def upscaling_score(pieapp: float, vmaf: float, content_length: float, cfg: ScoringConfig) -> UpscalingBreakdown:
    """Score one valid upscaling response from its raw PIE-APP, its VMAF and the requested length.

    A failed/invalid response is not scored here: the caller records a round with score 0.
    """
    _check_vmaf(vmaf)
    s_q_pieapp = pieapp_to_quality(pieapp, cfg)
    vmaf_passed = vmaf >= cfg.upscaling_vmaf_threshold
    s_q = s_q_pieapp if vmaf_passed else 0.0
    s_l = length_score(content_length, cfg)
    s_pre = preliminary_score(s_q, s_l, cfg)
    return UpscalingBreakdown(s_q=s_q, s_l=s_l, s_pre=s_pre, s_f=final_score(s_pre, cfg), vmaf_passed=vmaf_passed)
