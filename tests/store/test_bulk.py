"""Bulk repository methods (one statement for many rows) on both backends."""

from __future__ import annotations

from datetime import timedelta

from sightline.store import (
    Channel,
    ChannelRepository,
    Database,
    DeviceRepository,
    DirectoryRepository,
    EventRepository,
    GbVersion,
    Group,
    GroupKind,
    Region,
    Transport,
)
from sightline.store.repositories.devices import CHUNK, DeviceRegistration
from tests.store.conftest import T0, add_devices, make_device

MANY = CHUNK + 20  # crosses a chunk boundary


def dev(n: int) -> str:
    return f"3402000000132{n:07d}"


def reg(n: int, port: int = 5060) -> DeviceRegistration:
    return DeviceRegistration(
        device_id=dev(n),
        transport=Transport.UDP,
        gb_version=GbVersion.V2016,
        remote_host="127.0.0.1",
        remote_port=port,
        contact=f"<sip:{dev(n)}@127.0.0.1:{port}>",
        expires_s=3600,
        at=T0,
    )


async def test_register_many_inserts_new_and_updates_known(db: Database) -> None:
    await add_devices(db, make_device(dev(0), name="kept"))
    async with db.session() as session:
        await DeviceRepository(session).register_many([reg(n, 5070) for n in range(MANY)])
    async with db.session() as session:
        repo = DeviceRepository(session)
        assert await repo.count(online=True) == MANY
        known = await repo.get(dev(0))
        assert known is not None and known.name == "kept" and known.remote_port == 5070
        history = await EventRepository(session).status_events(dev(MANY - 1))
    assert [(e.online, e.reason) for e in history] == [(True, "register")]


async def test_touch_update_and_count_many(db: Database) -> None:
    async with db.session() as session:
        await DeviceRepository(session).register_many([reg(n) for n in range(3)])
    later = T0 + timedelta(minutes=5)
    async with db.session() as session:
        repo = DeviceRepository(session)
        await repo.touch_many({dev(0): later, dev(1): later, dev(99): later})  # 99: unknown
        await repo.update_many(
            {dev(0): {"name": "gate", "model": "X1"}, dev(1): {"name": "hall"}, dev(2): {}}, later
        )
        await repo.set_channel_counts({dev(0): 4, dev(2): 1}, later)
    async with db.session() as session:
        repo = DeviceRepository(session)
        zero, one, two = [await repo.get(dev(n)) for n in range(3)]
        counts = await repo.channel_counts([dev(0), dev(1), dev(2), dev(99)])
    assert zero is not None and one is not None and two is not None
    assert (zero.last_seen, one.last_seen, two.last_seen) == (later, later, T0)
    assert (zero.name, zero.model, one.name, one.model) == ("gate", "X1", "hall", "")
    assert counts == {dev(0): 4, dev(1): 0, dev(2): 1}


def channel(n: int, device: int) -> Channel:
    return Channel(id=f"3402000000131{n:07d}", device_id=dev(device), updated_at=T0, name=f"c{n}")


async def test_channels_by_id_by_device_counted_and_deleted(db: Database) -> None:
    await add_devices(db, make_device(dev(0)), make_device(dev(1)))
    rows = [channel(n, n % 2) for n in range(MANY)]
    async with db.session() as session:
        await ChannelRepository(session).upsert_many(rows)
    async with db.session() as session:
        repo = ChannelRepository(session)
        by_id = await repo.get_many([rows[0].id, rows[MANY - 1].id, "34020000001310009999"])
        by_device = await repo.for_devices([dev(0), dev(1), dev(2)])
        counts = await repo.count_by_device([dev(0), dev(1), dev(2)])
        removed = await repo.delete_many([r.id for r in rows if r.device_id == dev(1)])
        after = await repo.count_by_device([dev(0), dev(1)])
    assert by_id == {rows[0].id: rows[0], rows[MANY - 1].id: rows[MANY - 1]}
    assert sorted(by_device) == [dev(0), dev(1)]
    assert len(by_device[dev(0)]) == MANY // 2 and by_device[dev(0)][rows[0].id] == rows[0]
    assert counts == {dev(0): MANY // 2, dev(1): MANY // 2}
    assert removed == MANY // 2 and after == {dev(0): MANY // 2}


async def test_regions_and_groups_by_key(db: Database) -> None:
    province = Region(code="34", name="Anhui", parent_code=None)
    group = Group(id="34020000002150000001", kind=GroupKind.BUSINESS, name="roads")
    async with db.session() as session:
        repo = DirectoryRepository(session)
        await repo.save_regions([province])
        await repo.save_groups([group])
    async with db.session() as session:
        repo = DirectoryRepository(session)
        assert await repo.regions_by_code(["34", "35"]) == {"34": province}
        assert await repo.groups_by_id([group.id, "34020000002150000002"]) == {group.id: group}


async def test_set_online_many_flags_and_records_events(db: Database) -> None:
    async with db.session() as session:
        await DeviceRepository(session).register_many([reg(n) for n in range(2)])
    later = T0 + timedelta(minutes=1)
    changes = [
        (dev(0), False, "keepalive-timeout", later),
        (dev(1), True, "register", later),
        (dev(9), False, "restart", later),  # not stored: skipped
    ]
    async with db.session() as session:
        assert await DeviceRepository(session).set_online_many(changes) == 2
    async with db.session() as session:
        repo = DeviceRepository(session)
        zero, one = await repo.get(dev(0)), await repo.get(dev(1))
        history = await EventRepository(session).status_events(dev(0))
    assert zero is not None and not zero.online and zero.last_seen == T0
    assert one is not None and one.online and one.last_seen == later
    assert [(e.online, e.reason) for e in history] == [
        (True, "register"),
        (False, "keepalive-timeout"),
    ]
