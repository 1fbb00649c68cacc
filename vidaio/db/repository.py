"""The validator's database API: results, rounds, weight-set log, standings, pruning.

Every write is one `BEGIN IMMEDIATE` transaction (see `engine.py`), so concurrent writers
serialise instead of losing updates, and a crash leaves either all of a write or none of it.

Test seam: `Repository.after_history_row` (None in production) is called inside `record_result`'s
open transaction right after the history row is inserted, so a test can stall there and SIGKILL
the process mid-write (tests/vidaio/db/db_worker.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger
from sqlalchemy import Engine, and_, delete, func, select, update
from sqlalchemy.orm import Session

from scoring.config import ScoringConfig
from scoring.history import RoundRecord, Standing, StoredStanding, next_standing
from scoring.weights import MinerStanding
from vidaio.db.config import DbConfig
from vidaio.db.engine import make_engine, reader
from vidaio.db.migrate import upgrade_to_head
from vidaio.db.models import MinerMetadata, MinerRoundHistory, Round, WeightSet, utcnow
from vidaio.db.types import PruneReport, RecordOutcome, RoundResult, RoundStatus, WeightSetRecord

H = MinerRoundHistory


class Repository:
    """Reads and writes of the validator database (one instance per process)."""

    after_history_row: Callable[[], None] | None = None
    """Test seam: called inside `record_result`'s transaction after the history row is inserted."""

    def __init__(self, engine: Engine, scoring: ScoringConfig, db: DbConfig) -> None:
        self._engine = engine
        self._reader = reader(engine)
        self._scoring = scoring
        self._db = db

    @classmethod
    def open(cls, db: DbConfig, scoring: ScoringConfig, *, migrate: bool = True) -> Repository:
        """Open (and by default create/upgrade to the head schema) the database of `db.path`."""
        if migrate:
            upgrade_to_head(db.path, busy_timeout_ms=db.busy_timeout_ms)
        return cls(make_engine(db.path, busy_timeout_ms=db.busy_timeout_ms), scoring, db)

    @property
    def path(self) -> Path:
        return self._db.path

    def close(self) -> None:
        self._engine.dispose()

    # --- results -----------------------------------------------------------------------------

    def record_result(self, result: RoundResult) -> RecordOutcome:
        """Insert the history row and store the miner's new standing, in one transaction.

        Idempotent on `task_id`: a repeated call changes nothing and returns `recorded=False`.
        The standing (hotkey reset, task-type switch, window, multipliers, EMA, tier) is
        `scoring.history.next_standing`; this method only loads what it needs and stores the result
        (a reset deletes the uid's old rows; a switch marks the new row `switched_from`).
        """
        with Session(self._engine, expire_on_commit=False) as s, s.begin():
            existing = s.scalars(select(H).where(H.task_id == result.task_id)).one_or_none()
            if existing is not None:
                return _duplicate_outcome(s, existing)
            if s.get(Round, result.round_id) is None:
                s.add(Round(round_id=result.round_id, status="running"))
            meta = s.get(MinerMetadata, result.uid)
            stored = None
            if meta is not None:
                stored = StoredStanding(
                    hotkey=meta.hotkey,
                    task_type=meta.task_type,
                    accumulate_score=meta.accumulate_score,
                    period=self._period(s, result.uid, meta.task_type),
                )
            standing = next_standing(stored, result.hotkey, result.task_type, _record(result), self._scoring)
            if standing.hotkey_reset and meta is not None:
                logger.info("uid {} changed hotkey {} -> {}: history and score reset", result.uid, meta.hotkey,
                            result.hotkey)  # fmt: skip
                s.execute(delete(H).where(H.uid == result.uid))
                s.delete(meta)
                s.flush()
                meta = None
            switched_from = None
            if meta is None:
                meta = MinerMetadata(uid=result.uid, hotkey=result.hotkey, task_type=result.task_type)
                _zero(meta)
                s.add(meta)
            elif standing.task_switched:
                switched_from = str(meta.task_type)
                logger.info("uid {} switched {} -> {}: window and score restart", result.uid, switched_from,
                            result.task_type)  # fmt: skip
            meta.task_type = result.task_type
            row = _history_row(result, switched_from)
            s.add(row)
            s.flush()
            if self.after_history_row is not None:
                self.after_history_row()
            row.applied_multiplier = standing.multipliers.total
            row.adjusted_score = standing.adjusted_score
            row.accumulate_score = standing.accumulate_score
            _apply(meta, standing, result)
            return RecordOutcome(
                task_id=result.task_id,
                uid=result.uid,
                recorded=True,
                hotkey_reset=standing.hotkey_reset,
                task_type_changed=standing.task_switched,
                adjusted_score=standing.adjusted_score,
                total_multiplier=standing.multipliers.total,
                accumulate_score=standing.accumulate_score,
                performance_tier=standing.tier,
                total_rounds_completed=meta.total_rounds_completed,
            )

    def _period(self, s: Session, uid: int, task_type: str, limit: int | None = None) -> list[RoundRecord]:
        """The uid's last `limit` (default: history_window) rounds of `task_type` since its last
        task-type switch, oldest first: rounds of an earlier period never re-enter the window."""
        switch = s.scalar(select(func.max(H.id)).where(H.uid == uid, H.switched_from.is_not(None)))
        rows = s.execute(
            select(H.s_f, H.s_q, H.s_l, H.vmaf, H.vmaf_threshold, H.compression_rate)
            .where(H.uid == uid, H.task_type == task_type, H.id >= (switch or 0))
            .order_by(H.id.desc())
            .limit(limit or self._scoring.history_window)
        ).all()
        return [
            RoundRecord(
                score=r.s_f, s_q=r.s_q, s_l=r.s_l, vmaf=r.vmaf, vmaf_threshold=r.vmaf_threshold,
                compression_rate=r.compression_rate,
            )
            for r in reversed(rows)
        ]  # fmt: skip

    def window(self, uid: int, task_type: str) -> list[RoundRecord]:
        """The miner's current rolling window for `task_type` (current period only), oldest first."""
        with Session(self._reader) as s, s.begin():
            return self._period(s, uid, task_type)

    def known_miners(self) -> dict[int, tuple[str, str]]:
        """`{uid: (hotkey, task_type)}` of every miner with history at this validator."""
        with Session(self._reader) as s, s.begin():
            rows = s.execute(select(MinerMetadata.uid, MinerMetadata.hotkey, MinerMetadata.task_type)).all()
        return {r.uid: (r.hotkey, r.task_type) for r in rows}

    def sync_hotkeys(self, hotkeys: Mapping[int, str]) -> list[int]:
        """Forget miners whose uid now holds another hotkey or left the subnet; return their uids.

        Call with the metagraph's `{uid: hotkey}` so a replaced miner never inherits a score.
        """
        with Session(self._engine) as s, s.begin():
            rows = s.execute(select(MinerMetadata.uid, MinerMetadata.hotkey)).all()
            stale = [r.uid for r in rows if hotkeys.get(r.uid) != r.hotkey]
            if stale:
                s.execute(delete(H).where(H.uid.in_(stale)))
                s.execute(delete(MinerMetadata).where(MinerMetadata.uid.in_(stale)))
                logger.info("forgot {} miner(s) with a changed or missing hotkey: {}", len(stale), stale)
            return stale

    # --- reads for the weights ----------------------------------------------------------------

    def standings(self, validator_uids: Collection[int] = ()) -> list[MinerStanding]:
        """Every known miner's accumulate score, for `scoring.weights` (ordered by uid)."""
        with Session(self._reader) as s, s.begin():
            rows = s.execute(
                select(
                    MinerMetadata.uid,
                    MinerMetadata.hotkey,
                    MinerMetadata.task_type,
                    MinerMetadata.accumulate_score,
                ).order_by(MinerMetadata.uid)
            ).all()
        return [
            MinerStanding(
                uid=r.uid,
                hotkey=r.hotkey,
                task_type=r.task_type,
                accumulate_score=r.accumulate_score,
                is_validator=r.uid in validator_uids,
            )
            for r in rows
        ]

    # --- rounds -------------------------------------------------------------------------------

    def start_round(self, round_id: str, *, block: int | None = None, task_count: int = 0) -> None:
        """Record the start of a round (a still-running round of that id is updated)."""
        with Session(self._engine) as s, s.begin():
            row = s.get(Round, round_id)
            if row is not None and row.status != "running":
                raise ValueError(f"round {round_id!r} already exists with status {row.status!r}")
            if row is None:
                s.add(Round(round_id=round_id, status="running", block=block, task_count=task_count))
            else:
                row.block, row.task_count = block, task_count

    def finish_round(
        self,
        round_id: str,
        *,
        status: RoundStatus = "finished",
        message: str | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> None:
        """Close a round (`finished` or `failed`, with an optional message and time breakdown)."""
        with Session(self._engine) as s, s.begin():
            row = s.get(Round, round_id)
            if row is None:
                raise ValueError(f"no round {round_id!r} to finish")
            row.status, row.message, row.finished_at = status, message, utcnow()
            if timings is not None:
                row.timings = {str(k): round(float(v), 4) for k, v in timings.items()}

    def close_interrupted_rounds(
        self, message: str = "validator stopped before the round finished"
    ) -> list[str]:
        """Mark every still-running round as interrupted (call at start-up); return their ids."""
        with Session(self._engine) as s, s.begin():
            ids = list(s.scalars(select(Round.round_id).where(Round.status == "running")))
            if ids:
                s.execute(
                    update(Round)
                    .where(Round.round_id.in_(ids))
                    .values(status="interrupted", message=message, finished_at=utcnow())
                )
                logger.warning("closed {} interrupted round(s): {}", len(ids), ids)
            return ids

    # --- weight sets --------------------------------------------------------------------------

    def log_weight_set(
        self,
        weights: Mapping[int, float],
        *,
        success: bool,
        message: str | None = None,
        block: int | None = None,
        attempt: int = 1,
        round_id: str | None = None,
        split: Mapping[str, Any] | None = None,
    ) -> int:
        """Store one attempt to set weights (successful or not), with its pool split; return its id."""
        with Session(self._engine) as s, s.begin():
            if round_id is not None and s.get(Round, round_id) is None:
                logger.warning("weight set refers to unknown round {}; stored without it", round_id)
                round_id = None
            row = WeightSet(
                round_id=round_id,
                block=block,
                attempt=attempt,
                success=success,
                message=message,
                weights={str(int(uid)): float(w) for uid, w in weights.items()},
                split=dict(split) if split is not None else None,
            )
            s.add(row)
            s.flush()
            return row.id

    def recent_weight_sets(self, last: int = 10) -> list[WeightSetRecord]:
        """The `last` weight-set attempts, newest first."""
        with Session(self._reader) as s, s.begin():
            rows = s.scalars(select(WeightSet).order_by(WeightSet.id.desc()).limit(last)).all()
            return [weight_set_record(r) for r in rows]

    # --- upkeep -------------------------------------------------------------------------------

    def prune(self, now: datetime | None = None) -> PruneReport:
        """Delete history, rounds and weight sets older than the retention, keeping every window."""
        cutoff = (now or utcnow()) - timedelta(days=self._db.history_retention_days)
        rank = select(
            H.id, func.row_number().over(partition_by=(H.uid, H.task_type), order_by=H.id.desc()).label("rn")
        ).subquery()
        in_window = select(rank.c.id).where(rank.c.rn <= self._scoring.history_window)
        with Session(self._engine) as s, s.begin():
            hist = s.execute(delete(H).where(H.created_at < cutoff, H.id.not_in(in_window))).rowcount
            weights = s.execute(delete(WeightSet).where(WeightSet.created_at < cutoff)).rowcount
            used = select(H.round_id).distinct()
            rounds = s.execute(
                delete(Round).where(
                    and_(Round.started_at < cutoff, Round.status != "running", Round.round_id.not_in(used))
                )
            ).rowcount
        report = PruneReport(history_rows=hist, rounds=rounds, weight_sets=weights)
        if hist or rounds or weights:
            logger.info("pruned {}", report)
        return report


def weight_set_record(row: WeightSet) -> WeightSetRecord:
    return WeightSetRecord(
        id=row.id,
        round_id=row.round_id,
        block=row.block,
        attempt=row.attempt,
        weights={int(k): float(v) for k, v in row.weights.items()},
        success=row.success,
        message=row.message,
        split=row.split,
        created_at=row.created_at,
    )


def _history_row(r: RoundResult, switched_from: str | None = None) -> MinerRoundHistory:
    return MinerRoundHistory(
        round_id=r.round_id,
        task_id=r.task_id,
        uid=r.uid,
        hotkey=r.hotkey,
        task_type=r.task_type,
        params=dict(r.params),
        status=r.status,
        reason=r.reason,
        vmaf=r.vmaf,
        pieapp=r.pieapp,
        s_q=r.s_q,
        s_l=r.s_l,
        s_f=r.score,
        compression_rate=r.compression_rate,
        vmaf_threshold=r.vmaf_threshold,
        content_length=r.content_length,
        processing_time_s=r.processing_time_s,
        switched_from=switched_from,
        applied_multiplier=1.0,
        adjusted_score=0.0,
        accumulate_score=0.0,
        created_at=utcnow(),
    )


def _zero(meta: MinerMetadata) -> None:
    meta.accumulate_score = 0.0
    meta.bonus_multiplier = meta.penalty_f_multiplier = meta.penalty_q_multiplier = meta.total_multiplier = (
        1.0
    )
    meta.bonus_count = meta.penalty_f_count = meta.penalty_q_count = 0
    meta.total_rounds_completed = meta.successful_rounds = 0
    meta.success_rate = 0.0
    meta.performance_tier = "New"
    meta.longest_content_processed = 0.0


def _record(r: RoundResult) -> RoundRecord:
    return RoundRecord(
        score=r.score, s_q=r.s_q, vmaf=r.vmaf, vmaf_threshold=r.vmaf_threshold, s_l=r.s_l,
        compression_rate=r.compression_rate,
    )  # fmt: skip


def _apply(meta: MinerMetadata, st: Standing, r: RoundResult) -> None:
    m = st.multipliers
    meta.accumulate_score = st.accumulate_score
    meta.bonus_multiplier, meta.penalty_f_multiplier = m.bonus, m.penalty_f
    meta.penalty_q_multiplier, meta.total_multiplier = m.penalty_q, m.total
    meta.bonus_count, meta.penalty_f_count, meta.penalty_q_count = m.bonus_count, m.penalty_f_count, m.penalty_q_count
    meta.avg_s_q, meta.avg_s_l, meta.avg_s_f = st.avg_s_q, st.avg_s_l, st.avg_s_f
    meta.avg_vmaf, meta.avg_compression_rate = st.avg_vmaf, st.avg_compression_rate
    meta.performance_tier = st.tier
    meta.total_rounds_completed += 1
    if r.succeeded:
        meta.successful_rounds += 1
        if r.content_length is not None:
            meta.longest_content_processed = max(meta.longest_content_processed, r.content_length)
    meta.success_rate = meta.successful_rounds / meta.total_rounds_completed
    meta.last_update_timestamp = utcnow()


def _duplicate_outcome(s: Session, row: MinerRoundHistory) -> RecordOutcome:
    meta = s.get(MinerMetadata, row.uid)
    logger.info("task {} already recorded for uid {}; nothing changed", row.task_id, row.uid)
    return RecordOutcome(
        task_id=row.task_id,
        uid=row.uid,
        recorded=False,
        adjusted_score=row.adjusted_score,
        total_multiplier=row.applied_multiplier,
        accumulate_score=meta.accumulate_score if meta else row.accumulate_score,
        performance_tier=meta.performance_tier if meta else "New",
        total_rounds_completed=meta.total_rounds_completed if meta else 0,
    )

