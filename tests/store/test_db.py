"""Database: connection settings, the session unit of work, error translation, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from sightline.store import (
    Channel,
    ChannelRepository,
    Database,
    DeviceRepository,
    EventRepository,
    StoreError,
    default_sqlite_url,
)
from sightline.store.models import UtcDateTime
from tests.store.conftest import T0, add_devices, make_device, sqlite_url

CST = timezone(timedelta(hours=8), "CST")


def test_default_sqlite_url_is_absolute_file_in_data_dir(tmp_path: Path) -> None:
    assert default_sqlite_url(tmp_path) == f"sqlite+aiosqlite:///{tmp_path}/sightline.db"
    relative = default_sqlite_url(Path("data"))
    assert relative == f"sqlite+aiosqlite:///{Path.cwd() / 'data'}/sightline.db"


async def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    db = await Database.connect(sqlite_url(tmp_path / "x.db"))
    try:
        async with db.engine.connect() as conn:
            pragmas = [
                (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
    finally:
        await db.close()
    assert pragmas == ["wal", 1, 5000]
    assert db.dialect_name == "sqlite"


async def test_connect_to_missing_directory_names_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="nowhere"):
        await Database.connect(sqlite_url(tmp_path / "nowhere" / "x.db"))


async def test_connect_to_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=r"cannot connect to .*127\.0\.0\.1:9"):
        await Database.connect("postgresql+asyncpg://postgres:secret@127.0.0.1:9/none")


async def test_session_commits_on_normal_exit(db: Database) -> None:
    await add_devices(db, make_device())
    async with db.session() as session:
        assert await DeviceRepository(session).get("34020000001320000001") is not None


async def test_session_rolls_back_on_exception(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.session() as session:
            await DeviceRepository(session).save(make_device())
            raise RuntimeError("boom")
    async with db.session() as session:
        assert await DeviceRepository(session).count() == 0


async def test_driver_errors_become_store_errors_without_parameters(db: Database) -> None:
    orphan = Channel(id="34020000001310000001", device_id="34020000001320000009", updated_at=T0)
    secret = "ha1-that-must-not-be-logged"
    with pytest.raises(StoreError) as caught:
        async with db.session() as session:
            await DeviceRepository(session).save(make_device(password_ha1=secret))
            await ChannelRepository(session).upsert_many([orphan])
    assert secret not in str(caught.value)
    assert caught.value.__cause__ is not None
    async with db.session() as session:  # the device went with the failed transaction
        assert await DeviceRepository(session).count() == 0


async def test_deleting_a_device_cascades_to_channels_and_events(db: Database) -> None:
    await add_devices(db, make_device("34020000001320000001"), make_device("34020000001320000002"))
    async with db.session() as session:
        channels = ChannelRepository(session)
        for device_id in ("34020000001320000001", "34020000001320000002"):
            channel = Channel(
                id=device_id[:10] + "1310" + device_id[14:], device_id=device_id, updated_at=T0
            )
            await channels.upsert_many([channel])
            await DeviceRepository(session).set_online(device_id, True, "register", T0)
    async with db.session() as session:
        assert await DeviceRepository(session).delete("34020000001320000001")
    async with db.session() as session:
        channels = ChannelRepository(session)
        events = EventRepository(session)
        assert await channels.count_for_device("34020000001320000001") == 0
        assert await events.status_events("34020000001320000001") == []
        assert await channels.count_for_device("34020000001320000002") == 1
        assert len(await events.status_events("34020000001320000002")) == 1


async def test_aware_times_come_back_as_the_same_instant_in_utc(db: Database) -> None:
    local = datetime(2026, 3, 1, 16, 30, 15, 123456, tzinfo=CST)
    await add_devices(db, make_device(registered_at=local, created_at=local, updated_at=local))
    async with db.session() as session:
        device = await DeviceRepository(session).get("34020000001320000001")
    assert device is not None
    assert device.registered_at == local
    assert device.registered_at is not None and device.registered_at.tzinfo == UTC
    assert device.registered_at.hour == 8


async def test_times_in_different_zones_compare_as_instants(db: Database) -> None:
    await add_devices(db, make_device())
    async with db.session() as session:
        repo = DeviceRepository(session)
        # Same wall-clock hour: the +08:00 one is eight hours earlier.
        await repo.set_online("34020000001320000001", True, "register", T0.replace(tzinfo=CST))
        await repo.set_online("34020000001320000001", False, "expired", T0)
    async with db.session() as session:
        events = await EventRepository(session).status_events(
            "34020000001320000001", since=T0 - timedelta(hours=1)
        )
    assert [(e.reason, e.at) for e in events] == [("expired", T0)]


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StoreError, match="naive datetime"):
        async with db.session() as session:
            await DeviceRepository(session).save(make_device(last_seen=datetime(2026, 3, 1)))


async def test_raw_sql_sees_utc_storage(db: Database) -> None:
    await add_devices(db, make_device(created_at=datetime(2026, 3, 1, 9, 0, tzinfo=CST)))
    async with db.session() as session:
        stored = await session.scalar(text("SELECT created_at FROM devices"))
    # SQLite keeps naive UTC text; PostgreSQL timestamptz reports the instant.
    if db.dialect_name == "sqlite":
        assert str(stored).startswith("2026-03-01 01:00:00")
    else:
        assert stored == datetime(2026, 3, 1, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "postgresql+asyncpg://"])
@pytest.mark.parametrize("offset_min", [-720, -330, 0, 345, 480, 840])
def test_utc_type_round_trips_any_offset(url: str, offset_min: int) -> None:
    dialect = make_url(url).get_dialect()()
    column_type = UtcDateTime()
    value = datetime(
        2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(minutes=offset_min))
    )
    stored = column_type.process_bind_param(value, dialect)
    back = column_type.process_result_value(stored, dialect)
    assert back == value
    assert back is not None and back.utcoffset() == timedelta(0)
