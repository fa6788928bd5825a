"""Schema for per-channel privacy mask polygons (issue 8).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the model type: a migration must not change when the models do.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``channel_masks``: one row of JSON polygons per masked channel."""
    op.create_table(
        "channel_masks",
        sa.Column("channel_id", sa.String(20), nullable=False),
        sa.Column("polygons", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_masks")),
    )


def downgrade() -> None:
    """Drop ``channel_masks``."""
    op.drop_table("channel_masks")
