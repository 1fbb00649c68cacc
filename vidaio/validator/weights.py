"""Setting weights (docs/scoring.md#weights): from the database's standings, within the chain's limits, with retries.

Every `weights_interval` blocks (or the chain's weights rate limit, if longer): read the subnet's
hyperparameters (max weight limit, min allowed weights, rate limit, weights version, commit-reveal),
`repository.standings(validator uids)` -> `scoring.weights.compute_weights` (0.6 compression / 0.4
upscaling within the max weight limit; validators, deregistered hotkeys and non-positive scores get
0) -> `chain.set_weights` with `version_key` = the configured one, else the chain's weights version.
This is the ONE retry layer: each attempt is one submission, logged and stored in `weight_sets` with
the per-pool split (target, and effective after u16 quantisation); a decision not to set weights
(nothing eligible, a limit that cannot be met) is logged only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger

from scoring.config import ScoringConfig
from scoring.weights import PoolSplit, WeightLimits, compute_weights
from vidaio.chain.port import ChainPort, MetagraphSnapshot, SubnetHyperparameters, WeightSetResult
from vidaio.db.repository import Repository


@dataclass(frozen=True)
class WeightsOutcome:
    """What one weights pass did: `weights` None when it decided not to set any."""

    weights: dict[int, float] | None
    success: bool
    attempts: int
    message: str
    block: int | None = None
    split: PoolSplit | None = None
    version_key: int | None = None


class WeightSetter:
    """Decides when weights are due and sets them; remembers the last successful block."""

    def __init__(
        self,
        chain: ChainPort,
        repo: Repository,
        scoring: ScoringConfig,
        *,
        retries: int = 3,
        backoff_s: float = 5.0,
        version_key: int = 0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.chain = chain
        self.repo = repo
        self.scoring = scoring
        self.retries = retries
        self.backoff_s = backoff_s
        self.version_key = version_key
        self._sleep = sleep
        self.hyperparameters: SubnetHyperparameters | None = None
        self.last_block: int | None = self._last_success_block()

    def _last_success_block(self) -> int | None:
        for record in self.repo.recent_weight_sets(50):
            if record.success and record.block is not None:
                return record.block
        return None

    async def refresh_limits(self) -> SubnetHyperparameters:
        """Read the subnet's hyperparameters (at start and every weight cycle); on failure keep the
        last ones read (or the chain defaults) and say so."""
        try:
            hp = await self.chain.hyperparameters()
        except Exception as exc:
            hp = self.hyperparameters or SubnetHyperparameters()
            logger.warning("cannot read the subnet hyperparameters ({}); using {}", exc, hp.describe())
            return hp
        if hp != self.hyperparameters:
            logger.info("subnet hyperparameters: {}", hp.describe())
            if hp.weights_rate_limit > self.scoring.weights_interval:
                logger.warning(
                    "weights_interval {} blocks is below the chain's weights rate limit {}: waiting {} blocks",
                    self.scoring.weights_interval, hp.weights_rate_limit, hp.weights_rate_limit,
                )  # fmt: skip
        self.hyperparameters = hp
        return hp

    def interval(self) -> int:
        rate = self.hyperparameters.weights_rate_limit if self.hyperparameters else 0
        return max(self.scoring.weights_interval, rate)

    def due(self, block: int) -> bool:
        """True when no weights were set yet or the interval (weights_interval, at least the chain's
        weights rate limit) has passed since."""
        return self.last_block is None or block - self.last_block >= self.interval()

    def decide(
        self, snapshot: MetagraphSnapshot, hp: SubnetHyperparameters | None = None
    ) -> tuple[dict[int, float] | None, str, PoolSplit | None]:
        """The weights to set now from the DB standings (None + reason when nothing can be set).

        Only registered hotkeys count (a deregistered miner's weight is 0 at once); the reason ends
        with each pool's effective share after u16 quantisation and its target.
        """
        hp = hp or self.hyperparameters or SubnetHyperparameters()
        validators = {n.uid for n in snapshot.validators()}
        registered = {n.uid: n.hotkey for n in snapshot.neurons}
        standings = [s for s in self.repo.standings(validators) if registered.get(s.uid) == s.hotkey]
        limits = WeightLimits.from_u16(hp.max_weight_limit, hp.min_allowed_weights)
        decision = compute_weights(standings, self.scoring, limits)
        if decision.weights is None:
            return None, decision.reason, None
        weights = {uid: w for uid, w in decision.weights.items() if w > 0}
        split = decision.split
        return weights, f"{decision.reason}; {split.describe() if split else '-'}", split

    async def set_weights(self, snapshot: MetagraphSnapshot, *, round_id: str | None = None) -> WeightsOutcome:
        """Read the chain's limits, compute and set weights now, retrying failures; every attempt is stored."""
        hp = await self.refresh_limits()
        weights, reason, split = await asyncio.to_thread(self.decide, snapshot, hp)
        if weights is None:
            logger.warning("weights not set: {}", reason)
            return WeightsOutcome(None, False, 0, reason)
        version_key = self.version_key or hp.weights_version
        stored: dict[str, Any] = {
            **(split.as_json() if split else {}),
            "max_weight_limit": hp.max_weight_limit, "min_allowed_weights": hp.min_allowed_weights,
            "version_key": version_key, "commit_reveal": hp.commit_reveal,
        }  # fmt: skip
        if split is not None and not split.kept:
            logger.warning("weights: the pool split cannot be kept under the chain's limits: {}", split.note)
        attempts = self.retries + 1
        result = WeightSetResult(success=False, message="not attempted")
        for attempt in range(1, attempts + 1):
            try:
                result = await self.chain.set_weights(weights, version_key=version_key)
            except Exception as exc:  # a chain adapter failing hard must not kill the validator
                result = WeightSetResult(success=False, message=f"{type(exc).__name__}: {exc}"[:500])
            await asyncio.to_thread(
                self.repo.log_weight_set, weights, success=result.success, message=result.message,
                block=result.block, attempt=attempt, round_id=round_id, split=stored,
            )  # fmt: skip
            if result.success:
                self.last_block = result.block if result.block is not None else await self._block()
                logger.info(
                    "weights set on {} uid(s) at block {} (attempt {}, version_key {}; {})",
                    len(weights), result.block, attempt, version_key, reason,
                )  # fmt: skip
                return WeightsOutcome(weights, True, attempt, result.message, result.block, split, version_key)
            if attempt < attempts:
                delay = self.backoff_s * 2 ** (attempt - 1)
                logger.warning("setting weights failed (attempt {}/{}): {}; retry in {:.1f}s",
                               attempt, attempts, result.message, delay)  # fmt: skip
                await self._sleep(delay)
        logger.error("setting weights failed after {} attempt(s): {}", attempts, result.message)
        return WeightsOutcome(weights, False, attempts, result.message, result.block, split, version_key)

    async def maybe_set(self, snapshot: MetagraphSnapshot, block: int, *, round_id: str | None = None) -> WeightsOutcome | None:
        """`set_weights` when due at `block`, else None."""
        if not self.due(block):
            return None
        return await self.set_weights(snapshot, round_id=round_id)

    async def _block(self) -> int | None:
        try:
            return await self.chain.current_block()
        except Exception:
            return None
