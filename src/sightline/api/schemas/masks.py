"""Request and response shapes of ``/api/v1/channels/{id}/masks``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sightline.analytics.masking import MAX_POINTS, MAX_POLYGONS
from sightline.store.repositories.masks import ChannelMasks

__all__ = ["MasksIn", "MasksOut"]

# Shape limits only; the geometry (range, area) is checked by sightline.analytics.masking.
PointIn = tuple[float, float]
PolygonIn = list[PointIn]


class MasksIn(BaseModel):
    """A channel's complete new set of polygons (an empty list removes every mask)."""

    model_config = ConfigDict(extra="forbid")

    polygons: list[PolygonIn] = Field(
        max_length=MAX_POLYGONS,
        description=(
            "polygons of [x, y] points as fractions of the picture (0..1, origin top left), "
            f"3 to {MAX_POINTS} points each, at most {MAX_POLYGONS} polygons"
        ),
    )


class MasksOut(BaseModel):
    """A channel's privacy mask polygons; ``updated_at`` is None when it never had any."""

    channel_id: str
    polygons: list[PolygonIn]
    updated_at: datetime | None = None
    updated_by: str | None = None

    @classmethod
    def of(cls, channel_id: str, masks: ChannelMasks | None) -> MasksOut:
        """The answer for a channel's stored masks (or their absence)."""
        if masks is None:
            return cls(channel_id=channel_id, polygons=[])
        return cls(
            channel_id=channel_id,
            polygons=[list(polygon) for polygon in masks.polygons],
            updated_at=masks.updated_at,
            updated_by=masks.updated_by,
        )
