"""SQLAlchemy 2.x tables (docs/operators-sql.md#tables). Times are naive UTC datetimes (SQLite stores ISO text).

Any change here needs a new alembic revision in `vidaio/db/migrations/versions/`
(`tests/vidaio/db/test_migrations.py` fails when models and migrations drift apart).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """Now, as the naive UTC datetime every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


# Named constraints: SQLite batch migrations can only drop or alter constraints that have a name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the validator database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Round(Base):
    """One validator round: started, then finished, failed or (after a crash) interrupted."""

    __tablename__ = "rounds"

    round_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    block: Mapped[int | None] = mapped_column(Integer, nullable=True)
    task_count: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    timings: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    """Seconds per stage ({prepare_s, dispatch_s, ..., db_s, wall_s}); NULL while running/before 0002."""

    __table_args__ = (Index("ix_rounds_status", "status"),)


class MinerMetadata(Base):
    """One row per uid: the miner's current standing, recomputed with every recorded result."""

    __tablename__ = "miner_metadata"

    uid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hotkey: Mapped[str] = mapped_column(String(64))
    task_type: Mapped[str] = mapped_column(String(16))
    accumulate_score: Mapped[float] = mapped_column(Float, default=0.0)
    bonus_multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    penalty_f_multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    penalty_q_multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    total_multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    avg_s_q: Mapped[float | None] = mapped_column(Float, nullable=True)
    avg_s_l: Mapped[float | None] = mapped_column(Float, nullable=True)
    avg_s_f: Mapped[float | None] = mapped_column(Float, nullable=True)
    avg_vmaf: Mapped[float | None] = mapped_column(Float, nullable=True)
    avg_compression_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    bonus_count: Mapped[int] = mapped_column(Integer, default=0)
    penalty_f_count: Mapped[int] = mapped_column(Integer, default=0)
    penalty_q_count: Mapped[int] = mapped_column(Integer, default=0)
    total_rounds_completed: Mapped[int] = mapped_column(Integer, default=0)
    successful_rounds: Mapped[int] = mapped_column(Integer, default=0)
    success_rate: Mapped[float] = mapped_column(Float, default=0.0)
    performance_tier: Mapped[str] = mapped_column(String(16), default="New")
    longest_content_processed: Mapped[float] = mapped_column(Float, default=0.0)
    last_update_timestamp: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_miner_metadata_task_score", "task_type", "accumulate_score"),)


class MinerRoundHistory(Base):
    """One row per task result (idempotency key: `task_id`)."""

    __tablename__ = "miner_round_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[str] = mapped_column(String(64), ForeignKey("rounds.round_id"))
    task_id: Mapped[str] = mapped_column(String(128), unique=True)
    uid: Mapped[int] = mapped_column(Integer, ForeignKey("miner_metadata.uid", ondelete="CASCADE"))
    hotkey: Mapped[str] = mapped_column(String(64))
    task_type: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    vmaf: Mapped[float | None] = mapped_column(Float, nullable=True)
    pieapp: Mapped[float | None] = mapped_column(Float, nullable=True)
    s_q: Mapped[float | None] = mapped_column(Float, nullable=True)
    s_l: Mapped[float | None] = mapped_column(Float, nullable=True)
    s_f: Mapped[float] = mapped_column(Float, default=0.0)
    compression_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    vmaf_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    content_length: Mapped[float | None] = mapped_column(Float, nullable=True)
    applied_multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    adjusted_score: Mapped[float] = mapped_column(Float, default=0.0)
    accumulate_score: Mapped[float] = mapped_column(Float, default=0.0)
    processing_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    switched_from: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """Set on the first round after a task-type switch: the task type the miner switched from
    (its window and score restarted here)."""
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        Index("ix_history_uid_task_id", "uid", "task_type", "id"),
        Index("ix_history_created_at", "created_at"),
        Index("ix_history_round_id", "round_id"),
    )


class WeightSet(Base):
    """Every attempt to set weights: block, the weights sent, success and the chain's message."""

    __tablename__ = "weight_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("rounds.round_id", ondelete="SET NULL"), nullable=True
    )
    block: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    success: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    split: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Per-pool split: target and effective share after the chain's u16 quantisation, whether the
    target was kept, the chain limits used (max_weight_limit, version_key)."""
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_weight_sets_created_at", "created_at"),)
