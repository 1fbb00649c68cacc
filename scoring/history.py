"""Rolling history (SPEC §6.5): multipliers, EMA accumulate score, hotkey reset, performance tier.

Everything operates on a miner's list of :class:`RoundRecord` for ONE task type, oldest first,
newest last. The persistence layer owns the list; these functions never touch storage.

Hotkey change: when the hotkey registered at a UID differs from the stored one
(:func:`should_reset`), the DB layer deletes that UID's round history and sets its
accumulate score to 0 before recording the new round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scoring.config import ScoringConfig
from scoring.task_type import TASK_TYPES, TaskType

Tier = Literal["Elite", "Good", "Average", "Poor", "New"]
_TIER_EPS = 1e-12


@dataclass(frozen=True)
class RoundRecord:
    """One round of one miner. A failed or missing response is ``RoundRecord(score=0.0)``."""

    score: float  # S_F (upscaling) or S_f (compression) before the multiplier
    s_q: float = 0.0  # upscaling quality score
    vmaf: float = 0.0  # VMAF of the round
    vmaf_threshold: float = 0.0  # compression: the task's threshold

    def __post_init__(self) -> None:
        for name, lo, hi in (("score", 0.0, math.inf), ("s_q", 0.0, 1.0), ("vmaf", 0.0, 100.0),
                             ("vmaf_threshold", 0.0, 100.0)):
            value = getattr(self, name)
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number) or not lo <= number <= hi:
                raise ValueError(f"RoundRecord.{name} must be a finite number in [{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class Multipliers:
    """The three window multipliers. For compression ``penalty_q`` holds penalty_VMAF."""

    bonus: float
    penalty_f: float
    penalty_q: float
    bonus_count: int
    penalty_f_count: int
    penalty_q_count: int

    @property
    def total(self) -> float:
        return self.bonus * self.penalty_f * self.penalty_q


@dataclass(frozen=True)
class RoundOutcome:
    """Result of folding one new round into a miner's history."""

    multipliers: Multipliers
    adjusted_score: float
    accumulate_score: float
    tier: Tier


def _check_task(task_type: str) -> None:
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type {task_type!r}; expected one of {TASK_TYPES}")


def recent(window: Sequence[RoundRecord], cfg: ScoringConfig) -> list[RoundRecord]:
    """The last ``cfg.history_window`` rounds (newest last)."""
    return list(window[-cfg.history_window :]) if window else []


def compute_multipliers(task_type: TaskType, window: Sequence[RoundRecord], cfg: ScoringConfig) -> Multipliers:
    """Bonus and penalties over the last ``history_window`` rounds.

    Counts are divided by the window SIZE, not by the number of rounds seen, so a miner with
    3 rounds of history is judged as if the 7 others were neither bonus nor penalty rounds.
    """
    _check_task(task_type)
    rounds = recent(window, cfg)
    n = cfg.history_window
    if task_type == "upscaling":
        bonus_count = sum(r.score > cfg.upscaling_bonus_threshold for r in rounds)
        pen_f_count = sum(r.score < cfg.upscaling_penalty_f_threshold for r in rounds)
        pen_q_count = sum(r.s_q < cfg.upscaling_penalty_q_threshold for r in rounds)
        max_q = cfg.max_penalty_q
    else:
        bonus_count = sum(r.score > cfg.compression_bonus_threshold for r in rounds)
        pen_f_count = sum(r.score < cfg.compression_penalty_f_threshold for r in rounds)
        pen_q_count = sum(r.vmaf < r.vmaf_threshold + cfg.vmaf_safety_margin for r in rounds)
        max_q = cfg.max_penalty_vmaf
    return Multipliers(
        bonus=1.0 + bonus_count / n * cfg.max_bonus,
        penalty_f=1.0 - pen_f_count / n * cfg.max_penalty_f,
        penalty_q=1.0 - pen_q_count / n * max_q,
        bonus_count=bonus_count,
        penalty_f_count=pen_f_count,
        penalty_q_count=pen_q_count,
    )


def update_accumulate_score(previous: float, adjusted_score: float, cfg: ScoringConfig) -> float:
    """EMA: decay * previous + (1 - decay) * adjusted (0.75 / 0.25 by default)."""
    for name, value in (("previous accumulate score", previous), ("adjusted score", adjusted_score)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    return cfg.ema_decay * previous + (1.0 - cfg.ema_decay) * adjusted_score


def average_score(window: Sequence[RoundRecord], cfg: ScoringConfig) -> float:
    """Mean round score over the last ``history_window`` rounds (0 for an empty history)."""
    rounds = recent(window, cfg)
    return math.fsum(r.score for r in rounds) / len(rounds) if rounds else 0.0


def performance_tier(task_type: TaskType, window: Sequence[RoundRecord], cfg: ScoringConfig) -> Tier:
    """Elite/Good/Average/Poor from the mean round score over the window; "New" if not full yet."""
    _check_task(task_type)
    if len(window) < cfg.history_window:
        return "New"
    avg = average_score(window, cfg) + _TIER_EPS  # a mean of 10 x 0.32 must reach the 0.32 boundary
    elite, good, average = (getattr(cfg, f"{task_type}_tier_{t}") for t in ("elite", "good", "average"))
    if avg >= elite:
        return "Elite"
    if avg >= good:
        return "Good"
    if avg >= average:
        return "Average"
    return "Poor"


def should_reset(stored_hotkey: str | None, current_hotkey: str) -> bool:
    """True when the UID now belongs to a different hotkey: its history and score start fresh.

    ``stored_hotkey`` None means the UID was never seen: nothing to reset.
    """
    return stored_hotkey is not None and stored_hotkey != current_hotkey


def score_round(
    task_type: TaskType,
    history: Sequence[RoundRecord],
    new_round: RoundRecord,
    previous_accumulate: float,
    cfg: ScoringConfig,
) -> RoundOutcome:
    """Fold ``new_round`` into a miner's state: multipliers over history + new round (last
    ``history_window``), adjusted = score x total multiplier, EMA update, tier."""
    window = [*history, new_round]
    mult = compute_multipliers(task_type, window, cfg)
    adjusted = new_round.score * mult.total
    return RoundOutcome(
        multipliers=mult,
        adjusted_score=adjusted,
        accumulate_score=update_accumulate_score(previous_accumulate, adjusted, cfg),
        tier=performance_tier(task_type, window, cfg),
    )
