"""Rows for the directory tree: administrative regions and business/virtual groups."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from sightline.store.models.base import Base, enum_type
from sightline.store.models.device import ID_LEN
from sightline.store.records import GroupKind

__all__ = ["GroupRow", "RegionRow"]


class RegionRow(Base):
    """``regions``: civil codes; no self foreign key, as catalogs list children before parents."""

    __tablename__ = "regions"
    __table_args__ = (CheckConstraint("length(code) IN (2, 4, 6, 8)", name="code_length"),)

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    parent_code: Mapped[str | None] = mapped_column(String(8), index=True)


class GroupRow(Base):
    """``groups``: business groups (215) and virtual organisations (216)."""

    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    kind: Mapped[GroupKind] = mapped_column(enum_type(GroupKind, "kind", 16))
    name: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    business_group_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
