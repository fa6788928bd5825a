"""The directory: devices, channels, the region tree and the group tree.

``DirectoryService`` is the ``CatalogSink`` of ``sightline.gb28181.devices``: the device manager
hands it every reassembled Catalog answer (``import_catalog``) and every catalog NOTIFY
(``apply_catalog_events``). The REST API reads through it. Whether a device is online comes from
the live device manager (``online``): the stored flag is written on transitions and may lag.

The two trees need every channel's placement; they are built on demand and cached until the next
write (or ``tree_cache_s``, for writes made by other nodes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Generic, TypeVar

from sightline.directory.catalog_writer import CatalogWriter, JobKind
from sightline.directory.trees import (
    ChannelPlacement,
    GroupView,
    RegionForest,
    build_group_views,
    build_region_views,
    prune_groups,
    prune_regions,
)
from sightline.gb28181 import civil
from sightline.gb28181.manscdp import CatalogItem
from sightline.store import (
    Channel,
    ChannelRepository,
    Database,
    Device,
    DeviceRepository,
    DirectoryRepository,
    Group,
    Region,
)

__all__ = ["DirectoryService", "Page"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_SCAN_PAGE = 5000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the size of the whole list."""

    items: tuple[T, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class _Trees:
    """The trees as loaded at ``loaded_at``, with the records they were built from."""

    loaded_at: float
    region_records: tuple[Region, ...]
    group_records: tuple[Group, ...]
    placements: tuple[ChannelPlacement, ...]
    regions: RegionForest
    groups: tuple[GroupView, ...]


class DirectoryService:
    """Catalog import and directory queries."""

    def __init__(
        self,
        database: Database,
        online: Callable[[str], bool],
        *,
        last_seen: Callable[[str], datetime | None] | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
        tree_cache_s: float = 10.0,
    ) -> None:
        self._db = database
        self._online = online
        self._last_seen = last_seen  # an online device's live last_seen (the stored one lags)
        self._wall_clock = wall_clock
        self._clock = clock
        self._tree_cache_s = tree_cache_s
        self._trees: _Trees | None = None
        self._writer = CatalogWriter(database, wall_clock)

    # -- CatalogSink ------------------------------------------------------------------------

    async def import_catalog(
        self, device_id: str, items: Sequence[CatalogItem], *, complete: bool
    ) -> int:
        """Store a device's catalog; the device's channel count afterwards.

        ``complete`` (every message of the answer arrived) makes the listed channels the device's
        whole channel set; a partial answer (timeout) only adds and updates. Imports of many
        devices are written together (:mod:`.catalog_writer`).
        """
        kind = JobKind.COMPLETE if complete else JobKind.PARTIAL
        count = await self._writer.submit(device_id, kind, items)
        self._trees = None
        log.debug(
            "catalog of %s imported: %d channels (%s)",
            device_id,
            count,
            "complete" if complete else "partial",
        )
        return count

    async def apply_catalog_events(self, device_id: str, items: Sequence[CatalogItem]) -> None:
        """Apply a catalog NOTIFY (ADD/UPDATE/DEL/ON/OFF/VLOST/DEFECT items) in order."""
        await self._writer.submit(device_id, JobKind.EVENTS, items)
        self._trees = None

    # -- queries ----------------------------------------------------------------------------

    def is_online(self, device_id: str) -> bool:
        """Whether the device is registered and keeping alive right now."""
        return self._online(device_id)

    def _live(self, device: Device) -> Device:
        if not self._online(device.id):
            return replace(device, online=False)
        seen = self._last_seen(device.id) if self._last_seen is not None else None
        return replace(device, online=True, last_seen=seen or device.last_seen)

    async def list_devices(
        self, online: bool | None = None, limit: int = 100, offset: int = 0
    ) -> Page[Device]:
        """Devices by ID with their live online state.

        The ``online`` filter uses the stored flag (written on every transition), so a device
        caught mid-transition may show on the other side of the filter for a moment.
        """
        async with self._db.session() as session:
            repo = DeviceRepository(session)
            devices = await repo.list(online=online, limit=limit, offset=offset)
            total = await repo.count(online=online)
        return Page(tuple(self._live(d) for d in devices), total, limit, offset)

    async def get_device(self, device_id: str) -> Device | None:
        """One device with its live online state, or ``None``."""
        async with self._db.session() as session:
            device = await DeviceRepository(session).get(device_id)
        return None if device is None else self._live(device)

    async def list_channels(
        self,
        *,
        device_id: str | None = None,
        region: str | None = None,
        group: str | None = None,
        online: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[Channel]:
        """Channels by ID; ``region`` is a civil code (its sub-regions included), ``group`` a
        business group or virtual organisation, ``online`` the catalog status.

        Raises ``InvalidCivilCode`` for a malformed region.
        """
        prefix = civil.canonical(region) if region is not None else None
        async with self._db.session() as session:
            repo = ChannelRepository(session)
            channels = await repo.list(
                device_id=device_id,
                civil_code_prefix=prefix,
                group_id=group,
                online=online,
                limit=limit,
                offset=offset,
            )
            total = await repo.count(
                device_id=device_id, civil_code_prefix=prefix, group_id=group, online=online
            )
        return Page(tuple(channels), total, limit, offset)

    async def get_channel(self, channel_id: str) -> Channel | None:
        """One channel, or ``None``."""
        async with self._db.session() as session:
            return await ChannelRepository(session).get(channel_id)

    async def region_tree(self, visible: Callable[[str], bool] | None = None) -> RegionForest:
        """Provinces → cities → counties → townships with channel counts.

        With ``visible``, only the channels it keeps are counted and empty areas are left out,
        so a department sees the counts and areas of what it may see, nothing more.
        """
        trees = await self._load_trees()
        if visible is None:
            return trees.regions
        placements = [c for c in trees.placements if visible(c.channel_id)]
        return prune_regions(build_region_views(trees.region_records, placements))

    async def group_tree(
        self, visible: Callable[[str], bool] | None = None
    ) -> tuple[GroupView, ...]:
        """Business groups and virtual organisations, nested, with channel counts.

        With ``visible``, counts cover only the channels it keeps and empty groups are left out.
        """
        trees = await self._load_trees()
        if visible is None:
            return trees.groups
        placements = [c for c in trees.placements if visible(c.channel_id)]
        return prune_groups(build_group_views(trees.group_records, placements))

    async def _load_trees(self) -> _Trees:
        now = self._clock()
        if self._trees is not None and now - self._trees.loaded_at < self._tree_cache_s:
            return self._trees
        async with self._db.session() as session:
            regions = await _all_regions(DirectoryRepository(session))
            groups = await _all_groups(DirectoryRepository(session))
            placements = await _placements(ChannelRepository(session))
        trees = _Trees(
            now,
            tuple(regions),
            tuple(groups),
            tuple(placements),
            build_region_views(regions, placements),
            build_group_views(groups, placements),
        )
        self._trees = trees
        return trees


async def _all_regions(repo: DirectoryRepository) -> list[Region]:
    found: list[Region] = []
    level = list(await repo.child_regions(None))
    while level:
        found.extend(level)
        level = [child for r in level for child in await repo.child_regions(r.code)]
    return found


async def _all_groups(repo: DirectoryRepository) -> list[Group]:
    found: list[Group] = []
    seen: set[str] = set()
    level = list(await repo.child_groups(None))
    while level:
        level = [g for g in level if g.id not in seen]
        seen.update(g.id for g in level)
        found.extend(level)
        level = [child for g in level for child in await repo.child_groups(g.id)]
    return found


async def _placements(repo: ChannelRepository) -> list[ChannelPlacement]:
    placements: list[ChannelPlacement] = []
    offset = 0
    while True:
        page = await repo.list(limit=_SCAN_PAGE, offset=offset)
        placements.extend(
            ChannelPlacement(c.id, c.civil_code, c.business_group_id, c.parent_id) for c in page
        )
        if len(page) < _SCAN_PAGE:
            return placements
        offset += _SCAN_PAGE
