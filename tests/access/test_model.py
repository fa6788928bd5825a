"""The in-memory access model: reload after its TTL, on demand, and after catalog updates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sightline.access.model import AccessModel
from sightline.access.snapshot import AccessSnapshot
from sightline.events import CatalogUpdated, EventBus
from sightline.store import Database
from sightline.store.repositories.access import AccessRepository
from tests.access.fixtures import FakeClock


async def _add_department(db: Database, name: str) -> None:
    async with db.session() as session:
        await AccessRepository(session).create_department(name, 1, None, datetime.now(UTC))


async def test_the_snapshot_is_reloaded_after_its_ttl(sqlite_db: Database) -> None:
    clock = FakeClock()
    model = AccessModel(sqlite_db, ttl_s=5.0, clock=clock)
    first = await model.current()
    assert [d.name for d in first.departments.values()] == ["root"]
    await _add_department(sqlite_db, "transport")  # behind the model's back (another node)
    clock.now += 4.9
    assert await model.current() is first
    clock.now += 0.2
    # past the TTL the snapshot in hand still answers while a reload runs in the background
    assert await model.current() is first
    second = await model.settled()
    assert {d.name for d in second.departments.values()} == {"root", "transport"}
    assert await model.current() is second
    clock.now -= 100  # the wall clock stepped back: reload rather than trust an old snapshot
    assert await model.current() is not second


async def test_a_snapshot_past_max_stale_is_never_served(sqlite_db: Database) -> None:
    clock = FakeClock()
    model = AccessModel(sqlite_db, ttl_s=5.0, max_stale_s=30.0, clock=clock)
    first = await model.current()
    await _add_department(sqlite_db, "transport")
    clock.now += 30.0
    fresh = await model.current()  # waited for
    assert fresh is not first and len(fresh.departments) == 2


async def test_a_failed_background_reload_keeps_serving_and_is_retried(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    model = AccessModel(sqlite_db, ttl_s=5.0, clock=clock)
    first = await model.current()
    real = model._load
    calls = 0

    async def failing() -> AccessSnapshot:
        nonlocal calls
        calls += 1
        raise OSError("database is locked")

    model._load = failing  # type: ignore[method-assign]
    clock.now += 6
    assert await model.current() is first
    assert await model.settled() is first
    assert calls == 1 and "access snapshot reload failed" in caplog.text
    model._load = real  # type: ignore[method-assign]
    assert await model.current() is first  # the next call starts another reload
    assert await model.settled() is not first
    await model.close()


async def test_a_catalog_update_marks_the_snapshot_stale(sqlite_db: Database) -> None:
    model = AccessModel(sqlite_db, ttl_s=3600.0, clock=FakeClock())
    bus = EventBus()
    follower = asyncio.ensure_future(model.follow_catalogs(bus))
    await asyncio.sleep(0)
    first = await model.current()
    await _add_department(sqlite_db, "emergency")
    bus.publish(CatalogUpdated("34020000001180000001", 3))
    await asyncio.sleep(0)
    assert len((await model.current()).departments) == 2
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)
    assert first is not model.snapshot


async def test_concurrent_callers_share_one_reload(sqlite_db: Database) -> None:
    model = AccessModel(sqlite_db, clock=FakeClock())
    snapshots = await asyncio.gather(*(model.current() for _ in range(5)))
    assert len({id(s) for s in snapshots}) == 1
