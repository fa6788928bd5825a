"""RecordingService with a real StreamHub, real H.264, real files and a real SQLite index."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.api.routers.recording_plans import audit_deletions
from sightline.media.hub import StreamHub, StreamKey, Upstream, Viewer
from sightline.media.ps_frames import AccessUnit
from sightline.media.recording import (
    DeletionReason,
    PlanMode,
    PlatformRecordSource,
    RecordingCollector,
    RecordingOptions,
    RecordingPlan,
    RecordingService,
    WeeklySchedule,
)
from sightline.media.recording.layout import PART_SUFFIX, segment_path
from sightline.store.repositories.recording import RecordingStore
from tests.media.recording.conftest import T0, WallClock, h264_units

CHANNEL = "34020000001310000001"
FAR = T0 + timedelta(days=400)


class QueueUpstream:
    """An upstream fed by the test: real encoded units put on a queue."""

    def __init__(self, clock: WallClock) -> None:
        self.queue: asyncio.Queue[AccessUnit] = asyncio.Queue()
        self.closed = False
        self.clock = clock

    async def frames(self) -> AsyncIterator[AccessUnit]:
        while True:
            unit = await self.queue.get()
            yield unit
            self.clock.advance(0.04)  # frames arrive in real time
            await asyncio.sleep(0)

    async def close(self) -> None:
        self.closed = True


class Camera:
    """Opens (and counts) upstreams for the hub."""

    def __init__(self, hub: StreamHub, clock: WallClock) -> None:
        self.hub = hub
        self.upstream = QueueUpstream(clock)
        self.opened = 0
        self.units = h264_units(12.0)
        self.sent = 0

    async def open(self) -> Upstream:
        self.opened += 1
        return self.upstream

    async def join(self, channel_id: str) -> Viewer:
        return await self.hub.join(StreamKey(channel_id), self.open)

    async def send(self, seconds: float) -> None:
        """Send the next ``seconds`` of video and wait until the hub has passed it on."""
        count = round(seconds * 25)
        for unit in self.units[self.sent : self.sent + count]:
            self.upstream.queue.put_nowait(unit)
        self.sent += count
        for _ in range(500):
            await asyncio.sleep(0.002)
            if self.upstream.queue.empty():
                await asyncio.sleep(0.01)
                return
        raise AssertionError("the hub did not take the units")


def _service(
    root: Path, store: RecordingStore, camera: Camera, clock: WallClock, **options: object
) -> RecordingService:
    settings: dict[str, object] = {
        "segment_s": 2.0,
        "check_interval_s": 3600.0,
        "disk_ceiling_percent": None,
    }
    settings.update(options)
    return RecordingService(
        root,
        index=store,
        plans=store,
        join=camera.join,
        leave=camera.hub.leave,
        options=RecordingOptions(fsync=False, **settings),  # type: ignore[arg-type]
        clock=clock,
    )


@pytest.fixture
async def hub() -> AsyncIterator[StreamHub]:
    hub = StreamHub(grace_s=0.05, first_frame_timeout_s=5, no_media_timeout_s=60)
    yield hub
    await hub.close()


async def _wait_for_recorder(service: RecordingService) -> None:
    for _ in range(200):
        if any(r.state in ("recording", "armed") for r in service.status().recorders):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the recorder did not join: {service.status()}")


async def test_continuous_recording_shares_the_live_upstream_and_indexes_segments(
    tmp_path: Path, store: RecordingStore, hub: StreamHub
) -> None:
    clock = WallClock()
    camera = Camera(hub, clock)
    live_viewer = await camera.join(CHANNEL)  # someone watches already
    service = _service(tmp_path, store, camera, clock)
    await service.start()
    await service.set_plan(CHANNEL, RecordingPlan(PlanMode.CONTINUOUS))
    await _wait_for_recorder(service)
    await camera.send(7.0)
    assert camera.opened == 1  # one INVITE for the viewer and the recorder
    assert hub.snapshot()[0].viewers == 2
    hub.leave(live_viewer)
    status = service.status().recorders[0]
    assert status.recording and status.dropped_frames == 0 and status.bytes_written > 0
    await service.stop()
    rows = await store.segments_between(CHANNEL, T0 - timedelta(hours=1), FAR)
    base = rows[0].start  # the arrival time of the first frame
    assert T0 <= base <= T0 + timedelta(seconds=0.2)
    assert [(r.start - base).total_seconds() for r in rows] == [0, 2, 4, 6]
    assert rows[-1].end == base + timedelta(seconds=7)
    for row in rows:
        with av.open(str(tmp_path / row.path)) as container:
            assert (
                len(list(container.decode(video=0))) == 25 * (row.end - row.start).total_seconds()
            )


async def test_a_weekly_schedule_starts_and_stops_the_recorder(
    tmp_path: Path, store: RecordingStore, hub: StreamHub
) -> None:
    # Wednesday 07:59:59 in Shanghai
    clock = WallClock(datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC))
    camera = Camera(hub, clock)
    service = _service(tmp_path, store, camera, clock)
    await service.start()
    plan = RecordingPlan(PlanMode.SCHEDULED, WeeklySchedule.parse({"wed": ["08:00-09:00"]}))
    await service.set_plan(CHANNEL, plan)
    assert service.status().recorders == ()
    clock.advance(1)
    await service.tick(clock())
    assert [r.recording for r in service.status().recorders] == [True]
    clock.advance(3600)
    await service.tick(clock())
    assert service.status().recorders == ()
    await service.stop()


async def test_an_alarm_records_its_pre_roll_and_post_seconds(
    tmp_path: Path, store: RecordingStore, hub: StreamHub
) -> None:
    clock = WallClock()
    camera = Camera(hub, clock)
    service = _service(tmp_path, store, camera, clock, segment_s=60.0)
    await service.start()
    await service.set_plan(CHANNEL, RecordingPlan(PlanMode.ALARM, pre_s=2.0, post_s=5.0))
    await _wait_for_recorder(service)
    assert service.status().recorders[0].state == "armed"
    await camera.send(5.0)  # key frames each second: the pre-roll keeps 2-3 s
    await service.alarm(CHANNEL)
    assert service.status().recorders[0].recording
    await camera.send(3.0)
    clock.advance(5.0)
    await service.tick(clock())
    assert not service.status().recorders[0].recording  # armed again
    await camera.send(1.0)
    await service.stop()
    (row,) = await store.segments_between(CHANNEL, T0 - timedelta(hours=1), FAR)
    assert timedelta(seconds=5) <= row.end - row.start <= timedelta(seconds=6)
    assert row.kind == "alarm" and row.path.endswith("Z.alarm.mp4")
    (found,) = await PlatformRecordSource(tmp_path, store).search(CHANNEL, T0, FAR)
    assert found.kind == "alarm"


async def test_the_disk_ceiling_deletes_the_oldest_segments_first_and_audits(
    tmp_path: Path, store: RecordingStore, hub: StreamHub
) -> None:
    clock = WallClock()
    camera = Camera(hub, clock)
    service = _service(tmp_path, store, camera, clock, segment_s=1.0)
    await service.start()
    await service.set_plan(CHANNEL, RecordingPlan(PlanMode.CONTINUOUS))
    await _wait_for_recorder(service)
    await camera.send(6.0)
    await service.set_plan(CHANNEL, RecordingPlan(PlanMode.OFF))
    await service.stop()
    rows = list(await store.segments_between(CHANNEL, T0 - timedelta(hours=1), FAR))
    assert len(rows) == 6
    total = sum(r.size_bytes for r in rows)
    ceiling = total - rows[0].size_bytes - rows[1].size_bytes // 2  # two must go
    audited: list[AuditEvent] = []

    class Sink:
        def record(self, event: AuditEvent) -> None:
            audited.append(event)

    tiny = RecordingService(
        tmp_path,
        index=store,
        plans=store,
        join=camera.join,
        leave=hub.leave,
        options=RecordingOptions(
            disk_ceiling_bytes=ceiling, disk_ceiling_percent=None, check_interval_s=3600
        ),
        on_delete=audit_deletions(Sink()),
        clock=clock,
    )
    await tiny.start()
    await tiny.tick(clock())
    await tiny.stop()
    left = await store.segments_between(CHANNEL, T0 - timedelta(hours=1), FAR)
    assert [r.path for r in left] == [r.path for r in rows[2:]]
    assert not (tmp_path / rows[0].path).exists() and not (tmp_path / rows[1].path).exists()
    assert [e.action for e in audited] == [AuditAction.RECORDING_DELETE] * 2
    assert [e.detail["path"] for e in audited] == [rows[0].path, rows[1].path]
    assert audited[0].username is None and audited[0].channel_id == CHANNEL
    assert audited[0].detail["reason"] == DeletionReason.CEILING.value


async def test_age_retention_uses_the_channel_setting_else_the_default(
    tmp_path: Path, store: RecordingStore, hub: StreamHub
) -> None:
    clock = WallClock()
    camera = Camera(hub, clock)
    service = _service(tmp_path, store, camera, clock, segment_s=1.0)
    await service.start()
    await service.set_plan(CHANNEL, RecordingPlan(PlanMode.CONTINUOUS, retention_days=40))
    await _wait_for_recorder(service)
    await camera.send(3.0)
    await service.set_plan(CHANNEL, RecordingPlan(PlanMode.OFF, retention_days=40))
    await service.flush()
    clock.advance(35 * 86400)
    assert await service.enforce_retention() == []  # 40 days for this channel
    await service.set_plan(CHANNEL, RecordingPlan(PlanMode.OFF))
    deleted = await service.enforce_retention()  # now the default 30 days
    assert len(deleted) == 3 and {d.reason for d in deleted} == {DeletionReason.AGE}
    assert deleted == sorted(deleted, key=lambda d: d.start)
    await service.stop()
    assert await store.total_bytes() == 0


def _full_disk_links(root: Path, starts: list[datetime]) -> None:
    """Segment .part paths that are links to /dev/full: writing them fails with ENOSPC."""
    for start in starts:
        part = root / (str(segment_path(CHANNEL, start)) + PART_SUFFIX)
        part.parent.mkdir(parents=True, exist_ok=True)
        part.symlink_to("/dev/full")


async def test_a_full_disk_stops_recording_but_not_live_view(
    tmp_path: Path, store: RecordingStore, hub: StreamHub
) -> None:
    if not await asyncio.to_thread(Path("/dev/full").exists):
        pytest.skip("/dev/full is not available")
    clock = WallClock()
    camera = Camera(hub, clock)
    viewer = await camera.join(CHANNEL)
    service = _service(tmp_path, store, camera, clock, check_interval_s=30.0)
    await service.start()
    await asyncio.to_thread(
        _full_disk_links, tmp_path, [T0 + timedelta(milliseconds=40 * i) for i in range(10)]
    )
    await service.set_plan(CHANNEL, RecordingPlan(PlanMode.CONTINUOUS))
    await _wait_for_recorder(service)
    await camera.send(1.0)
    await service.flush()
    await service.tick(clock())
    status = service.status()
    assert status.disk_full and status.recorders == ()
    samples = {
        m.name: m.samples[0].value
        for m in RecordingCollector(service.status).collect()
        if m.samples and not m.samples[0].labels
    }
    assert samples["sightline_recording_disk_full"] == 1
    # the live viewer goes on
    await camera.send(1.0)
    assert viewer.queued_frames >= 25
    # after check_interval_s recording is tried again, in a new file
    clock.advance(30)
    await service.tick(clock())
    await _wait_for_recorder(service)
    assert not service.status().disk_full
    await camera.send(2.0)
    hub.leave(viewer)
    await service.stop()
    rows = await store.segments_between(CHANNEL, T0 - timedelta(hours=1), FAR)
    assert rows and all(r.start > T0 + timedelta(seconds=30) for r in rows)
    # the 2 s sent, and the hub's cached GOP before them (a late joiner starts with it)
    assert timedelta(seconds=2) <= rows[-1].end - rows[0].start <= timedelta(seconds=3)
