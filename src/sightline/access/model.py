"""The access model held in memory: a snapshot reloaded after changes and after a short TTL.

Every change made through ``sightline.access`` calls :meth:`AccessModel.refresh` before it
returns, so this process sees it at once; changes made by another node (or by a catalog that
moved a channel to another region) are seen within ``ttl_s``. A permission check is then a
pure function over the snapshot (``sightline.access.policy``): no database round trip per
media request. A catalog update (``CatalogUpdated`` on the event bus) marks it stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sightline.access.actions import Action, Resource
from sightline.access.policy import Decision, decide, visible_channels
from sightline.access.snapshot import AccessSnapshot, build_snapshot
from sightline.events import CatalogUpdated, EventBus
from sightline.store import Database
from sightline.store.repositories.access import AccessRepository

__all__ = ["AccessModel"]

log = logging.getLogger(__name__)


class AccessModel:
    """The current :class:`AccessSnapshot` and the checks made against it."""

    def __init__(
        self,
        database: Database,
        *,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self.ttl_s = ttl_s
        self._clock = clock
        self._snapshot = AccessSnapshot()
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def snapshot(self) -> AccessSnapshot:
        """The snapshot as last loaded (empty before the first load)."""
        return self._snapshot

    def department_name(self, user_id: int) -> str | None:
        """The name of the user's department in the loaded snapshot (None when unknown)."""
        snap = self._snapshot
        member = snap.members.get(user_id)
        if member is None or member.department_id is None:
            return None
        department = snap.departments.get(member.department_id)
        return department.name if department is not None else None

    def now(self) -> datetime:
        """The model's clock as an aware datetime."""
        return datetime.fromtimestamp(self._clock(), UTC)

    async def refresh(self) -> AccessSnapshot:
        """Load the snapshot from the database now."""
        async with self._lock:
            return await self._load()

    def _stale(self) -> bool:
        loaded = self._loaded_at
        return loaded is None or not 0 <= self._clock() - loaded < self.ttl_s

    async def _load(self) -> AccessSnapshot:
        async with self._db.session() as session:
            repo = AccessRepository(session)
            snap = build_snapshot(
                await repo.load_departments(),
                await repo.load_members(),
                await repo.load_ownership(),
                await repo.load_places(),
                await repo.load_groups(),
                await repo.load_grants(),
            )
        self._snapshot = snap
        self._loaded_at = self._clock()
        log.debug(
            "access snapshot loaded: %d users, %d grants", len(snap.members), len(snap.grants)
        )
        return snap

    def mark_stale(self) -> None:
        """Reload on the next :meth:`current` (e.g. a catalog moved or added channels)."""
        self._loaded_at = None

    async def follow_catalogs(self, bus: EventBus) -> None:
        """Mark the snapshot stale on every catalog update (run as a task)."""
        subscription = bus.subscribe(CatalogUpdated)
        try:
            async for _ in subscription:
                self.mark_stale()
        finally:
            subscription.close()

    async def current(self) -> AccessSnapshot:
        """The snapshot, reloaded first when it is older than ``ttl_s``."""
        if self._stale():
            async with self._lock:
                if self._stale():  # not reloaded meanwhile by a caller that held the lock
                    return await self._load()
        return self._snapshot

    def decide_now(self, user_id: int, action: Action, resource: Resource) -> Decision:
        """The decision over the snapshot in hand (no reload): for the media hot path."""
        return decide(self._snapshot, user_id, action, resource, self.now())

    async def decide(self, user_id: int, action: Action, resource: Resource) -> Decision:
        """The decision over a fresh-enough snapshot."""
        snap = await self.current()
        return decide(snap, user_id, action, resource, self.now())

    async def visible_channels(self, user_id: int) -> frozenset[str] | None:
        """Channel IDs the user may read (``None``: all)."""
        return visible_channels(await self.current(), user_id, self.now())
