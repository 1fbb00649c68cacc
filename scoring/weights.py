"""Weights (SPEC §6.6): two pools shared in proportion to accumulate scores.

Compression pool 0.6, upscaling pool 0.4 (configurable); validators (permit holders), miners
without a task type and miners with a non-positive or non-finite accumulate score get 0; a pool
with no eligible miner hands its share to the other; nothing eligible -> do not set weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scoring.config import ScoringConfig
from scoring.history import TASK_TYPES, TaskType


@dataclass(frozen=True)
class MinerStanding:
    uid: int
    hotkey: str
    task_type: TaskType | None
    accumulate_score: float
    is_validator: bool = False


@dataclass(frozen=True)
class WeightsDecision:
    """``weights`` maps every given UID to its weight (summing to 1); None = do not set."""

    weights: dict[int, float] | None
    reason: str


def _eligible(s: MinerStanding) -> bool:
    score = s.accumulate_score
    return (
        not s.is_validator
        and s.task_type in TASK_TYPES
        and isinstance(score, int | float)
        and math.isfinite(score)
        and score > 0
    )


def _share_pool(members: list[MinerStanding], share: float) -> dict[int, float]:
    # Normalise by the max first so huge finite scores cannot overflow the sum to inf.
    top = max(m.accumulate_score for m in members)
    scaled = {m.uid: m.accumulate_score / top for m in members}
    total = math.fsum(scaled.values())
    return {uid: share * v / total for uid, v in scaled.items()}


def compute_weights(standings: Sequence[MinerStanding], cfg: ScoringConfig) -> WeightsDecision:
    """Weights for every UID in ``standings``, or a decision not to set them (with the reason)."""
    uids = [s.uid for s in standings]
    if len(set(uids)) != len(uids):
        dupes = sorted({u for u in uids if uids.count(u) > 1})
        return WeightsDecision(None, f"duplicate UIDs in standings: {dupes}")
    pools: dict[str, list[MinerStanding]] = {t: [] for t in TASK_TYPES}
    for s in standings:
        if _eligible(s):
            pools[str(s.task_type)].append(s)
    shares = {"compression": cfg.compression_pool_share, "upscaling": cfg.upscaling_pool_share}
    filled = [t for t in TASK_TYPES if pools[t]]
    if not filled:
        return WeightsDecision(None, "no eligible miner: every accumulate score is zero, invalid or a validator's")
    if len(filled) == 1:
        shares = {t: (1.0 if t == filled[0] else 0.0) for t in TASK_TYPES}
    weights = {uid: 0.0 for uid in uids}
    for t in filled:
        weights.update(_share_pool(pools[t], shares[t]))
    total = math.fsum(weights.values())
    if not math.isfinite(total) or abs(total - 1.0) > 1e-6:
        return WeightsDecision(None, f"weights do not sum to 1 (sum={total!r}); not setting them")
    counts = ", ".join(f"{t}: {len(pools[t])} miner(s)" for t in TASK_TYPES)
    note = "" if len(filled) == 2 else f"; empty pool's share handed to {filled[0]}"
    return WeightsDecision(weights, f"set ({counts}{note})")
