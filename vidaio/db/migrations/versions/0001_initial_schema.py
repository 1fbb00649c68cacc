"""Initial schema: rounds, miner_metadata, miner_round_history, weight_sets (docs/operators-sql.md#tables).

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:18:29.304598
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "miner_metadata",
        sa.Column("uid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("task_type", sa.String(length=16), nullable=False),
        sa.Column("accumulate_score", sa.Float(), nullable=False),
        sa.Column("bonus_multiplier", sa.Float(), nullable=False),
        sa.Column("penalty_f_multiplier", sa.Float(), nullable=False),
        sa.Column("penalty_q_multiplier", sa.Float(), nullable=False),
        sa.Column("total_multiplier", sa.Float(), nullable=False),
        sa.Column("avg_s_q", sa.Float(), nullable=True),
        sa.Column("avg_s_l", sa.Float(), nullable=True),
        sa.Column("avg_s_f", sa.Float(), nullable=True),
        sa.Column("avg_vmaf", sa.Float(), nullable=True),
        sa.Column("avg_compression_rate", sa.Float(), nullable=True),
        sa.Column("bonus_count", sa.Integer(), nullable=False),
        sa.Column("penalty_f_count", sa.Integer(), nullable=False),
        sa.Column("penalty_q_count", sa.Integer(), nullable=False),
        sa.Column("total_rounds_completed", sa.Integer(), nullable=False),
        sa.Column("successful_rounds", sa.Integer(), nullable=False),
        sa.Column("success_rate", sa.Float(), nullable=False),
        sa.Column("performance_tier", sa.String(length=16), nullable=False),
        sa.Column("longest_content_processed", sa.Float(), nullable=False),
        sa.Column("last_update_timestamp", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_miner_metadata")),
    )
    with op.batch_alter_table("miner_metadata", schema=None) as batch_op:
        batch_op.create_index("ix_miner_metadata_task_score", ["task_type", "accumulate_score"], unique=False)

    op.create_table(
        "rounds",
        sa.Column("round_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("block", sa.Integer(), nullable=True),
        sa.Column("task_count", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_rounds")),
    )
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.create_index("ix_rounds_status", ["status"], unique=False)

    op.create_table(
        "miner_round_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("round_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("hotkey", sa.String(length=64), nullable=False),
        sa.Column("task_type", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("vmaf", sa.Float(), nullable=True),
        sa.Column("pieapp", sa.Float(), nullable=True),
        sa.Column("s_q", sa.Float(), nullable=True),
        sa.Column("s_l", sa.Float(), nullable=True),
        sa.Column("s_f", sa.Float(), nullable=False),
        sa.Column("compression_rate", sa.Float(), nullable=True),
        sa.Column("vmaf_threshold", sa.Float(), nullable=True),
        sa.Column("content_length", sa.Float(), nullable=True),
        sa.Column("applied_multiplier", sa.Float(), nullable=False),
        sa.Column("adjusted_score", sa.Float(), nullable=False),
        sa.Column("accumulate_score", sa.Float(), nullable=False),
        sa.Column("processing_time_s", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.round_id"], name=op.f("fk_miner_round_history_round_id_rounds")
        ),
        sa.ForeignKeyConstraint(
            ["uid"],
            ["miner_metadata.uid"],
            name=op.f("fk_miner_round_history_uid_miner_metadata"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_miner_round_history")),
        sa.UniqueConstraint("task_id", name=op.f("uq_miner_round_history_task_id")),
    )
    with op.batch_alter_table("miner_round_history", schema=None) as batch_op:
        batch_op.create_index("ix_history_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_history_round_id", ["round_id"], unique=False)
        batch_op.create_index("ix_history_uid_task_id", ["uid", "task_type", "id"], unique=False)

    op.create_table(
        "weight_sets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("round_id", sa.String(length=64), nullable=True),
        sa.Column("block", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.round_id"],
            name=op.f("fk_weight_sets_round_id_rounds"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weight_sets")),
    )
    with op.batch_alter_table("weight_sets", schema=None) as batch_op:
        batch_op.create_index("ix_weight_sets_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("weight_sets", schema=None) as batch_op:
        batch_op.drop_index("ix_weight_sets_created_at")

    op.drop_table("weight_sets")
    with op.batch_alter_table("miner_round_history", schema=None) as batch_op:
        batch_op.drop_index("ix_history_uid_task_id")
        batch_op.drop_index("ix_history_round_id")
        batch_op.drop_index("ix_history_created_at")

    op.drop_table("miner_round_history")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_index("ix_rounds_status")

    op.drop_table("rounds")
    with op.batch_alter_table("miner_metadata", schema=None) as batch_op:
        batch_op.drop_index("ix_miner_metadata_task_score")

    op.drop_table("miner_metadata")
