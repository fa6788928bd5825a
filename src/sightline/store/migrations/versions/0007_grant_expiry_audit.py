"""Remember which grant expiries are in the audit trail (issue 8).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``grants.expiry_recorded``: the grant's expiry has an audit record."""
    with op.batch_alter_table("grants") as batch:
        batch.add_column(
            sa.Column("expiry_recorded", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    """Drop ``grants.expiry_recorded``."""
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("expiry_recorded")
