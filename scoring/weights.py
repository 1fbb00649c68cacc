"""Weights (docs/scoring.md#weights): two pools shared in proportion to accumulate scores.

Compression pool 0.6, upscaling pool 0.4 (configurable); validators (permit holders), miners
without a task type and miners with a non-positive or non-finite accumulate score get 0; a pool
with no eligible miner hands its share to the other; nothing eligible -> do not set weights.

Chain limits (:class:`WeightLimits`, read from the subnet's hyperparameters): no uid may hold more
than ``max_weight`` of the total (the chain checks ``max / sum <= MaxWeightsLimit / 65535`` on the
u16 values). A miner above the limit is capped and the excess is spread over the other miners of
ITS pool (in proportion to their scores), so the pool keeps its share; only when the whole pool is
at the limit does the rest go to the other pool, and the decision says what was kept. The split is
reported as the chain will see it: after the u16 quantisation (:func:`quantize_u16`, as the SDK
does it). Fewer eligible miners than ``min_allowed_weights``, or too few for the limit to be met
at all (n x max_weight < 1), -> do not set weights (never weight a zero-score miner to fill up).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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


U16_MAX = 65535
SPLIT_TOLERANCE = 0.005
"""A pool's effective share within this (absolute) of its target counts as kept."""


@dataclass(frozen=True)
class WeightLimits:
    """The subnet's limits on a weight vector (from its hyperparameters)."""

    max_weight: float = 1.0
    """Largest fraction of the total one uid may hold (MaxWeightsLimit / 65535)."""
    min_allowed_weights: int = 0
    """Fewest non-zero weights the chain accepts."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_weight) and 0 < self.max_weight <= 1):
            raise ValueError(f"max_weight must be in (0, 1], got {self.max_weight!r}")
        if self.min_allowed_weights < 0:
            raise ValueError(f"min_allowed_weights must be >= 0, got {self.min_allowed_weights}")

    @classmethod
    def from_u16(cls, max_weight_limit: int, min_allowed_weights: int = 0) -> WeightLimits:
        return cls(max(1, min(int(max_weight_limit), U16_MAX)) / U16_MAX, max(0, int(min_allowed_weights)))


@dataclass(frozen=True)
class PoolSplit:
    """Each pool's share of the weights: the target (60/40, or a hand-over) and what the chain will
    see after u16 quantisation."""

    target: dict[str, float]
    effective: dict[str, float]
    kept: bool
    note: str = ""

    def describe(self) -> str:
        parts = ", ".join(f"{t} {self.effective.get(t, 0.0):.4f} (target {v:.3f})" for t, v in self.target.items())
        return parts + ("" if self.kept else f"; NOT KEPT: {self.note}")

    def as_json(self) -> dict[str, object]:
        return {"target": dict(self.target), "effective": dict(self.effective), "kept": self.kept, "note": self.note}


@dataclass(frozen=True)
class WeightsDecision:
    """``weights`` maps every given UID to its weight (summing to 1); None = do not set."""

    weights: dict[int, float] | None
    reason: str
    split: PoolSplit | None = None


def quantize_u16(weights: Mapping[int, float]) -> dict[int, int]:
    """The u16 values the chain receives (the SDK's ``normalize``): max-upscaled to 65535 and
    rounded; weights that round to 0 are dropped."""
    top = max((w for w in weights.values()), default=0.0)
    if top <= 0:
        return {}
    out = {int(uid): round(w / top * U16_MAX) for uid, w in weights.items() if w > 0}
    return {uid: v for uid, v in out.items() if v > 0}


def within_limit(quantized: Mapping[int, int], max_weight: float) -> bool:
    """The chain's check: the largest u16 value over their sum is at most the limit."""
    total = sum(quantized.values())
    return total > 0 and max(quantized.values()) <= max_weight * total


def _fill(members: list[MinerStanding], share: float, cap: float) -> tuple[dict[int, float], float]:
    """Share `share` among `members` in proportion to their scores, none above `cap`; the
    excess of a capped miner goes to the others. Returns (weights, share left unplaced)."""
    pending = sorted(members, key=lambda m: m.accumulate_score, reverse=True)
    out: dict[int, float] = {}
    left = share
    while pending:
        # normalise by the largest pending score: huge finite scores cannot overflow, and the head's
        # ratio is 1, so the total never underflows to 0
        top = pending[0].accumulate_score
        total = math.fsum(m.accumulate_score / top for m in pending)
        head = pending[0]
        if left * (head.accumulate_score / top) / total > cap:
            out[head.uid] = cap
            left -= cap
            pending.pop(0)
            continue
        for m in pending:
            out[m.uid] = left * (m.accumulate_score / top) / total
        return out, 0.0
    return out, max(0.0, left)


def _allocate(
    pools: dict[str, list[MinerStanding]], shares: dict[str, float], cap: float
) -> tuple[dict[int, float], list[str]]:
    weights: dict[int, float] = {}
    notes: list[str] = []
    filled = [t for t in TASK_TYPES if pools[t]]
    placed: dict[str, dict[int, float]] = {}
    spill = 0.0
    for t in filled:
        placed[t], left = _fill(pools[t], shares[t], cap)
        if left > 1e-12:
            spill += left
            notes.append(
                f"{t} holds {shares[t] - left:.3f} of its {shares[t]:.3f} ({len(pools[t])} miner(s) at the "
                f"max_weight_limit {cap:.4f})"
            )
    if spill > 0:
        for t in filled:
            if shares[t] - math.fsum(placed[t].values()) <= 1e-12:
                placed[t], left = _fill(pools[t], shares[t] + spill, cap)
                notes.append(f"the rest goes to {t}")
                spill = left
    for t in filled:
        weights.update(placed[t])
    return weights, notes


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


def compute_weights(
    standings: Sequence[MinerStanding], cfg: ScoringConfig, limits: WeightLimits | None = None
) -> WeightsDecision:
    """Weights for every UID in ``standings`` within the chain's ``limits``, or a decision not to set
    them (with the reason). The decision's split is the effective one after u16 quantisation."""
    limits = limits or WeightLimits()
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
    eligible = sum(len(pools[t]) for t in filled)
    if eligible < limits.min_allowed_weights:
        return WeightsDecision(
            None, f"only {eligible} eligible miner(s); the chain requires at least {limits.min_allowed_weights} "
            "weights (zero-score miners are never weighted to fill up)",
        )  # fmt: skip
    if limits.max_weight < 1.0 and eligible * limits.max_weight < 1.0 - 1e-9:
        return WeightsDecision(
            None, f"max_weight_limit {limits.max_weight:.4f} cannot be met by {eligible} eligible miner(s) "
            f"(needs at least {math.ceil(1 / limits.max_weight - 1e-9)})",
        )  # fmt: skip
    if len(filled) == 1:
        shares = {t: (1.0 if t == filled[0] else 0.0) for t in TASK_TYPES}
    if limits.max_weight < 1.0 and eligible * limits.max_weight <= 1.0 + 1e-9:
        # n x limit == 1: equal weights are the only vector the chain accepts
        notes = [f"max_weight_limit {limits.max_weight:.4f} with {eligible} miners leaves equal weights only"]
        placed = {m.uid: 1.0 / eligible for t in filled for m in pools[t]}
        quantized = quantize_u16(placed)
    else:
        placed, notes, quantized = _fit(pools, shares, limits.max_weight)
        if not quantized or (limits.max_weight < 1.0 and not within_limit(quantized, limits.max_weight)):
            return WeightsDecision(None, f"could not fit the weights under max_weight_limit {limits.max_weight:.4f}")
    if len(quantized) < limits.min_allowed_weights:
        return WeightsDecision(
            None, f"only {len(quantized)} weight(s) stay non-zero after u16 quantisation; the chain requires at "
            f"least {limits.min_allowed_weights}",
        )  # fmt: skip
    weights = {uid: 0.0 for uid in uids}
    weights.update(placed)
    total = math.fsum(weights.values())
    if not math.isfinite(total) or abs(total - 1.0) > 1e-6:
        return WeightsDecision(None, f"weights do not sum to 1 (sum={total!r}); not setting them")
    split = _split(pools, shares, quantized, notes)
    counts = ", ".join(f"{t}: {len(pools[t])} miner(s)" for t in TASK_TYPES)
    note = "" if len(filled) == 2 else f"; empty pool's share handed to {filled[0]}"
    return WeightsDecision(weights, f"set ({counts}{note})", split)


def _fit(
    pools: dict[str, list[MinerStanding]], shares: dict[str, float], max_weight: float
) -> tuple[dict[int, float], list[str], dict[int, int]]:
    """Allocate under a cap just below the limit, tightened until the u16 values pass the chain's check."""
    cap = max_weight * (1 - 1e-6) if max_weight < 1.0 else 1.0
    for _ in range(200):  # u16 rounding may push the largest share a hair over the limit
        placed, notes = _allocate(pools, shares, cap)
        quantized = quantize_u16(placed)
        if max_weight >= 1.0 or within_limit(quantized, max_weight):
            break
        cap *= 1 - 2e-5
    return placed, notes, quantized


def _split(
    pools: dict[str, list[MinerStanding]], shares: dict[str, float], quantized: Mapping[int, int], notes: list[str]
) -> PoolSplit:
    total = sum(quantized.values())
    effective = {
        t: (sum(quantized.get(m.uid, 0) for m in pools[t]) / total if total else 0.0) for t in TASK_TYPES
    }
    kept = all(abs(effective[t] - shares[t]) <= SPLIT_TOLERANCE for t in TASK_TYPES)
    note = "; ".join(notes) if notes else ("" if kept else "u16 quantisation moved the split")
    return PoolSplit(dict(shares), effective, kept, note)
