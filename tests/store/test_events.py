"""EventRepository (status history and alarms) on both backends."""

from __future__ import annotations

from datetime import timedelta

from sightline.store import Alarm, Database, DeviceRepository, EventRepository, StatusReason
from tests.store.conftest import T0, add_devices, make_device

DEV = "34020000001320000001"
OTHER = "34020000001320000002"


async def test_status_events_filter_by_device_and_half_open_range(db: Database) -> None:
    await add_devices(db, make_device(DEV), make_device(OTHER))
    times = [T0 + timedelta(minutes=m) for m in range(4)]
    async with db.session() as session:
        repo = DeviceRepository(session)
        for n, at in enumerate(times):
            await repo.set_online(DEV, n % 2 == 0, StatusReason.REGISTER, at)
        await repo.set_online(OTHER, True, StatusReason.REGISTER, times[1])
    async with db.session() as session:
        events = EventRepository(session)
        assert [e.at for e in await events.status_events(DEV)] == times
        window = await events.status_events(DEV, since=times[1], until=times[3])
        assert [e.at for e in window] == times[1:3]
        assert [e.at for e in await events.status_events(DEV, limit=1)] == times[:1]
        assert [e.device_id for e in await events.status_events(OTHER)] == [OTHER]


def _alarm(device_id: str, minutes: int) -> Alarm:
    return Alarm(
        device_id=device_id,
        received_at=T0 + timedelta(minutes=minutes),
        channel_id="34020000001340000001",
        priority=1,
        method=2,
        alarm_type=1,
        description="红外报警",
        longitude=117.2,
        latitude=31.8,
        alarm_time=T0 + timedelta(minutes=minutes, seconds=-2),
        raw="<Notify><CmdType>Alarm</CmdType></Notify>",
    )


async def test_add_alarm_assigns_ids_and_round_trips(db: Database) -> None:
    async with db.session() as session:
        first = await EventRepository(session).add_alarm(_alarm(DEV, 0))
        second = await EventRepository(session).add_alarm(Alarm(device_id=DEV, received_at=T0))
    assert first.id is not None and second.id is not None and second.id > first.id
    async with db.session() as session:
        stored = await EventRepository(session).list_alarms()
    assert set(stored) == {first, second}


async def test_list_alarms_newest_first_with_filters(db: Database) -> None:
    async with db.session() as session:
        repo = EventRepository(session)
        stored = [await repo.add_alarm(_alarm(d, m)) for d, m in [(DEV, 0), (OTHER, 1), (DEV, 2)]]
    async with db.session() as session:
        repo = EventRepository(session)
        assert await repo.list_alarms() == stored[::-1]
        assert await repo.list_alarms(device_id=DEV) == [stored[2], stored[0]]
        assert await repo.list_alarms(since=T0 + timedelta(minutes=1)) == [stored[2], stored[1]]
        assert await repo.list_alarms(limit=1, offset=1) == [stored[1]]
