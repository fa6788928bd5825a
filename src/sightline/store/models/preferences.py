"""Rows for per-user console preferences (the saved video-wall layout)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from sightline.store.models.base import Base

__all__ = ["UserPreferencesRow"]


class UserPreferencesRow(Base):
    """``user_preferences``: one JSON document per user, validated by the API before storing."""

    __tablename__ = "user_preferences"

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
