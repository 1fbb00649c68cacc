"""What a miner is paid for one compression answer, estimated from the answer's per-frame VMAF.

A miner is paid its accumulate score: the EMA of S_f x the history multiplier (docs/scoring.md#compression-score and #rolling-history-and-multipliers).
If it answers every task with encodes like this one, its window of `history_window` rounds holds
i.i.d. rounds, each scored by the validator on the harmonic mean of `vmaf_samples` random frames.
The *paid figure* is then E[S_f] x the steady-state multiplier, where each multiplier factor is
evaluated at its expected count (the rule is linear in the counts).

Nothing of the rule is copied here: S_f comes from `scoring.compression.compression_score`, and
whether a round is a bonus / S_f-penalty / VMAF-penalty round, and what one such round is worth,
comes from the validator's standing rule `scoring.history.next_standing` (its multipliers for a
fresh miner's first round, i.e. a one-round window), all with the validator's `ScoringConfig`. Pure functions; the simulated validator draws are seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from scoring.compression import compression_score
from scoring.config import ScoringConfig
from scoring.history import RoundRecord, next_standing
from scoring.task_type import TaskType

from .quality import harmonic_mean, sampled_harmonic_means

Objective = Literal["paid", "single_round"]
_STEP = 0.05  # draws are grouped by VMAF rounded to 0.05 (S_f and the round's class depend on it only)


@dataclass(frozen=True)
class PaidEstimate:
    """The validator's view of one answer: single-round S_f and the steady-state paid figure."""

    rate: float  # C = size / input size
    vmaf_hm: float  # harmonic mean over every frame
    s_f: float  # S_f on the all-frame harmonic mean (the single-round objective)
    exp_s_f: float  # E[S_f] over the validator's random frame draws
    p_fail: float  # P(draw below the threshold) -> S_f = 0 that round
    p_bonus: float
    p_penalty_f: float
    p_penalty_vmaf: float
    multiplier: float  # steady-state total multiplier
    paid: float  # exp_s_f x multiplier

    def value(self, objective: Objective) -> float:
        """The figure an engine maximises under `objective`."""
        return self.paid if objective == "paid" else self.s_f


def _clip(v: float) -> float:
    return min(max(float(v), 0.0), 100.0)


def estimate_paid(
    per_frame: Sequence[float] | np.ndarray,
    size_bytes: int,
    input_size_bytes: int,
    threshold: float,
    cfg: ScoringConfig,
    *,
    draws: int = 2000,
    seed: int = 0,
) -> PaidEstimate:
    """S_f, E[S_f], round-class probabilities and the steady-state paid figure of one answer."""
    if input_size_bytes <= 0:
        raise ValueError(f"input size must be > 0, got {input_size_bytes}")
    if size_bytes < 0:
        raise ValueError(f"size must be >= 0, got {size_bytes}")
    scores = np.asarray(per_frame, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("no per-frame VMAF scores")
    rate = size_bytes / input_size_bytes
    hm = harmonic_mean(scores.tolist())
    s_f = compression_score(rate, _clip(hm), threshold, cfg).s_f
    h = sampled_harmonic_means(scores, n_sampled=cfg.vmaf_samples, draws=draws, seed=seed)
    values, counts = np.unique(np.round(np.clip(h, 0.0, 100.0) / _STEP) * _STEP, return_counts=True)
    weights = counts / counts.sum()
    exp_s = p_fail = 0.0
    d_bonus = d_pen_f = d_pen_v = 0.0  # expected per-round change of each factor
    p_bonus = p_pen_f = p_pen_v = 0.0
    for v, w in zip(values.tolist(), weights.tolist(), strict=True):
        v = _clip(v)
        s = compression_score(rate, v, threshold, cfg).s_f
        record = RoundRecord(score=s, vmaf=v, vmaf_threshold=threshold, compression_rate=rate)
        one = next_standing(None, "", TaskType.COMPRESSION, record, cfg).multipliers
        exp_s += w * s
        p_fail += w * (v < threshold)
        d_bonus += w * (one.bonus - 1.0)
        d_pen_f += w * (one.penalty_f - 1.0)
        d_pen_v += w * (one.penalty_q - 1.0)
        p_bonus += w * one.bonus_count
        p_pen_f += w * one.penalty_f_count
        p_pen_v += w * one.penalty_q_count
    n = cfg.history_window  # a full window of such rounds: each factor moves n times the one-round change
    mult = (1.0 + n * d_bonus) * (1.0 + n * d_pen_f) * (1.0 + n * d_pen_v)
    return PaidEstimate(
        rate=rate, vmaf_hm=hm, s_f=s_f, exp_s_f=exp_s, p_fail=p_fail, p_bonus=p_bonus, p_penalty_f=p_pen_f,
        p_penalty_vmaf=p_pen_v, multiplier=mult, paid=exp_s * mult,
    )  # fmt: skip
