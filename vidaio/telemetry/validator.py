"""The validator's metrics, fed at its stable points: the DB writes and the scoring pool.

`MeteredRepository` wraps the validator's `Repository`: every `record_result` counts the task by
task type, status and reason code, observes the score and the DB write seconds; `start_round` /
`finish_round` give the planned tasks, the round duration and its stages (the time breakdown the
round runner measures) and the reachable/unreachable miners of the round; `log_weight_set` counts
weight-set attempts by result. `MeteredPool` counts the scoring pool's busy workers. Both delegate
everything else unchanged, so the daemon only wraps the objects it passes around.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vidaio.telemetry.labels import reason_code

SCORE_BUCKETS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2.0)
ROUND_BUCKETS = (5, 10, 20, 30, 60, 120, 180, 300, 600, 1200, 1800, 3600)
STAGE_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
UNREACHABLE = "unreachable"


class ValidatorMetrics:
    """The validator's metric families, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.rounds = Counter("vidaio_validator_rounds", "Rounds closed, by final status.", ["status"], registry=r)
        self.round_seconds = Histogram(
            "vidaio_validator_round_seconds", "Wall seconds of a round.", buckets=ROUND_BUCKETS, registry=r
        )
        self.stage_seconds = Histogram(
            "vidaio_validator_round_stage_seconds",
            "Seconds a round spent per stage (prepare; dispatch, download, validate, metrics, db summed over tasks).",
            ["stage"], buckets=STAGE_BUCKETS, registry=r,
        )  # fmt: skip
        self.planned = Counter(
            "vidaio_validator_tasks_planned", "Tasks planned (sent to miners) at the start of a round.", registry=r
        )
        self.recorded = Counter(
            "vidaio_validator_tasks_recorded", "Task results recorded in the DB, by status and reason code.",
            ["task_type", "status", "reason"], registry=r,
        )  # fmt: skip
        self.scores = Histogram(
            "vidaio_validator_score", "Recorded round scores (S_f / S_F; failures are 0).", ["task_type"],
            buckets=SCORE_BUCKETS, registry=r,
        )  # fmt: skip
        self.miners = Gauge(
            "vidaio_validator_miners", "Miners asked in the last finished round, reachable or not.", ["state"],
            registry=r,
        )  # fmt: skip
        self.weight_sets = Counter(
            "vidaio_validator_weight_set_attempts", "Attempts to set weights on chain, by result.", ["result"],
            registry=r,
        )  # fmt: skip
        self.last_weight_success = Gauge(
            "vidaio_validator_last_weight_set_success_timestamp_seconds",
            "Unix time of the last successful weight set.", registry=r,
        )  # fmt: skip
        self.pool_busy = Gauge("vidaio_validator_scoring_pool_busy", "Scoring workers busy now.", registry=r)
        self.pool_size = Gauge("vidaio_validator_scoring_pool_workers", "Scoring workers configured.", registry=r)
        self.db_seconds = Histogram(
            "vidaio_validator_db_write_seconds", "Seconds of one DB write transaction, by operation.",
            ["op"], buckets=DB_BUCKETS, registry=r,
        )  # fmt: skip


class MeteredRepository:
    """The validator's Repository with metrics on its writes (everything else is delegated)."""

    def __init__(self, repo: Any, metrics: ValidatorMetrics) -> None:
        self._repo, self._m = repo, metrics
        self.metrics = metrics
        self._lock = threading.Lock()
        self._round_uids: dict[str, dict[int, bool]] = {}  # round -> uid -> reachable

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repo, name)

    def _timed(self, op: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            self._m.db_seconds.labels(op).observe(time.monotonic() - t0)

    def start_round(self, round_id: str, *, block: int | None = None, task_count: int = 0) -> None:
        self._timed("start_round", self._repo.start_round, round_id, block=block, task_count=task_count)
        self._m.planned.inc(task_count)
        with self._lock:
            self._round_uids[round_id] = {}

    def record_result(self, result: Any) -> Any:
        outcome = self._timed("record_result", self._repo.record_result, result)
        if getattr(outcome, "recorded", True):
            task_type = str(getattr(result.task_type, "value", result.task_type))
            self._m.recorded.labels(task_type, result.status, reason_code(result.reason)).inc()
            self._m.scores.labels(task_type).observe(float(result.score))
            with self._lock:
                seen = self._round_uids.setdefault(result.round_id, {})
                seen[result.uid] = seen.get(result.uid, False) or result.status != UNREACHABLE
        return outcome

    def finish_round(self, round_id: str, **kwargs: Any) -> None:
        self._timed("finish_round", self._repo.finish_round, round_id, **kwargs)
        self._m.rounds.labels(kwargs.get("status", "finished")).inc()
        timings: Mapping[str, float] | None = kwargs.get("timings")
        for stage, seconds in (timings or {}).items():
            if stage == "wall_s":
                self._m.round_seconds.observe(seconds)
            else:
                self._m.stage_seconds.labels(stage.removesuffix("_s")).observe(seconds)
        with self._lock:
            seen = self._round_uids.pop(round_id, {})
        reachable = sum(1 for ok in seen.values() if ok)
        self._m.miners.labels("reachable").set(reachable)
        self._m.miners.labels("unreachable").set(len(seen) - reachable)

    def log_weight_set(self, weights: Mapping[int, float], *, success: bool, **kwargs: Any) -> int:
        row_id = self._timed("log_weight_set", self._repo.log_weight_set, weights, success=success, **kwargs)
        self._m.weight_sets.labels("success" if success else "failure").inc()
        if success:
            self._m.last_weight_success.set(time.time())
        return int(row_id)


class MeteredPool:
    """The scoring pool with a busy-workers gauge (scoring calls in flight, at most `workers`)."""

    def __init__(self, pool: Any, metrics: ValidatorMetrics) -> None:
        self._pool, self._m = pool, metrics
        self._in_flight = 0
        workers = int(getattr(pool, "workers", 1) or 1)
        metrics.pool_size.set(workers)
        metrics.pool_busy.set_function(lambda: float(min(self._in_flight, workers)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    async def _count(self, call: Any) -> Any:
        self._in_flight += 1
        try:
            return await call
        finally:
            self._in_flight -= 1

    async def score(self, *args: Any, **kwargs: Any) -> Any:
        return await self._count(self._pool.score(*args, **kwargs))
