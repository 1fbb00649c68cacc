"""Setting weights (SPEC §6.6): from the database's standings, through the chain port, with retries.

Every `weights_interval` blocks: `repository.standings(validator uids)` -> `scoring.weights.
compute_weights` (0.6 compression / 0.4 upscaling, validators and non-positive scores get 0) ->
`chain.set_weights`, retried with exponential backoff. Every attempt, failed or not, is logged and
stored in `weight_sets`; a decision not to set weights (nothing eligible) is logged only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from loguru import logger

from scoring.config import ScoringConfig
from scoring.weights import compute_weights
from vidaio.chain.port import ChainPort, MetagraphSnapshot, WeightSetResult
from vidaio.db.repository import Repository


@dataclass(frozen=True)
class WeightsOutcome:
    """What one weights pass did: `weights` None when it decided not to set any."""

    weights: dict[int, float] | None
    success: bool
    attempts: int
    message: str
    block: int | None = None


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.chain = chain
        self.repo = repo
        self.scoring = scoring
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.last_block: int | None = self._last_success_block()

    def _last_success_block(self) -> int | None:
        for record in self.repo.recent_weight_sets(50):
            if record.success and record.block is not None:
                return record.block
        return None

    def due(self, block: int) -> bool:
        """True when no weights were set yet or `weights_interval` blocks have passed since."""
        return self.last_block is None or block - self.last_block >= self.scoring.weights_interval

    def decide(self, snapshot: MetagraphSnapshot) -> tuple[dict[int, float] | None, str]:
        """The weights to set now from the DB standings (None + reason when nothing is eligible).

        The reason ends with each pool's total share, e.g. "...; compression 0.600, upscaling 0.400".
        """
        validators = {n.uid for n in snapshot.validators()}
        registered = {n.uid: n.hotkey for n in snapshot.neurons}
        standings = [s for s in self.repo.standings(validators) if registered.get(s.uid) == s.hotkey]
        decision = compute_weights(standings, self.scoring)
        if decision.weights is None:
            return None, decision.reason
        weights = {uid: w for uid, w in decision.weights.items() if w > 0}
        shares: dict[str, float] = {}
        for st in standings:
            if st.uid in weights and st.task_type:
                shares[str(st.task_type)] = shares.get(str(st.task_type), 0.0) + weights[st.uid]
        pools = ", ".join(f"{k} {v:.3f}" for k, v in sorted(shares.items()))
        return weights, f"{decision.reason}; {pools}"

    async def set_weights(self, snapshot: MetagraphSnapshot, *, round_id: str | None = None) -> WeightsOutcome:
        """Compute and set weights now, retrying failures; every attempt is stored."""
        weights, reason = await asyncio.to_thread(self.decide, snapshot)
        if weights is None:
            logger.warning("weights not set: {}", reason)
            return WeightsOutcome(None, False, 0, reason)
        attempts = self.retries + 1
        result = WeightSetResult(success=False, message="not attempted")
        for attempt in range(1, attempts + 1):
            try:
                result = await self.chain.set_weights(weights)
            except Exception as exc:  # a chain adapter failing hard must not kill the validator
                result = WeightSetResult(success=False, message=f"{type(exc).__name__}: {exc}"[:500])
            await asyncio.to_thread(
                self.repo.log_weight_set, weights, success=result.success, message=result.message,
                block=result.block, attempt=attempt, round_id=round_id,
            )  # fmt: skip
            if result.success:
                self.last_block = result.block if result.block is not None else await self._block()
                logger.info(
                    "weights set on {} uid(s) at block {} (attempt {}; {})", len(weights), result.block, attempt, reason
                )
                return WeightsOutcome(weights, True, attempt, result.message, result.block)
            if attempt < attempts:
                delay = self.backoff_s * 2 ** (attempt - 1)
                logger.warning("setting weights failed (attempt {}/{}): {}; retry in {:.1f}s",
                               attempt, attempts, result.message, delay)  # fmt: skip
                await self._sleep(delay)
        logger.error("setting weights failed after {} attempt(s): {}", attempts, result.message)
        return WeightsOutcome(weights, False, attempts, result.message, result.block)

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
