"""Schema for recording plans, segments, retention (issue 7).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Reserved in the revision chain; the tables arrive with their feature."""


def downgrade() -> None:
    """Nothing to undo yet."""
