"""The recording tables through ``RecordingStore``, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sightline.media.recording.index import ClosedSegment
from sightline.store import Channel, ChannelRepository, Database
from sightline.store.repositories.recording import RecordingStore
from tests.media.recording.conftest import T0
from tests.store.conftest import (
    add_devices,
    backend,
    db,
    db_url,
    make_device,
    migrated,
    pg_migrated,
    server_url,
    sqlite_migrated,
)

__all__ = [
    "backend",
    "db",
    "db_url",
    "migrated",
    "pg_migrated",
    "server_url",
    "sqlite_migrated",
]

A = "34020000001310000001"
B = "34020000001310000002"
GROUP = "34020000002150000001"


def _segment(channel: str, start_s: int, length_s: int = 10, size: int = 1000) -> ClosedSegment:
    start = T0 + timedelta(seconds=start_s)
    name = f"{channel}/2026-11-25/{start_s:06d}.mp4"
    return ClosedSegment(channel, start, start + timedelta(seconds=length_s), name, size, "avc1")


async def test_segments_are_indexed_searched_and_deleted(db: Database) -> None:
    store = RecordingStore(db)
    await store.add_segments([_segment(A, 0), _segment(A, 10), _segment(B, 5), _segment(A, 20)])
    await store.add_segments([_segment(A, 20, size=2000)])  # the same path again: replaced
    found = await store.segments_between(A, T0 + timedelta(seconds=9), T0 + timedelta(seconds=20))
    assert [s.start - T0 for s in found] == [timedelta(0), timedelta(seconds=10)]
    assert await store.total_bytes() == 5000
    assert await store.recorded_channels() == [A, B]
    oldest = await store.oldest(2)
    assert [(s.channel_id, s.start - T0) for s in oldest] == [
        (A, timedelta(0)),
        (B, timedelta(seconds=5)),
    ]
    ended = await store.oldest(10, channel_id=A, ending_before=T0 + timedelta(seconds=20))
    assert [s.start - T0 for s in ended] == [timedelta(0), timedelta(seconds=10)]
    await store.delete_paths([s.path for s in ended])
    assert await store.all_paths() == {_segment(B, 5).path, _segment(A, 20).path}


async def test_plans_and_group_retention(db: Database) -> None:
    store = RecordingStore(db)
    await store.save_plan(A, {"mode": "continuous"}, 7, "admin")
    await store.save_plan(A, {"mode": "alarm", "pre_s": 5.0}, None, "admin")
    (plan,) = await store.load_plans()
    assert plan.channel_id == A and plan.mode == "alarm" and plan.plan["pre_s"] == 5.0
    assert plan.retention_days is None and plan.updated_by == "admin"
    device = make_device("34020000001180000001")
    await add_devices(db, device)
    async with db.session() as session:
        await ChannelRepository(session).upsert_many(
            [
                Channel(id=A, device_id=device.id, updated_at=T0, business_group_id=GROUP),
                Channel(id=B, device_id=device.id, updated_at=T0),
            ]
        )
    assert await store.group_retention_of_channels() == {}
    await store.set_group_retention(GROUP, 90)
    assert await store.group_retention(GROUP) == 90
    assert await store.group_retention_of_channels() == {A: 90}
    await store.set_group_retention(GROUP, None)
    assert await store.group_retention(GROUP) is None
