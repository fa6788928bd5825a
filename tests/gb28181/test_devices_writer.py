"""DeviceWriter: batched registrations, ordered state changes, keepalive times, on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from sightline.gb28181.device_writer import DeviceInfoPatch, DeviceWriter, Registration
from sightline.store import (
    Database,
    DeviceRepository,
    EventRepository,
    GbVersion,
    Transport,
    default_sqlite_url,
    migrate,
)
from sightline.store.records import Device

A, B = "34020000001320000001", "34020000001320000002"
T0 = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


class Clocks:
    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = T0

    def monotonic(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return self.wall


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = default_sqlite_url(tmp_path)
    await migrate(url)
    db = await Database.connect(url)
    yield db
    await db.close()


def reg(device_id: str, at: datetime, port: int = 5060) -> Registration:
    return Registration(
        device_id=device_id,
        transport="TCP",
        gb_version=GbVersion.V2022,
        remote_host="127.0.0.9",
        remote_port=port,
        contact=f"<sip:{device_id}@127.0.0.9:{port}>",
        expires_s=3600,
        at=at,
    )


async def test_a_storm_in_one_batch_keeps_each_device_history_in_order(
    database: Database,
) -> None:
    clocks = Clocks()
    writer = DeviceWriter(database, clocks.monotonic, clocks.now)
    writer.registered(reg(A, T0))
    writer.registered(reg(B, T0))
    writer.online_state(A, False, "keepalive-timeout", T0 + timedelta(seconds=1))
    writer.registered(reg(A, T0 + timedelta(seconds=2), port=6000))
    assert writer.pending == 3  # A and B share the first batch
    await writer.flush()
    async with database.session() as session:
        a = await DeviceRepository(session).get(A)
        b = await DeviceRepository(session).get(B)
        history = await EventRepository(session).status_events(A)
    assert a is not None and b is not None
    assert (a.online, a.remote_port, a.transport, a.gb_version) == (
        True,
        6000,
        Transport.TCP,
        GbVersion.V2022,
    )
    assert a.registered_at == T0 + timedelta(seconds=2)
    assert [(e.online, e.reason) for e in history] == [
        (True, "register"),
        (False, "keepalive-timeout"),
        (True, "register"),
    ]
    assert writer.pending == 0 and writer.flushed_batches == 1


async def test_registration_of_a_known_device_keeps_its_other_fields(database: Database) -> None:
    async with database.session() as session:
        await DeviceRepository(session).save(
            Device(id=A, created_at=T0, updated_at=T0, name="东门", password_ha1="h", realm="r")
        )
    clocks = Clocks()
    writer = DeviceWriter(database, clocks.monotonic, clocks.now)
    writer.registered(reg(A, T0 + timedelta(hours=1)))
    writer.device_info(A, DeviceInfoPatch(model="X1", channel_count=4))
    await writer.flush()
    async with database.session() as session:
        a = await DeviceRepository(session).get(A)
    assert a is not None
    assert (a.name, a.password_ha1, a.realm, a.model, a.channel_count) == (
        "东门",
        "h",
        "r",
        "X1",
        4,
    )
    assert a.created_at == T0


async def test_keepalives_are_coalesced_and_converted_to_wall_time(database: Database) -> None:
    clocks = Clocks()
    writer = DeviceWriter(database, clocks.monotonic, clocks.now)
    writer.registered(reg(A, T0))
    await writer.flush()
    writer.touch(A, 110.0)
    writer.touch(A, 130.0)
    writer.touch(B, 130.0)  # never stored: ignored
    assert writer.pending == 2
    clocks.mono, clocks.wall = 140.0, T0 + timedelta(seconds=40)
    await writer.flush()
    async with database.session() as session:
        a = await DeviceRepository(session).get(A)
    assert a is not None and a.last_seen == T0 + timedelta(seconds=30)


async def test_a_moved_device_keepalive_time_goes_in_the_same_row_update(
    database: Database,
) -> None:
    clocks = Clocks()
    writer = DeviceWriter(database, clocks.monotonic, clocks.now)
    writer.registered(reg(A, T0))
    writer.registered(reg(B, T0))
    await writer.flush()
    writer.moved(A, "127.0.0.8", 6000)
    writer.touch(A, 110.0)
    writer.touch(B, 120.0)
    clocks.mono, clocks.wall = 140.0, T0 + timedelta(seconds=40)
    statements: list[str] = []
    sync_engine = database.engine.sync_engine

    def record(_conn, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        await writer.flush()
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    updates = [s for s in statements if s.startswith("UPDATE devices")]
    assert len(updates) == 2  # A's move with its time, then B's time: not three
    async with database.session() as session:
        a = await DeviceRepository(session).get(A)
        b = await DeviceRepository(session).get(B)
    assert a is not None and (a.remote_host, a.remote_port) == ("127.0.0.8", 6000)
    assert a.last_seen == T0 + timedelta(seconds=10)
    assert b is not None and b.last_seen == T0 + timedelta(seconds=20)


async def test_a_failed_batch_is_dropped_and_counted(database: Database) -> None:
    clocks = Clocks()
    writer = DeviceWriter(database, clocks.monotonic, clocks.now)
    writer.registered(reg(A, T0))
    async with database.engine.begin() as conn:  # the events table is gone: inserts fail
        await conn.execute(text("DROP TABLE device_status_events"))
    await writer.flush()
    assert writer.failed_batches == 1 and writer.pending == 0
    async with database.session() as session:
        assert await DeviceRepository(session).get(A) is None  # rolled back as a whole
