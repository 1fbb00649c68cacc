"""miner_round_history.switched_from and weight_sets.split (issue 14: fair incentives).

- `switched_from`: set on a miner's first round after a task-type switch (the type it left), so
  operators see where its window and score restarted; the window never reaches back past it.
- `split`: the per-pool split of a weight set, target and effective after the chain's u16
  quantisation, and the chain limits it was computed under.

Both NULL for rows written before this revision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("miner_round_history") as batch:
        batch.add_column(sa.Column("switched_from", sa.String(length=16), nullable=True))
    with op.batch_alter_table("weight_sets") as batch:
        batch.add_column(sa.Column("split", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("weight_sets") as batch:
        batch.drop_column("split")
    with op.batch_alter_table("miner_round_history") as batch:
        batch.drop_column("switched_from")
