"""Audit anchors promise when the next one comes (``audit_anchors.next_within``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``audit_anchors.next_within`` (NULL for the anchors signed before it)."""
    with op.batch_alter_table("audit_anchors") as batch:
        batch.add_column(sa.Column("next_within", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Drop ``audit_anchors.next_within``."""
    with op.batch_alter_table("audit_anchors") as batch:
        batch.drop_column("next_within")
