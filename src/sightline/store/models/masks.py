"""Rows for static privacy masks (issue 8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from sightline.store.models.base import Base
from sightline.store.models.device import ID_LEN

__all__ = ["ChannelMaskRow"]


class ChannelMaskRow(Base):
    """``channel_masks``: one channel's polygons as JSON ``[[[x, y], ...], ...]`` (0..1).

    No foreign key to ``channels``: a channel that drops out of a catalog and comes back keeps
    its masks, which is the safe way round for privacy.
    """

    __tablename__ = "channel_masks"

    channel_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    polygons: Mapped[list[Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(64))
