"""Schema for the hash-chained audit log (issue 8).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must not change when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)
HASH = sa.String(64)
# Each search filter of the auditors' pages, with seq last for keyset paging in chain order.
_SEARCH_INDEXES = ("username", "channel_id", "department", "action")


def upgrade() -> None:
    """Create ``audit_records`` and ``audit_anchors``."""
    op.create_table(
        "audit_records",
        sa.Column("seq", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("department", sa.String(128), nullable=True),
        sa.Column("channel_id", sa.String(64), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_records")),
    )
    op.create_index("ix_audit_records_at", "audit_records", ["at"])
    for column in _SEARCH_INDEXES:
        op.create_index(f"ix_audit_records_{column}_seq", "audit_records", [column, "seq"])
    op.create_table(
        "audit_anchors",
        sa.Column("seq", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("hash", HASH, nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", HASH, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_anchors")),
    )


def downgrade() -> None:
    """Drop both audit tables (and with them the whole trail)."""
    op.drop_table("audit_anchors")
    for column in reversed(_SEARCH_INDEXES):
        op.drop_index(f"ix_audit_records_{column}_seq", table_name="audit_records")
    op.drop_index("ix_audit_records_at", table_name="audit_records")
    op.drop_table("audit_records")
