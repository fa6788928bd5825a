"""Background batch writers take turns on SQLite (``Database.write_session``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store import Database, StoreError, migrate
from sightline.store import db as store_db
from tests.store.conftest import sqlite_url

Opener = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def _long_batch(open_session: Opener, region: str, written: asyncio.Event) -> None:
    """A batch like the writers': it writes, then keeps its transaction open for a while."""
    async with open_session() as session:
        await session.execute(
            text("INSERT INTO regions (code, name) VALUES (:c, :c)"), {"c": region}
        )
        written.set()
        await asyncio.sleep(0.6)  # longer than the busy timeout below: a starved host


async def _two_batches(db: Database, use_turns: bool) -> list[BaseException | None]:
    opener: Opener = db.write_session if use_turns else db.session
    first_wrote = asyncio.Event()
    first = asyncio.create_task(_long_batch(opener, "11", first_wrote))
    await first_wrote.wait()
    second = asyncio.create_task(_long_batch(opener, "12", asyncio.Event()))
    results = await asyncio.gather(first, second, return_exceptions=True)
    return [r if isinstance(r, BaseException) else None for r in results]


@pytest.fixture
async def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    # SQLite gives up waiting for another writer after busy_timeout (5 s in production)
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    url = sqlite_url(tmp_path / "turns.db")
    await migrate(url)
    return await Database.connect(url)


async def test_interleaved_sqlite_batches_can_fail_with_database_locked(
    sqlite_db: Database,
) -> None:
    try:
        errors = await _two_batches(sqlite_db, use_turns=False)
    finally:
        await sqlite_db.close()
    failed = [e for e in errors if e is not None]
    assert failed and all(isinstance(e, StoreError) for e in failed), errors
    assert "locked" in str(failed[0])


async def test_write_sessions_take_turns_and_both_batches_land(sqlite_db: Database) -> None:
    try:
        assert await _two_batches(sqlite_db, use_turns=True) == [None, None]
        async with sqlite_db.session() as session:
            codes = (await session.execute(text("SELECT code FROM regions"))).scalars().all()
    finally:
        await sqlite_db.close()
    assert sorted(codes) == ["11", "12"]
