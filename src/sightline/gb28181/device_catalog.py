"""Device catalogs into the directory: queried, pushed (MESSAGE) or notified (NOTIFY).

The directory implements :class:`CatalogSink`; :class:`CatalogSync` hands it the items once
the device's own row is in the store (channels reference it) and announces each change with
``CatalogUpdated``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from sightline.events import CatalogUpdated, EventBus
from sightline.gb28181.manscdp import CatalogItem

__all__ = ["CatalogSink", "CatalogSync"]


class CatalogSink(Protocol):
    """Where catalogs go (the directory service implements it)."""

    async def import_catalog(
        self, device_id: str, items: Sequence[CatalogItem], *, complete: bool
    ) -> int:
        """Store a device's catalog; ``complete`` False means merge, never delete."""

    async def apply_catalog_events(self, device_id: str, items: Sequence[CatalogItem]) -> None:
        """Apply NOTIFY ADD/DEL/UPDATE/ON/OFF items."""


# device ID → the catalog items and whether they are the complete list
CatalogQuery = Callable[[str], Awaitable[tuple[list[CatalogItem], bool]]]


class CatalogSync:
    """Catalog queries, pushes and change events, stored in the directory."""

    def __init__(
        self,
        *,
        directory: CatalogSink,
        bus: EventBus,
        query: CatalogQuery,
        registration_pending: Callable[[str], bool],
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self._directory = directory
        self._bus = bus
        self._query = query
        self._registration_pending = registration_pending
        self._flush = flush

    async def refresh(self, device_id: str) -> tuple[list[CatalogItem], int]:
        """Query the catalog and import it; the items and the directory's channel count."""
        items, complete = await self._query(device_id)
        return items, await self.store(device_id, items, complete=complete)

    async def store(self, device_id: str, items: Sequence[CatalogItem], *, complete: bool) -> int:
        """Import catalog items; ``complete`` False merges them (a partial or pushed list)."""
        await self._ensure_stored(device_id)
        count = await self._directory.import_catalog(device_id, items, complete=complete)
        self._bus.publish(CatalogUpdated(device_id, count))
        return count

    async def apply_events(self, device_id: str, items: Sequence[CatalogItem]) -> None:
        """Apply catalog change events (ADD/DEL/UPDATE/ON/OFF)."""
        await self._ensure_stored(device_id)
        await self._directory.apply_catalog_events(device_id, items)
        self._bus.publish(CatalogUpdated(device_id, None))

    async def _ensure_stored(self, device_id: str) -> None:
        # The device row must exist before its channels.  Flushing the whole queue for every
        # device made onboarding of a fleet crawl (each flush also writes every keepalive
        # time), so flush only while this device's registration is still queued.
        if self._registration_pending(device_id):
            await self._flush()
