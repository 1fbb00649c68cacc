"""Pure computation of a miner's standing from its rolling window (SPEC §6.5), via `scoring`.

No I/O: the repository loads the window and the previous state, calls `next_state`, and
writes the result in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scoring.config import ScoringConfig
from scoring.history import (
    RoundRecord,
    compute_multipliers,
    performance_tier,
    update_accumulate_score,
)
from scoring.task_type import TaskType


@dataclass(frozen=True)
class WindowRound:
    """The columns of one history row that the window computations read."""

    score: float
    s_q: float | None = None
    s_l: float | None = None
    vmaf: float | None = None
    vmaf_threshold: float | None = None
    compression_rate: float | None = None

    def record(self) -> RoundRecord:
        """As a scoring RoundRecord; unmeasured metrics count as 0 (a failed round scores 0)."""
        return RoundRecord(
            score=self.score,
            s_q=self.s_q or 0.0,
            vmaf=self.vmaf or 0.0,
            vmaf_threshold=self.vmaf_threshold or 0.0,
        )


@dataclass(frozen=True)
class MinerState:
    """Everything `miner_metadata` derives from the window and the previous accumulate score."""

    adjusted_score: float
    accumulate_score: float
    bonus_multiplier: float
    penalty_f_multiplier: float
    penalty_q_multiplier: float
    total_multiplier: float
    bonus_count: int
    penalty_f_count: int
    penalty_q_count: int
    avg_s_q: float | None
    avg_s_l: float | None
    avg_s_f: float | None
    avg_vmaf: float | None
    avg_compression_rate: float | None
    performance_tier: str


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def next_state(
    task_type: TaskType,
    previous_accumulate: float,
    window: Sequence[WindowRound],
    cfg: ScoringConfig,
) -> MinerState:
    """The miner's state after the newest round, which is the last element of `window`.

    `window` holds at most `cfg.history_window` rounds of this task type, oldest first.
    Adjusted score = newest round's score x total multiplier of the window (incl. that round);
    accumulate score = EMA of the adjusted scores. Averages skip unmeasured metrics, except
    `avg_s_f`, where a failed round counts as 0.
    """
    if not window:
        raise ValueError("the window must hold at least the round just recorded")
    if len(window) > cfg.history_window:
        raise ValueError(f"window holds {len(window)} rounds, more than history_window={cfg.history_window}")
    records = [r.record() for r in window]
    mult = compute_multipliers(task_type, records, cfg)
    adjusted = window[-1].score * mult.total
    return MinerState(
        adjusted_score=adjusted,
        accumulate_score=update_accumulate_score(previous_accumulate, adjusted, cfg),
        bonus_multiplier=mult.bonus,
        penalty_f_multiplier=mult.penalty_f,
        penalty_q_multiplier=mult.penalty_q,
        total_multiplier=mult.total,
        bonus_count=mult.bonus_count,
        penalty_f_count=mult.penalty_f_count,
        penalty_q_count=mult.penalty_q_count,
        avg_s_q=_mean([r.s_q for r in window]),
        avg_s_l=_mean([r.s_l for r in window]),
        avg_s_f=_mean([r.score for r in window]),
        avg_vmaf=_mean([r.vmaf for r in window]),
        avg_compression_rate=_mean([r.compression_rate for r in window]),
        performance_tier=performance_tier(task_type, records, cfg),
    )
