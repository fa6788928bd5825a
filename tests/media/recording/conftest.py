"""Fixtures for platform recording: real encoded H.264, a migrated SQLite index, a fake clock."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.store import Database
from sightline.store.repositories.recording import RecordingStore
from tests.media.video import encode_pattern
from tests.store.conftest import sqlite_migrated, sqlite_url

__all__ = ["T0", "WallClock", "h264_units", "sqlite_migrated", "store"]

T0 = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
FRAME_90K = 3600


def h264_units(
    seconds: float, *, gop: int = 25, fps: int = 25, first_dts: int = 90000
) -> list[AccessUnit]:
    """``seconds`` of real 320x180 H.264 (key frame every ``gop`` frames) as access units."""
    frames = encode_pattern("libx264", round(seconds * fps), width=320, height=180, gop=gop)
    step = 90000 // fps
    return [
        AccessUnit(
            Codec.H264,
            0xE0,
            first_dts + i * step,
            first_dts + i * step,
            f.data,
            f.keyframe,
        )
        for i, f in enumerate(frames)
    ]


class WallClock:
    """A settable wall clock (aware UTC datetimes)."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock on."""
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def store(sqlite_migrated: Path, tmp_path: Path) -> AsyncIterator[RecordingStore]:
    """The real recording index on a fresh migrated SQLite database."""
    path = tmp_path / "sightline.db"
    shutil.copyfile(sqlite_migrated, path)
    database = await Database.connect(sqlite_url(path))
    yield RecordingStore(database)
    await database.close()
