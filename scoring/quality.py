"""PIE-APP normalisation (docs/scoring.md#metrics): raw PIE-APP (lower is better) -> S_Q_pieapp in [0, 1]."""

from __future__ import annotations

import math

from scoring.config import ScoringConfig


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _transform(x: float, cfg: ScoringConfig) -> float:
    """f(x) = (1 - log10(sigmoid(x) + 1) / log10(b))^e (b = 3.5, e = 2.5 by default)."""
    return (1.0 - math.log10(_sigmoid(x) + 1.0) / math.log10(cfg.pieapp_log_base)) ** cfg.pieapp_exponent


def pieapp_to_quality(raw_pieapp: float, cfg: ScoringConfig) -> float:
    """S_Q_pieapp = 1 - (f(p) - f(0)) / (f(cap) - f(0)) with p = min(raw, cap).

    ``raw_pieapp`` is mean(|d_i|) over the sampled frames, so it must be finite and >= 0.
    p = 0 -> 1.0, 0.5 -> 0.600, 1 -> 0.314, >= cap -> 0.0.
    """
    if not math.isfinite(raw_pieapp):
        raise ValueError(f"PIE-APP score must be a finite number, got {raw_pieapp!r}")
    if raw_pieapp < 0:
        raise ValueError(f"PIE-APP score must be mean(|d_i|) >= 0, got {raw_pieapp}")
    p = min(raw_pieapp, cfg.pieapp_cap)
    f0 = _transform(0.0, cfg)
    s_q = 1.0 - (_transform(p, cfg) - f0) / (_transform(cfg.pieapp_cap, cfg) - f0)
    return min(1.0, max(0.0, s_q))
