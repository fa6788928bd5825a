"""A migrated SQLite database per test, shared by the access and API tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sightline.store import Database
from tests.store.conftest import sqlite_url


@pytest.fixture
async def sqlite_db(sqlite_migrated: Path, tmp_path: Path) -> AsyncIterator[Database]:
    """A connected ``Database`` on a fresh copy of the migrated SQLite file."""
    path = tmp_path / "sightline.db"
    shutil.copyfile(sqlite_migrated, path)
    database = await Database.connect(sqlite_url(path))
    yield database
    await database.close()


class FakeClock:
    """Wall-clock seconds that tests move by hand."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """An ``asyncio.sleep`` stand-in that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
