"""Rows for platform logins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sightline.store.models.base import Base

__all__ = ["UserRow"]


class UserRow(Base):
    """``users``: one login; the hash comes from ``sightline.access``, never a clear password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(128))
    is_admin: Mapped[bool]
    disabled: Mapped[bool]
    created_at: Mapped[datetime]
