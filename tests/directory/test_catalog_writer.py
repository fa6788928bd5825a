"""CatalogWriter: many devices' catalogs in one transaction, unchanged rows left alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from sightline.directory.catalog_writer import CatalogWriter, JobKind, catalog_digest
from sightline.gb28181.errors import UnknownDeviceError
from sightline.gb28181.manscdp import CatalogEvent, CatalogItem
from sightline.store import Channel, ChannelRepository, Database, DeviceRepository
from tests.store.conftest import add_devices, make_device

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FLEET = 200


class Wall:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> None:
        self.now += timedelta(seconds=1)


def device_id(n: int) -> str:
    return f"3402000000132{n:07d}"


def channel_id(n: int, c: int = 0) -> str:
    return f"3402000000131{n * 10 + c:07d}"


def camera(
    n: int, c: int = 0, name: str = "cam", event: CatalogEvent | None = None, status: str = "ON"
) -> CatalogItem:
    return CatalogItem(
        device_id=channel_id(n, c),
        name=f"{name} {n}/{c}",
        parent_id=device_id(n),
        event=event,
        status=status,
    )


async def channels_of(db: Database, n: int) -> dict[str, Channel]:
    async with db.session() as session:
        found = await ChannelRepository(session).for_devices([device_id(n)])
    return dict(found.get(device_id(n), {}))


async def test_a_fleet_is_written_in_a_few_batches(db: Database) -> None:
    await add_devices(db, *(make_device(device_id(n)) for n in range(FLEET)))
    writer = CatalogWriter(db, Wall())
    counts = await asyncio.gather(
        *(
            writer.submit(device_id(n), JobKind.COMPLETE, [camera(n, 0), camera(n, 1)])
            for n in range(FLEET)
        )
    )
    assert counts == [2] * FLEET
    # the first job is written alone; all the others wait for it and go together
    assert writer.batches <= 3
    async with db.session() as session:
        assert await ChannelRepository(session).count() == 2 * FLEET
        stored = await DeviceRepository(session).channel_counts(device_id(n) for n in range(FLEET))
    assert set(stored.values()) == {2}


async def test_unchanged_catalogs_and_notifies_write_nothing(db: Database) -> None:
    await add_devices(db, make_device(device_id(1)))
    wall = Wall()
    writer = CatalogWriter(db, wall)
    items = [camera(1, 0), camera(1, 1, status="ON")]
    assert await writer.submit(device_id(1), JobKind.COMPLETE, items) == 2
    before = await channels_of(db, 1)
    wall.tick()
    assert await writer.submit(device_id(1), JobKind.COMPLETE, items) == 2
    assert writer.skipped == 1
    # the NOTIFY ADD a device sends after SUBSCRIBE: the same channels
    added = [camera(1, 0, event=CatalogEvent.ADD), camera(1, 1, event=CatalogEvent.ADD)]
    await writer.submit(device_id(1), JobKind.EVENTS, added)
    assert await channels_of(db, 1) == before  # updated_at untouched: nothing was written
    # a real change is written, and the next identical catalog is compared again
    renamed = [camera(1, 0, name="gate", event=CatalogEvent.UPDATE)]
    await writer.submit(device_id(1), JobKind.EVENTS, renamed)
    after = await channels_of(db, 1)
    assert after[channel_id(1, 0)].name == "gate 1/0"
    assert after[channel_id(1, 0)].updated_at == wall.now
    assert after[channel_id(1, 1)] == before[channel_id(1, 1)]
    assert await writer.submit(device_id(1), JobKind.COMPLETE, items) == 2
    assert (await channels_of(db, 1))[channel_id(1, 0)].name == "cam 1/0"


async def test_a_device_recreated_meanwhile_gets_its_channels_again(db: Database) -> None:
    await add_devices(db, make_device(device_id(2)))
    writer = CatalogWriter(db, Wall())
    items = [camera(2, 0)]
    assert await writer.submit(device_id(2), JobKind.COMPLETE, items) == 1
    async with db.session() as session:
        assert await DeviceRepository(session).delete(device_id(2))
    await add_devices(db, make_device(device_id(2)))
    # same digest as before, but the stored channels no longer match what was remembered
    assert await writer.submit(device_id(2), JobKind.COMPLETE, items) == 1
    assert list(await channels_of(db, 2)) == [channel_id(2, 0)]


async def test_an_unknown_device_fails_alone(db: Database) -> None:
    await add_devices(db, make_device(device_id(3)), make_device(device_id(5)))
    writer = CatalogWriter(db, Wall())
    results = await asyncio.gather(
        *(writer.submit(device_id(n), JobKind.COMPLETE, [camera(n)]) for n in (3, 4, 5)),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], UnknownDeviceError)
    assert list(await channels_of(db, 5)) == [channel_id(5, 0)]


async def test_jobs_of_one_device_apply_in_order(db: Database) -> None:
    await add_devices(db, make_device(device_id(6)))
    writer = CatalogWriter(db, Wall())
    full = [camera(6, 0), camera(6, 1), camera(6, 2)]
    gone = [camera(6, 1, event=CatalogEvent.DEL)]
    off = [camera(6, 2, event=CatalogEvent.OFF)]
    results = await asyncio.gather(
        writer.submit(device_id(6), JobKind.COMPLETE, full),
        writer.submit(device_id(6), JobKind.EVENTS, gone),
        writer.submit(device_id(6), JobKind.EVENTS, off),
        writer.submit(device_id(6), JobKind.PARTIAL, [camera(6, 3)]),
    )
    assert list(results) == [3, 2, 2, 3]
    stored = await channels_of(db, 6)
    assert sorted(stored) == [channel_id(6, c) for c in (0, 2, 3)]
    assert stored[channel_id(6, 2)].status == "OFF"
    # and the complete catalog replaces the set again (channel 3 is not in it)
    assert await writer.submit(device_id(6), JobKind.COMPLETE, full) == 3


def test_digest_follows_the_items() -> None:
    assert catalog_digest([camera(1)]) == catalog_digest([camera(1)])
    assert catalog_digest([camera(1)]) != catalog_digest([camera(1, name="other")])


@pytest.mark.parametrize("kind", [JobKind.COMPLETE, JobKind.PARTIAL])
async def test_an_empty_answer_is_fine(db: Database, kind: JobKind) -> None:
    await add_devices(db, make_device(device_id(7)))
    assert await CatalogWriter(db, Wall()).submit(device_id(7), kind, []) == 0


_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON channels WHEN NEW.id = '{id}' "
        "BEGIN SELECT RAISE(ABORT, 'refused channel'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.id = '{id}' THEN "
        "RAISE EXCEPTION 'refused channel'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE INSERT ON channels FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}
_UNDO = {
    "sqlite": ["DROP TRIGGER refuse"],
    "postgresql": ["DROP TRIGGER refuse ON channels", "DROP FUNCTION refuse()"],
}


async def test_a_device_the_database_refuses_fails_alone(db: Database, backend: str) -> None:
    fleet = range(10, 26)
    await add_devices(db, *(make_device(device_id(n)) for n in fleet))
    async with db.engine.begin() as conn:  # a real database error for one device's channel
        for statement in _TRIGGERS[backend]:
            await conn.execute(text(statement.format(id=channel_id(17))))
    try:
        writer = CatalogWriter(db, Wall())
        results = await asyncio.gather(
            *(writer.submit(device_id(n), JobKind.COMPLETE, [camera(n)]) for n in fleet),
            return_exceptions=True,
        )
    finally:
        async with db.engine.begin() as conn:
            for statement in _UNDO[backend]:
                await conn.execute(text(statement))
    failed = [n for n, r in zip(fleet, results, strict=True) if isinstance(r, Exception)]
    assert failed == [17]
    assert all(r == 1 for n, r in zip(fleet, results, strict=True) if n != 17)
    assert await channels_of(db, 17) == {}
    assert list(await channels_of(db, 25)) == [channel_id(25)]
