"""Rolling history (docs/scoring.md#rolling-history-and-multipliers): the miner-standing rule, in one pure function.

:func:`next_standing` is THE rule the validator applies to every recorded round (the repository
only loads the stored standing and writes back what this returns): hotkey reset, task-type switch,
window, multipliers, adjusted score, EMA accumulate score, tier and window averages.

- A uid whose hotkey changed starts fresh: no history, accumulate score 0 (the DB deletes the old rows).
- A task-type switch starts a new *period*: the window holds only rounds of the current period
  (rounds of an earlier period of the same type never re-enter it) and the score restarts at 0.
- Everything else works on the current period's rounds of ONE task type, oldest first, newest last.
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
    """One round of one miner. A failed or missing response is ``RoundRecord(score=0.0)``.

    Metrics that were not measured are None: the multipliers count them as 0, the window
    averages skip them.
    """

    score: float  # S_F (upscaling) or S_f (compression) before the multiplier
    s_q: float | None = None  # upscaling quality score
    vmaf: float | None = None  # VMAF of the round
    vmaf_threshold: float | None = None  # compression: the task's threshold
    s_l: float | None = None  # upscaling length score
    compression_rate: float | None = None  # compression: C = compressed / original size

    def __post_init__(self) -> None:
        for name, lo, hi in (("score", 0.0, math.inf), ("s_q", 0.0, 1.0), ("vmaf", 0.0, 100.0),
                             ("vmaf_threshold", 0.0, 100.0), ("s_l", 0.0, 1.0), ("compression_rate", 0.0, math.inf)):
            value = getattr(self, name)
            if value is None and name != "score":
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number) or not lo <= number <= hi:
                raise ValueError(f"RoundRecord.{name} must be a finite number in [{lo}, {hi}], got {value!r}")


def _zero(value: float | None) -> float:
    return 0.0 if value is None else value


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
        pen_q_count = sum(_zero(r.s_q) < cfg.upscaling_penalty_q_threshold for r in rounds)
        max_q = cfg.max_penalty_q
    else:
        bonus_count = sum(r.score > cfg.compression_bonus_threshold for r in rounds)
        pen_f_count = sum(r.score < cfg.compression_penalty_f_threshold for r in rounds)
        pen_q_count = sum(_zero(r.vmaf) < _zero(r.vmaf_threshold) + cfg.vmaf_safety_margin for r in rounds)
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


@dataclass(frozen=True)
class StoredStanding:
    """What the validator holds for a uid before a new round is folded in."""

    hotkey: str
    task_type: TaskType
    accumulate_score: float
    period: Sequence[RoundRecord] = ()
    """Rounds of the current period (this task type since the last switch), oldest first; only the
    last ``history_window - 1`` matter."""


@dataclass(frozen=True)
class Standing:
    """A miner's standing after a round: everything ``miner_metadata`` stores, and what happened."""

    hotkey_reset: bool
    task_switched: bool
    window: tuple[RoundRecord, ...]
    multipliers: Multipliers
    adjusted_score: float
    accumulate_score: float
    tier: Tier
    avg_s_q: float | None
    avg_s_l: float | None
    avg_s_f: float | None
    avg_vmaf: float | None
    avg_compression_rate: float | None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) / len(present) if present else None


def next_standing(
    stored: StoredStanding | None,
    hotkey: str,
    task_type: TaskType | str,
    new_round: RoundRecord,
    cfg: ScoringConfig,
) -> Standing:
    """The miner's standing after ``new_round`` (docs/scoring.md#rolling-history-and-multipliers), from what was stored before it.

    ``stored`` None: the uid was never seen. Another hotkey at the uid: reset (no history, score 0).
    Another task type than the stored one: a new period (no history, score 0). Otherwise the window
    is the stored period plus the new round (last ``history_window``). Adjusted score = round
    score x total multiplier of that window; accumulate = EMA of the adjusted scores; tier and
    averages over the window (averages skip unmeasured metrics; a failed round's score counts 0).
    """
    _check_task(task_type)
    task = TaskType(task_type)
    hotkey_reset = stored is not None and stored.hotkey != hotkey
    task_switched = stored is not None and not hotkey_reset and TaskType(stored.task_type) is not task
    if stored is None or hotkey_reset or task_switched:
        history: Sequence[RoundRecord] = ()
        previous = 0.0
    else:
        history = stored.period
        previous = stored.accumulate_score
    window = tuple(recent([*history, new_round], cfg))
    mult = compute_multipliers(task, window, cfg)
    adjusted = new_round.score * mult.total
    return Standing(
        hotkey_reset=hotkey_reset,
        task_switched=task_switched,
        window=window,
        multipliers=mult,
        adjusted_score=adjusted,
        accumulate_score=update_accumulate_score(previous, adjusted, cfg),
        tier=performance_tier(task, window, cfg),
        avg_s_q=_mean([r.s_q for r in window]),
        avg_s_l=_mean([r.s_l for r in window]),
        avg_s_f=_mean([r.score for r in window]),
        avg_vmaf=_mean([r.vmaf for r in window]),
        avg_compression_rate=_mean([r.compression_rate for r in window]),
    )
