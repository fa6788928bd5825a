"""Per-channel privacy mask polygons.

The store keeps what it is given: the polygons are validated by ``sightline.analytics.masking``
before they reach :meth:`MaskRepository.put`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.models.masks import ChannelMaskRow
from sightline.store.repositories._sql import table, upsert

__all__ = ["ChannelMasks", "MaskPolygon", "MaskRepository"]

MASKS = table(ChannelMaskRow)

MaskPolygon = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class ChannelMasks:
    """A channel's mask polygons (normalised 0..1), when and by whom they were last set."""

    channel_id: str
    polygons: tuple[MaskPolygon, ...]
    updated_at: datetime
    updated_by: str | None = None


def _polygons(raw: object) -> tuple[MaskPolygon, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(tuple((float(x), float(y)) for x, y in polygon) for polygon in raw)


class MaskRepository:
    """Reads and writes ``channel_masks``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, channel_id: str) -> ChannelMasks | None:
        """The channel's masks, or ``None`` when it never had any."""
        row = (
            await self._session.execute(select(MASKS).where(MASKS.c.channel_id == channel_id))
        ).first()
        if row is None:
            return None
        return ChannelMasks(row.channel_id, _polygons(row.polygons), row.updated_at, row.updated_by)

    async def put(self, masks: ChannelMasks) -> None:
        """Replace the channel's polygons (an empty tuple keeps the row as history)."""
        value = [[list(point) for point in polygon] for polygon in masks.polygons]
        row = {
            "channel_id": masks.channel_id,
            "polygons": value,
            "updated_at": masks.updated_at,
            "updated_by": masks.updated_by,
        }
        await upsert(self._session, MASKS, [row])

    async def masked_channels(self) -> list[str]:
        """IDs of the channels with at least one polygon."""
        rows = await self._session.execute(select(MASKS.c.channel_id, MASKS.c.polygons))
        return sorted(r.channel_id for r in rows if r.polygons)
