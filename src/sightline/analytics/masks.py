"""The privacy masks of every channel: stored, validated, cached, and announced when changed.

``MaskService`` is what the API and the masked streams use. Reading a channel's masks is a
dictionary look-up after the first time (the media routes ask at every view start whether the
channel has any); :meth:`MaskService.replace` validates, writes, updates the cache and calls
every listener (the masked streams swap the polygons of a running encode), so a change shows
in the picture with the next frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sightline.analytics.masking import MAX_POLYGONS, Polygon, PrivacyMask, validate_polygons
from sightline.store import Database
from sightline.store.repositories.masks import ChannelMasks, MaskRepository

__all__ = ["MaskListener", "MaskService"]

log = logging.getLogger(__name__)

MaskListener = Callable[[str, PrivacyMask], None]
"""Called with the channel ID and its new mask after every change."""


class MaskService:
    """Per-channel privacy masks; see the module docstring."""

    def __init__(
        self,
        database: Database,
        *,
        max_polygons: int = MAX_POLYGONS,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.max_polygons = max_polygons
        self._wall_clock = wall_clock
        self._cache: dict[str, PrivacyMask] = {}
        self._listeners: list[MaskListener] = []

    def subscribe(self, listener: MaskListener) -> None:
        """Call ``listener`` after every change of a channel's masks."""
        self._listeners.append(listener)

    async def get(self, channel_id: str) -> ChannelMasks | None:
        """The stored masks of a channel (None when it never had any)."""
        async with self.database.session() as session:
            return await MaskRepository(session).get(channel_id)

    async def mask(self, channel_id: str) -> PrivacyMask:
        """The channel's mask (empty when it has none); cached."""
        cached = self._cache.get(channel_id)
        if cached is None:
            stored = await self.get(channel_id)
            cached = PrivacyMask(stored.polygons if stored is not None else ())
            self._cache[channel_id] = cached
        return cached

    def cached_mask(self, channel_id: str) -> PrivacyMask | None:
        """The channel's mask as last read or set here, without the database (None: not read)."""
        return self._cache.get(channel_id)

    async def replace(
        self,
        channel_id: str,
        polygons: Sequence[Sequence[Sequence[float]]],
        *,
        by: str | None = None,
    ) -> ChannelMasks:
        """Validate and store the channel's new polygons (raises MaskError); tell listeners."""
        valid: tuple[Polygon, ...] = validate_polygons(polygons, self.max_polygons)
        record = ChannelMasks(channel_id, valid, self._wall_clock(), by)
        async with self.database.session() as session:
            await MaskRepository(session).put(record)
        mask = self._cache[channel_id] = PrivacyMask(valid)
        log.info("channel %s: %d privacy mask polygons set by %r", channel_id, len(valid), by)
        for listener in self._listeners:
            try:
                listener(channel_id, mask)
            except Exception:
                log.exception("channel %s: a mask listener failed", channel_id)
        return record
