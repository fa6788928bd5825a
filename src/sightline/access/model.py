"""The access model held in memory: a snapshot reloaded after changes and after a short TTL.

Every change made through ``sightline.access`` calls :meth:`AccessModel.refresh` before it
returns, so this process sees it at once; changes made by another node are seen within
``ttl_s``. A permission check is then a pure function over the snapshot
(``sightline.access.policy``): no database round trip per media request.

A snapshot past its TTL is still served while a reload runs in the background: under load
(500 live streams) a reload's six reads took up to 20 s, and every live open waited for it.
Only a snapshot older than ``max_stale_s``, a wall clock stepped back, or a mark
(:meth:`mark_stale`, a catalog update) makes the caller wait for the reload.

The small tables (departments, members, ownership, groups, grants) are read whole on every
reload. The channel placements are not (100,000 rows at a large site took a sixth of the
server's CPU when they were read every 5 s): a catalog update (``CatalogUpdated`` on the event
bus) marks its device, and the next reload reads only the marked devices' channels and applies
them to the :class:`~sightline.access.snapshot.PlaceIndex`. Administrative changes (users,
departments, grants, ownership, groups) never move a channel, so the :meth:`AccessModel.refresh`
each of them makes reads the small tables and the marked devices only; every channel is read
again at the first load, by ``refresh(places=True)`` and every ``places_reload_s`` (changes made
behind this node's back, e.g. by another node). A full read at 100,000 channels takes about a
second, most of it on the event loop, so it is kept off the path of every admin click.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sightline.access.actions import Action, Resource
from sightline.access.policy import Decision, decide, visible_channels
from sightline.access.snapshot import AccessSnapshot, PlaceIndex
from sightline.events import CatalogUpdated, EventBus
from sightline.store import Channel, ChannelRepository, Database
from sightline.store.repositories.access import AccessRepository, ChannelPlace

__all__ = ["MAX_STALE_S", "PLACES_RELOAD_S", "AccessModel"]

log = logging.getLogger(__name__)

PLACES_RELOAD_S = 600.0
MAX_STALE_S = 30.0  # past this age a caller waits for the reload instead of being served
_SLICE = 5000  # channels read or indexed between two turns of the event loop in a full reload


class AccessModel:
    """The current :class:`AccessSnapshot` and the checks made against it."""

    def __init__(
        self,
        database: Database,
        *,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        places_reload_s: float = PLACES_RELOAD_S,
        max_stale_s: float = MAX_STALE_S,
    ) -> None:
        self._db = database
        self.ttl_s = ttl_s
        self.max_stale_s = max(max_stale_s, ttl_s)
        self.places_reload_s = places_reload_s
        self._clock = clock
        self._snapshot = AccessSnapshot()
        self._loaded_at: float | None = None
        self._places = PlaceIndex()
        self._places_at: float | None = None  # when every placement was last read
        self._dirty: set[str] = set()  # devices whose channels changed since the last reload
        self._lock = asyncio.Lock()
        self._marked = False  # mark_stale(): the next caller waits for a reload
        self._background: asyncio.Task[AccessSnapshot] | None = None

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

    async def refresh(self, *, places: bool = False) -> AccessSnapshot:
        """Load the snapshot from the database now; with ``places``, every channel too."""
        async with self._lock:
            if places:
                self._places_at = None
            return await self._load()

    def _stale(self) -> bool:
        loaded = self._loaded_at
        return loaded is None or self._marked or not 0 <= self._clock() - loaded < self.ttl_s

    def _servable(self) -> bool:
        """Whether a stale snapshot may still answer while a reload runs."""
        loaded = self._loaded_at
        return (
            loaded is not None
            and not self._marked
            and 0 <= self._clock() - loaded < self.max_stale_s
        )

    async def _load(self) -> AccessSnapshot:
        now = self._clock()
        places_at = self._places_at
        full = places_at is None or not 0 <= now - places_at < self.places_reload_s
        dirty, self._dirty = self._dirty, set()  # marks arriving meanwhile wait for the next
        marked, self._marked = self._marked, False
        changed: dict[str, list[ChannelPlace]] = {}
        try:
            async with self._db.session() as session:
                repo = AccessRepository(session)
                departments = await repo.load_departments()
                members = await repo.load_members()
                ownership = await repo.load_ownership()
                groups = await repo.load_groups()
                grants = await repo.load_grants()
                if full:
                    every = await _read_places(repo)
                elif dirty:
                    changed = {d: [] for d in dirty}
                    found = await ChannelRepository(session).for_devices(dirty)
                    for device_id, channels in found.items():
                        changed[device_id] = [_place(c) for c in channels.values()]
        except BaseException:
            self._dirty |= dirty  # read them on the next attempt
            self._marked |= marked
            raise
        index = self._places
        index.set_ownership(ownership)
        index.set_groups(groups)
        if full:
            # device by device, letting the loop run between slices (a device's channels are
            # replaced at once, as a catalog update does)
            grouped = index.known_devices()
            for start in range(0, len(every), _SLICE):
                for place in every[start : start + _SLICE]:
                    grouped.setdefault(place.device_id, []).append(place)
                await asyncio.sleep(0)
            done = 0
            for device_id, places in grouped.items():
                index.replace_device(device_id, places)
                done += len(places) + 1
                if done >= _SLICE:
                    done = 0
                    await asyncio.sleep(0)
            self._places_at = now
        for device_id, places in changed.items():
            index.replace_device(device_id, places)
        snap = index.snapshot(departments, members, grants)
        self._snapshot = snap
        self._loaded_at = now
        log.debug(
            "access snapshot loaded: %d users, %d grants, %d channels (%s)",
            len(snap.members),
            len(snap.grants),
            len(index),
            "all read" if full else f"{len(changed)} devices read",
        )
        return snap

    def mark_stale(self, device_id: str | None = None) -> None:
        """Reload on the next :meth:`current`; with ``device_id``, read its channels again."""
        self._marked = True
        if device_id is not None:
            self._dirty.add(device_id)

    async def follow_catalogs(self, bus: EventBus) -> None:
        """Mark the device of every catalog update (run as a task)."""
        subscription = bus.subscribe(CatalogUpdated)
        try:
            async for event in subscription:
                self.mark_stale(event.device_id)
        finally:
            subscription.close()

    async def current(self) -> AccessSnapshot:
        """The snapshot; past ``ttl_s`` a reload starts, awaited only when the snapshot is
        past ``max_stale_s``, marked stale or from a clock that has since stepped back."""
        if not self._stale():
            return self._snapshot
        if self._servable():
            if self._background is None:
                self._background = asyncio.ensure_future(self._reload_in_background())
            return self._snapshot
        async with self._lock:
            if self._stale():  # not reloaded meanwhile by a caller that held the lock
                return await self._load()
        return self._snapshot

    async def _reload_in_background(self) -> AccessSnapshot:
        try:
            async with self._lock:
                if self._stale():
                    return await self._load()
                return self._snapshot
        except Exception as exc:  # the snapshot in hand keeps serving; the next call retries
            log.warning("access snapshot reload failed: %s", exc)
            return self._snapshot
        finally:
            self._background = None

    async def settled(self) -> AccessSnapshot:
        """The snapshot once a background reload under way (if any) has finished."""
        task = self._background
        if task is not None:
            await asyncio.shield(task)
        return self._snapshot

    async def close(self) -> None:
        """Stop a background reload (before the database closes)."""
        task = self._background
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

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


async def _read_places(repo: AccessRepository) -> list[ChannelPlace]:
    """Every channel's placement, in pages: each page's rows are turned into records on the
    loop, so one read of 100,000 would hold it for most of a second."""
    every: list[ChannelPlace] = []
    after: str | None = None
    while True:
        page = await repo.load_places(after, _SLICE)
        every += page
        if len(page) < _SLICE:
            return every
        after = page[-1].id
        await asyncio.sleep(0)


def _place(channel: Channel) -> ChannelPlace:
    return ChannelPlace(
        id=channel.id,
        device_id=channel.device_id,
        civil_code=channel.civil_code,
        parent_id=channel.parent_id,
        business_group_id=channel.business_group_id,
    )
