"""DeviceRepository on both backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from sightline.store import (
    Database,
    DeviceRepository,
    EventRepository,
    GbVersion,
    NotFoundError,
    StatusReason,
    Transport,
)
from tests.store.conftest import T0, add_devices, make_device

DEV = "34020000001320000001"


async def test_get_unknown_device_is_none(db: Database) -> None:
    async with db.session() as session:
        assert await DeviceRepository(session).get(DEV) is None


async def test_save_and_get_round_trip_every_field(db: Database) -> None:
    device = make_device(
        name="南门球机",
        model="DS-2DE4425IW",
        firmware="V5.7.3",
        transport=Transport.TCP,
        gb_version=GbVersion.V2022,
        charset="UTF-8",
        realm="3402000000",
        password_ha1="0123456789abcdef0123456789abcdef",
        remote_host="2001:db8::10",
        remote_port=5060,
        contact="<sip:34020000001320000001@[2001:db8::10]:5060>",
        expires_s=3600,
        registered_at=T0,
        last_seen=T0 + timedelta(seconds=60),
        online=True,
        channel_count=4,
    )
    async with db.session() as session:
        saved = await DeviceRepository(session).save(device)
    async with db.session() as session:
        loaded = await DeviceRepository(session).get(DEV)
    assert saved == device
    assert loaded == device
    assert loaded is not None and isinstance(loaded.transport, Transport)


async def test_save_updates_but_keeps_created_at(db: Database) -> None:
    await add_devices(db, make_device())
    later = T0 + timedelta(days=2)
    async with db.session() as session:
        updated = await DeviceRepository(session).save(
            make_device(name="renamed", created_at=later, updated_at=later)
        )
    assert (updated.name, updated.created_at, updated.updated_at) == ("renamed", T0, later)


async def test_list_filters_by_online_and_pages_by_id(db: Database) -> None:
    ids = [f"3402000000132000000{n}" for n in range(5)]
    await add_devices(db, *(make_device(i, online=n % 2 == 0) for n, i in enumerate(ids)))
    async with db.session() as session:
        repo = DeviceRepository(session)
        assert [d.id for d in await repo.list()] == ids
        assert [d.id for d in await repo.list(online=True)] == ids[0::2]
        assert [d.id for d in await repo.list(online=False)] == ids[1::2]
        assert [d.id for d in await repo.list(limit=2, offset=2)] == ids[2:4]
        assert (await repo.count(), await repo.count(online=True), await repo.count(False)) == (
            5,
            3,
            2,
        )


async def test_set_online_records_each_event_and_reports_changes(db: Database) -> None:
    await add_devices(db, make_device())
    t1, t2, t3 = (T0 + timedelta(minutes=m) for m in (1, 2, 3))
    async with db.session() as session:
        repo = DeviceRepository(session)
        assert await repo.set_online(DEV, True, StatusReason.REGISTER, t1) is True
        assert await repo.set_online(DEV, True, StatusReason.REGISTER, t2) is False
        assert await repo.set_online(DEV, False, StatusReason.KEEPALIVE_TIMEOUT, t3) is True
    async with db.session() as session:
        device = await DeviceRepository(session).get(DEV)
        events = await EventRepository(session).status_events(DEV)
    assert device is not None
    assert (device.online, device.last_seen, device.updated_at) == (False, t2, t3)
    assert [(e.online, e.reason, e.at) for e in events] == [
        (True, "register", t1),
        (True, "register", t2),
        (False, "keepalive-timeout", t3),
    ]
    assert len({e.id for e in events}) == 3


async def test_set_online_of_unknown_device_raises(db: Database) -> None:
    with pytest.raises(NotFoundError, match=DEV):
        async with db.session() as session:
            await DeviceRepository(session).set_online(DEV, True, StatusReason.REGISTER, T0)


async def test_touch_refreshes_last_seen_only(db: Database) -> None:
    device = make_device(online=True, last_seen=T0)
    await add_devices(db, device)
    async with db.session() as session:
        await DeviceRepository(session).touch(DEV, T0 + timedelta(seconds=60))
    async with db.session() as session:
        loaded = await DeviceRepository(session).get(DEV)
    assert loaded == replace(device, last_seen=T0 + timedelta(seconds=60))


async def test_touch_of_unknown_device_raises(db: Database) -> None:
    with pytest.raises(NotFoundError):
        async with db.session() as session:
            await DeviceRepository(session).touch(DEV, T0)


async def test_delete_reports_whether_it_removed_anything(db: Database) -> None:
    await add_devices(db, make_device())
    async with db.session() as session:
        repo = DeviceRepository(session)
        assert await repo.delete(DEV) is True
        assert await repo.delete(DEV) is False
        assert await repo.get(DEV) is None
