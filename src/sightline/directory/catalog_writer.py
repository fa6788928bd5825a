"""Catalog writes of many devices in one transaction (group commit), skipping what is unchanged.

Onboarding a fleet imports one small catalog per device, and SQLite's single writer made one
transaction per device the bottleneck. :class:`CatalogWriter` queues each import (a complete or
partial Catalog answer) or NOTIFY (catalog events) as a job; while one batch is being written
the next jobs wait, then all of them are written together: a few ``SELECT .. IN`` reads, one
executemany upsert of the channels that changed, one delete, one channel-count update. The
batch size thus follows the load, with no delay when idle.

A device appears at most once per batch (its next job waits for the next batch), so a device's
jobs apply in the order they came. A failed batch is tried once more (SQLite's lock wait can
time out while another writer is busy), then split in halves until the failing device is alone,
so one device's bad data fails only that device's import.

Writing nothing that is already stored makes the catalog NOTIFY many devices send right after a
SUBSCRIBE (the same channels as the Catalog answer just imported) cost reads only; and a
complete catalog identical to the last one imported here (same items, same stored channel count)
costs no channel reads either.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession

from sightline.directory.catalog import CatalogBatch, plan_events, split_catalog
from sightline.gb28181.errors import UnknownDeviceError
from sightline.gb28181.manscdp import CatalogItem
from sightline.store import (
    Channel,
    ChannelRepository,
    Database,
    DeviceRepository,
    DirectoryRepository,
    Group,
    Region,
)

__all__ = ["CatalogWriter", "JobKind", "catalog_digest"]

log = logging.getLogger(__name__)

MAX_BATCH_DEVICES = 1000
WRITE_ATTEMPTS = 2


class JobKind(Enum):
    """What a job writes."""

    COMPLETE = "complete"  # a whole Catalog answer: the device's channel set
    PARTIAL = "partial"  # part of an answer (timeout) or an unsolicited one: add and update only
    EVENTS = "events"  # a catalog NOTIFY: ADD/UPDATE/DEL/ON/OFF/VLOST/DEFECT items


@dataclass
class _Job:
    device_id: str
    kind: JobKind
    items: Sequence[CatalogItem]
    future: asyncio.Future[int]
    digest: int | None = None
    split: CatalogBatch | None = None


@dataclass
class _Plan:
    """What one batch writes."""

    upserts: dict[str, Channel] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)
    regions: dict[str, Region] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    group_deletes: list[str] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)  # devices whose channels were written


def catalog_digest(items: Sequence[CatalogItem]) -> int:
    """A process-local fingerprint of a catalog (equal items in equal order, equal digest)."""
    return hash(repr(tuple(items)))


def _same(new: Channel, old: Channel | None) -> bool:
    return old is not None and replace(new, updated_at=old.updated_at) == old


class CatalogWriter:
    """Queues catalog jobs and writes them in batches; ``submit`` returns the channel count."""

    def __init__(
        self,
        database: Database,
        wall_clock: Callable[[], datetime],
        *,
        max_batch: int = MAX_BATCH_DEVICES,
    ) -> None:
        self._db = database
        self._wall_clock = wall_clock
        self._max_batch = max_batch
        self._queue: list[_Job] = []
        self._drainer: asyncio.Task[None] | None = None
        # device → (digest, channel count) of its last complete catalog written or verified here
        self._imported: dict[str, tuple[int, int]] = {}
        self.batches = 0
        self.skipped = 0

    async def submit(self, device_id: str, kind: JobKind, items: Sequence[CatalogItem]) -> int:
        """Queue a job and wait until its batch is written; the device's channel count."""
        loop = asyncio.get_running_loop()
        job = _Job(device_id, kind, items, loop.create_future())
        if kind is not JobKind.EVENTS:
            job.split = split_catalog(device_id, items, self._wall_clock())
            if job.split.ignored:
                log.info(
                    "catalog of %s: ignored %d items: %s",
                    device_id,
                    len(job.split.ignored),
                    ", ".join(repr(item_id) for item_id in job.split.ignored[:5]),
                )
        if kind is JobKind.COMPLETE:
            job.digest = catalog_digest(items)
        self._queue.append(job)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain())
        return await job.future

    def forget(self, device_id: str) -> None:
        """Drop what is remembered of the device's last catalog (the next one is compared)."""
        self._imported.pop(device_id, None)

    async def _drain(self) -> None:
        while self._queue:
            batch = self._take()
            try:
                await self._write_batch(batch)
            except Exception as exc:  # every job is answered, whatever went wrong
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _take(self) -> list[_Job]:
        batch: list[_Job] = []
        rest: list[_Job] = []
        devices: set[str] = set()
        for job in self._queue:
            if len(batch) < self._max_batch and job.device_id not in devices:
                devices.add(job.device_id)
                batch.append(job)
            else:
                rest.append(job)
        self._queue = rest
        return batch

    async def _write_batch(self, batch: list[_Job]) -> None:
        error: Exception | None = None
        for _ in range(WRITE_ATTEMPTS):  # SQLite's lock can time out while another writer works
            try:
                results = await self._write(batch)
            except Exception as exc:
                error = exc
            else:
                self._resolve(batch, results)
                return
        assert error is not None
        if len(batch) == 1:
            log.info("catalog of %s not stored: %s", batch[0].device_id, error)
            self.forget(batch[0].device_id)
            raise error
        # one device's bad data must not fail the others: halve until it is alone
        log.warning("catalog batch of %d devices failed (%s); splitting it", len(batch), error)
        half = len(batch) // 2
        for part in (batch[:half], batch[half:]):
            try:
                await self._write_batch(part)
            except Exception as exc:
                for job in part:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _resolve(self, batch: list[_Job], results: dict[str, int | Exception]) -> None:
        for job in batch:
            if job.future.done():
                continue
            result = results[job.device_id]
            if isinstance(result, Exception):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    async def _write(self, batch: list[_Job]) -> dict[str, int | Exception]:
        at = self._wall_clock()
        results: dict[str, int | Exception] = {}
        async with self._db.write_session() as session:
            devices = DeviceRepository(session)
            channels = ChannelRepository(session)
            ids = [job.device_id for job in batch]
            stored_counts = await devices.channel_counts(ids)
            counts = await channels.count_by_device(stored_counts)
            live: list[_Job] = []
            for job in batch:
                device = job.device_id
                if device not in stored_counts:
                    results[device] = UnknownDeviceError(f"device {device} is not in the directory")
                    self.forget(device)
                elif self._unchanged(job, counts.get(device, 0)):
                    results[device] = counts.get(device, 0)
                    self.skipped += 1
                else:
                    live.append(job)
            plan = await _plan(session, live, at)
            await _apply(session, plan)
            if plan.changed:
                now = await channels.count_by_device(plan.changed)
                counts.update((device, now.get(device, 0)) for device in plan.changed)
            fixes = {d: counts.get(d, 0) for d, n in stored_counts.items() if counts.get(d, 0) != n}
            await devices.set_channel_counts(fixes, at)
        self.batches += 1
        for job in live:
            count = counts.get(job.device_id, 0)
            results[job.device_id] = count
            if job.kind is JobKind.COMPLETE and job.digest is not None:
                self._imported[job.device_id] = (job.digest, count)
            elif job.device_id in plan.changed:
                self.forget(job.device_id)
        return results

    def _unchanged(self, job: _Job, count: int) -> bool:
        if job.kind is not JobKind.COMPLETE:
            return False
        return self._imported.get(job.device_id) == (job.digest, count)


