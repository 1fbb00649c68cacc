"""rounds.timings: the round's time breakdown (prepare, dispatch, download, validate, metrics, DB).

The validator already measures these per round (`RoundStats.timings`); storing them lets the
operator dashboard show where a round's time went. JSON `{stage_s: seconds, "wall_s": seconds}`,
NULL for rounds recorded before this revision (or still running).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("timings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("timings")
