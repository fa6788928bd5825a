"""Schema for per-user console preferences such as the video wall layout (issue 6).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Reserved in the revision chain; the tables arrive with their feature."""


def downgrade() -> None:
    """Nothing to undo yet."""