async def _plan(session: AsyncSession, jobs: list[_Job], at: datetime) -> _Plan:
    """Read what the jobs may change and work out the writes, leaving out unchanged rows."""
    plan = _Plan()
    channels = ChannelRepository(session)
    complete = [j.device_id for j in jobs if j.kind is JobKind.COMPLETE]
    by_device = await channels.for_devices(complete) if complete else {}
    named = {
        item.device_id.strip()
        for job in jobs
        if job.kind is not JobKind.COMPLETE
        for item in job.items
    }
    by_id = await channels.get_many(named) if named else {}
    for job in jobs:
        device = job.device_id
        if job.kind is JobKind.EVENTS:
            current = {i: c for i, c in by_id.items() if c.device_id == device and i in _ids(job)}
            events = plan_events(device, job.items, current, at)
            _channels(plan, device, events.upserts, current)
            gone = set(events.deletes)
            plan.deletes |= gone
            plan.changed |= {device} if gone else set()
            _regions_groups(plan, events.regions, events.groups)
            plan.group_deletes.extend(events.group_deletes)
            continue
        assert job.split is not None
        if job.kind is JobKind.COMPLETE:
            current = by_device.get(device, {})
            gone = set(current) - {c.id for c in job.split.channels}
            plan.deletes |= gone
            plan.changed |= {device} if gone else set()
        else:
            current = {c.id: by_id[c.id] for c in job.split.channels if c.id in by_id}
        _channels(plan, device, job.split.channels, current)
        _regions_groups(plan, job.split.regions, job.split.groups)
    return plan


def _ids(job: _Job) -> set[str]:
    return {item.device_id.strip() for item in job.items}


def _channels(
    plan: _Plan, device: str, new: Iterable[Channel], current: dict[str, Channel]
) -> None:
    for channel in new:
        if not _same(channel, current.get(channel.id)):
            plan.upserts[channel.id] = channel
            plan.deletes.discard(channel.id)
            plan.changed.add(device)


def _regions_groups(plan: _Plan, regions: Iterable[Region], groups: Iterable[Group]) -> None:
    for region in regions:
        # an unnamed region (an implied ancestor) never replaces a named one
        if region.name or region.code not in plan.regions:
            plan.regions[region.code] = region
    for group in groups:
        plan.groups[group.id] = group


async def _apply(session: AsyncSession, plan: _Plan) -> None:
    directory = DirectoryRepository(session)
    if plan.regions:
        stored = await directory.regions_by_code(plan.regions)
        regions = [
            r
            for r in plan.regions.values()
            if (r.name and stored.get(r.code) != r) or r.code not in stored
        ]
        await directory.save_regions(regions)
    if plan.groups:
        await _save_groups(directory, plan.groups)
    channels = ChannelRepository(session)
    await channels.delete_many(plan.deletes)
    await channels.upsert_many(list(plan.upserts.values()))
    for group_id in plan.group_deletes:
        # Children of a removed group move to the top rather than hang off a missing parent.
        orphans = await directory.child_groups(group_id)
        await directory.save_groups([replace(g, parent_id=None) for g in orphans])
        await directory.delete_group(group_id)


async def _save_groups(directory: DirectoryRepository, groups: dict[str, Group]) -> None:
    """Save changed groups; a parent neither in ``groups`` nor stored is dropped (a root)."""
    parents = {g.parent_id for g in groups.values() if g.parent_id is not None}
    stored = await directory.groups_by_id({*groups, *parents})
    fixed = []
    for group in groups.values():
        parent = group.parent_id
        known = parent is None or parent in groups or parent in stored
        final = group if known else replace(group, parent_id=None)
        if stored.get(group.id) != final:
            fixed.append(final)
    await directory.save_groups(fixed)
