"""Compression round score (docs/scoring.md#compression-score): C, VMAF threshold, S_f."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scoring.config import ScoringConfig


@dataclass(frozen=True)
class CompressionBreakdown:
    """Every term of one compression score; both terms are 0 when the VMAF threshold failed."""

    compression_rate: float
    compression_term: float
    quality_term: float
    s_f: float
    vmaf_passed: bool


def compression_rate(compressed_size: int, original_size: int) -> float:
    """C = compressed_size / original_size."""
    if original_size <= 0:
        raise ValueError(f"original size must be > 0 bytes, got {original_size}")
    if compressed_size < 0:
        raise ValueError(f"compressed size must be >= 0 bytes, got {compressed_size}")
    return compressed_size / original_size


def compression_score(
    compression_rate: float, vmaf: float, vmaf_threshold: float, cfg: ScoringConfig
) -> CompressionBreakdown:
    """S_f = w_c * (1 - C^1.5) + w_vmaf * (VMAF - thr) / (100 - thr); 0 when VMAF < thr.

    C >= 1 gives a compression term of 0. (C=0.3, VMAF 85, thr 70 -> 0.769.)
    """
    if not math.isfinite(compression_rate) or compression_rate < 0:
        raise ValueError(f"compression rate must be a finite number >= 0, got {compression_rate!r}")
    if not math.isfinite(vmaf) or not 0.0 <= vmaf <= 100.0:
        raise ValueError(f"VMAF must be in [0, 100], got {vmaf!r}")
    if not math.isfinite(vmaf_threshold) or not 0.0 <= vmaf_threshold < 100.0:
        raise ValueError(f"VMAF threshold must be in [0, 100), got {vmaf_threshold!r}")
    if vmaf < vmaf_threshold:
        return CompressionBreakdown(compression_rate, 0.0, 0.0, 0.0, vmaf_passed=False)
    c_term = 0.0
    if compression_rate < 1.0:
        c_term = cfg.compression_rate_weight * (1.0 - compression_rate**cfg.compression_rate_exponent)
    q_term = cfg.compression_vmaf_weight * (vmaf - vmaf_threshold) / (100.0 - vmaf_threshold)
    return CompressionBreakdown(compression_rate, c_term, q_term, c_term + q_term, vmaf_passed=True)
