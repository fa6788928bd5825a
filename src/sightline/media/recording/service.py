"""Platform recording: plans → recorders → segment files → index, with repair and retention.

    start()  repair: salvage .part files, drop rows without files, index files without rows
             load plans, start the writer thread, then every second:
    tick     for each channel with a plan: should it record now (mode, weekly table in the
             platform's zone, alarm window)?  start/arm/stop its ChannelRecorder
             over the disk ceiling?  delete the oldest segments
    every check_interval_s: age-based retention (channel, group, default days)

A write failure for lack of space (ENOSPC) stops every recorder (``disk_full``, logged and
exported as a metric) and runs retention; recording is tried again after ``check_interval_s``.
Live view is untouched: recorders are just viewers of the hub. Deletions are reported through
``on_delete`` (the node audits them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from sightline.media.recording.files import SegmentFiles
from sightline.media.recording.index import (
    ClosedSegment,
    PlanStore,
    SegmentIndex,
    SegmentRow,
    WriteFailure,
)
from sightline.media.recording.plans import PlanMode, RecordingPlan
from sightline.media.recording.recorder import ChannelRecorder, Join, Leave, RecorderStatus
from sightline.media.recording.repair import DiskScan, describe_file, scan
from sightline.media.recording.retention import (
    DeletedSegment,
    DeletionReason,
    DiskUsage,
    bytes_to_free,
    cutoff,
    retention_days,
)

__all__ = ["AlarmLike", "RecordingOptions", "RecordingService", "RecordingStatus"]

log = logging.getLogger(__name__)

_TICK_S = 1.0
_BATCH = 200


@dataclass(frozen=True, slots=True)
class RecordingOptions:
    """Settings of platform recording (the ``recording`` section of the configuration)."""

    enabled: bool = True
    segment_s: float = 60.0
    fragment_s: float = 1.0
    retention_days: int = 30
    disk_ceiling_bytes: int | None = None
    disk_ceiling_percent: float | None = 95.0
    check_interval_s: float = 60.0
    time_zone: str = "Asia/Shanghai"
    retry_s: float = 5.0
    max_queue_mb: int = 256
    fsync: bool = True


@runtime_checkable
class AlarmLike(Protocol):
    """An alarm event (``sightline.events.AlarmReceived``)."""

    device_id: str
    channel_id: str | None


@dataclass(frozen=True, slots=True)
class RecordingStatus:
    """Everything recording now, for the API and metrics."""

    recorders: tuple[RecorderStatus, ...]
    disk_full: bool
    recordings_bytes: int
    bytes_written: int
    queued_bytes: int
    segments_deleted: int


class RecordingService:
    """Runs platform recording for one node; see the module docstring."""

    def __init__(
        self,
        root: Path,
        *,
        index: SegmentIndex,
        plans: PlanStore,
        join: Join,
        leave: Leave,
        options: RecordingOptions,
        on_delete: Callable[[DeletedSegment], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.root = root
        self.options = options
        self.zone = ZoneInfo(options.time_zone)
        self.disk_full = False
        self.segments_deleted = 0
        self.final_status: RecordingStatus | None = None  # what the last run did, once stopped
        self._index, self._plans, self._join, self._leave = index, plans, join, leave
        self._on_delete = on_delete
        self._clock = clock
        self.files = SegmentFiles(
            root,
            on_closed=self._segment_closed,
            on_error=self._write_failed,
            max_queue_bytes=options.max_queue_mb << 20,
            fsync=options.fsync,
        )
        self._plan_of: dict[str, RecordingPlan] = {}
        self._alarm_until: dict[str, datetime] = {}
        self._recorders: dict[str, ChannelRecorder] = {}
        self._to_index: list[ClosedSegment] = []
        self._index_wakeup = asyncio.Event()
        self._recorded_bytes = 0
        self._disk_full_at: datetime | None = None
        self._retention_lock = asyncio.Lock()
        self._ceiling_warned = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- life ----------------------------------------------------------------------------

    async def start(self) -> DiskScan:
        """Repair the disk and the index, load plans, start recording; returns the repair."""
        self.root.mkdir(parents=True, exist_ok=True)
        found = await asyncio.to_thread(scan, self.root)
        await self.reconcile(found)
        for row in await self._plans.load_plans():
            try:
                self._plan_of[row.channel_id] = RecordingPlan.from_json(
                    row.plan, row.retention_days
                )
            except ValueError as exc:
                log.error("channel %s: stored recording plan ignored: %s", row.channel_id, exc)
        self._recorded_bytes = await self._index.total_bytes()
        self.files.start()
        for job, name in ((self._ticker, "tick"), (self._indexer, "index"), (self._aging, "age")):
            self._tasks.append(asyncio.create_task(job(), name=f"recording {name}"))
        log.info(
            "recording: %d plans, %d segments salvaged, %d unusable .part files deleted",
            len(self._plan_of),
            len(found.salvaged),
            found.deleted_parts,
        )
        return found

    async def reconcile(self, found: DiskScan) -> None:
        """Make the index agree with the files found on disk."""
        indexed = await self._index.all_paths()
        gone = sorted(indexed - found.files)
        if gone:
            log.warning("recording index: %d rows whose files are gone removed", len(gone))
            await self._index.delete_paths(gone)
        salvaged = {s.path for s in found.salvaged}
        orphans = sorted(found.files - indexed - salvaged)
        described = [
            d
            for d in await asyncio.to_thread(
                lambda: [describe_file(self.root, self.root / p) for p in orphans]
            )
            if d is not None
        ]
        if orphans:
            log.warning("recording index: %d files without rows indexed", len(described))
        await self._index.add_segments([*found.salvaged, *described])

    async def flush(self) -> None:
        """Write every queued segment operation and index every closed segment."""
        await self.files.barrier()
        await self._flush_index()

    async def stop(self) -> None:
        """Close every open segment, write the queue out, index what closed."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.gather(*(r.stop() for r in self._recorders.values()))
        await self.files.stop()
        await asyncio.sleep(0)  # let the thread's last call_soon_threadsafe callbacks run
        self.final_status = self.status()
        self._recorders.clear()
        await self._flush_index()
        log.info(
            "recording stopped: %d channels, %d bytes written",
            len(self.final_status.recorders),
            self.final_status.bytes_written,
        )

    # -- plans and alarms --------------------------------------------------------------------

    def plan(self, channel_id: str) -> RecordingPlan:
        """The channel's plan (``off`` when none was set)."""
        return self._plan_of.get(channel_id, RecordingPlan())

    async def set_plan(
        self, channel_id: str, plan: RecordingPlan, updated_by: str | None = None
    ) -> None:
        """Store and apply a channel's plan at once."""
        await self._plans.save_plan(channel_id, plan.to_json(), plan.retention_days, updated_by)
        old = self._plan_of.get(channel_id)
        self._plan_of[channel_id] = plan
        if old is not None and (old.pre_s, old.mode) != (plan.pre_s, plan.mode):
            await self._drop_recorder(channel_id)  # re-created with the new pre-roll
        await self._evaluate(channel_id, self._clock())

    async def group_retention(self, group_id: str) -> int | None:
        """A business group's retention days, if set."""
        return await self._plans.group_retention(group_id)

    async def set_group_retention(self, group_id: str, days: int | None) -> None:
        """Set or clear a business group's retention (applied at the next retention run)."""
        await self._plans.set_group_retention(group_id, days)

    async def alarm(self, channel_id: str) -> None:
        """An alarm on the channel: an alarm plan records until ``post_s`` from now."""
        plan = self._plan_of.get(channel_id)
        if plan is None or plan.mode is not PlanMode.ALARM:
            return
        now = self._clock()
        until = now + timedelta(seconds=plan.post_s)
        self._alarm_until[channel_id] = max(until, self._alarm_until.get(channel_id, until))
        log.info("channel %s: alarm, recording until %s", channel_id, until.isoformat())
        await self._evaluate(channel_id, now)

    async def follow_alarms(self, alarms: AsyncIterable[object]) -> None:
        """Feed alarm events (the node's event bus subscription) into :meth:`alarm`."""
        async for event in alarms:
            if isinstance(event, AlarmLike):
                try:
                    await self.alarm(event.channel_id or event.device_id)
                except Exception:
                    log.exception("alarm recording of %s failed", event.channel_id)

    # -- status ---------------------------------------------------------------------------

    def status(self) -> RecordingStatus:
        """What is recording now."""
        return RecordingStatus(
            tuple(r.status() for r in sorted(self._recorders.values(), key=lambda r: r.channel_id)),
            self.disk_full,
            self._recorded_bytes + self.files.open_bytes(),
            self.files.bytes_written,
            self.files.queued_bytes,
            self.segments_deleted,
        )

    # -- the loop -------------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            now = self._clock()
            try:
                await self.tick(now)
            except Exception:
                log.exception("recording tick failed")
            await asyncio.sleep(_TICK_S)

    async def tick(self, now: datetime) -> None:
        """Evaluate every plan at ``now`` and enforce the ceiling (called every second)."""
        if self._disk_full_at is not None and now - self._disk_full_at >= timedelta(
            seconds=self.options.check_interval_s
        ):
            log.info("recording: trying again after the disk was full")
            self._disk_full_at, self.disk_full = None, False
        for channel_id in list(self._plan_of.keys() | self._recorders.keys()):
            await self._evaluate(channel_id, now)
        if self._over_ceiling_quick():
            await self.enforce_ceiling()

    async def _evaluate(self, channel_id: str, now: datetime) -> None:
        plan = self.plan(channel_id)
        until = self._alarm_until.get(channel_id)
        if until is not None and now >= until:
            del self._alarm_until[channel_id]
            until = None
        record = not self.disk_full and plan.records_at(now, self.zone, until)
        watch = record or (plan.needs_stream_when_idle and not self.disk_full)
        recorder = self._recorders.get(channel_id)
        if not watch:
            if recorder is not None:
                await self._drop_recorder(channel_id)
            return
        if recorder is None:
            recorder = self._recorders[channel_id] = ChannelRecorder(
                channel_id,
                join=self._join,
                leave=self._leave,
                files=self.files,
                clock=self._clock,
                segment_s=self.options.segment_s,
                fragment_s=self.options.fragment_s,
                pre_s=plan.pre_s if plan.mode is PlanMode.ALARM else 0.0,
                retry_s=self.options.retry_s,
                kind="alarm" if plan.mode is PlanMode.ALARM else "time",
            )
            recorder.start()
        recorder.set_recording(record)

    async def _drop_recorder(self, channel_id: str) -> None:
        recorder = self._recorders.pop(channel_id, None)
        if recorder is not None:
            await recorder.stop()

    # -- the writer's reports (on the loop) --------------------------------------------------

    def _segment_closed(self, segment: ClosedSegment) -> None:
        self._recorded_bytes += segment.size_bytes
        recorder = self._recorders.get(segment.channel_id)
        if recorder is not None:
            recorder.segment_closed()
        self._to_index.append(segment)
        self._index_wakeup.set()

    def _write_failed(self, failure: WriteFailure) -> None:
        recorder = self._recorders.get(failure.channel_id)
        if recorder is not None:
            recorder.last_error = failure.error
        if failure.disk_full and not self.disk_full:
            log.error(
                "recording: disk full (%s); every recorder stops, live view goes on", failure.error
            )
            self.disk_full, self._disk_full_at = True, self._clock()
            for recorder in self._recorders.values():
                recorder.set_recording(False)
            self._tasks.append(asyncio.create_task(self._free_space(), name="recording ceiling"))

    async def _free_space(self) -> None:
        try:
            await self.enforce_ceiling()
        except Exception:
            log.exception("recording: freeing space after a full disk failed")

    async def _indexer(self) -> None:
        while True:
            await self._index_wakeup.wait()
            self._index_wakeup.clear()
            try:
                await self._flush_index()
            except Exception:
                log.exception("recording index write failed; retried with the next segment")
            await asyncio.sleep(0.2)  # batches rows of channels that cut together

    async def _flush_index(self) -> None:
        batch, self._to_index = self._to_index, []
        if not batch:
            return
        try:
            await self._index.add_segments(batch)
        except BaseException:
            self._to_index[:0] = batch
            raise

    # -- retention ------------------------------------------------------------------------

    async def _aging(self) -> None:
        while True:
            try:
                await self.enforce_retention()
            except Exception:
                log.exception("recording retention failed")
            await asyncio.sleep(self.options.check_interval_s)

    async def enforce_retention(self) -> list[DeletedSegment]:
        """Delete segments older than their channel's retention, then enforce the ceiling."""
        deleted: list[DeletedSegment] = []
        async with self._retention_lock:
            now = self._clock()
            groups = await self._plans.group_retention_of_channels()
            own = {ch: p.retention_days for ch, p in self._plan_of.items()}
            for channel_id in await self._index.recorded_channels():
                days = retention_days(channel_id, own, groups, self.options.retention_days)
                while rows := await self._index.oldest(
                    _BATCH, channel_id=channel_id, ending_before=cutoff(now, days)
                ):
                    deleted += await self._delete(rows, DeletionReason.AGE)
                    if len(rows) < _BATCH:
                        break
        return deleted + await self.enforce_ceiling()

    def _usage(self) -> DiskUsage:
        fs = shutil.disk_usage(self.root)
        return DiskUsage(self._recorded_bytes + self.files.open_bytes(), fs.used, fs.total)

    def _over_ceiling_quick(self) -> bool:
        o = self.options
        if o.disk_ceiling_bytes is None and o.disk_ceiling_percent is None:
            return False
        return bytes_to_free(self._usage(), o.disk_ceiling_bytes, o.disk_ceiling_percent) > 0

    async def enforce_ceiling(self) -> list[DeletedSegment]:
        """Delete the oldest segments of any channel until under the disk ceiling."""
        deleted: list[DeletedSegment] = []
        async with self._retention_lock:
            o = self.options
            need = bytes_to_free(self._usage(), o.disk_ceiling_bytes, o.disk_ceiling_percent)
            while need > 0:
                rows = list(await self._index.oldest(_BATCH))
                if not rows:
                    if not self._ceiling_warned:
                        log.error("recording: over the disk ceiling with nothing left to delete")
                    self._ceiling_warned = True
                    break
                self._ceiling_warned = False
                chosen: list[SegmentRow] = []
                for row in rows:
                    if need <= 0:
                        break
                    chosen.append(row)
                    need -= row.size_bytes
                deleted += await self._delete(chosen, DeletionReason.CEILING)
        return deleted

    async def _delete(
        self, rows: Sequence[SegmentRow], reason: DeletionReason
    ) -> list[DeletedSegment]:
        def unlink() -> None:
            for row in rows:
                with contextlib.suppress(FileNotFoundError):
                    (self.root / row.path).unlink()

        await asyncio.to_thread(unlink)
        await self._index.delete_paths([row.path for row in rows])
        out = []
        for row in rows:
            item = DeletedSegment(
                row.channel_id, row.start, row.end, row.path, row.size_bytes, reason
            )
            self._recorded_bytes -= row.size_bytes
            self.segments_deleted += 1
            log.info(
                "channel %s: recording %s deleted (%s, %d bytes)",
                row.channel_id,
                row.path,
                reason.value,
                row.size_bytes,
            )
            if self._on_delete is not None:
                self._on_delete(item)
            out.append(item)
        return out
