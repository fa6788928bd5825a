"""Platform recording: plans, group retention and the segment index.

``RecordingRepository`` works inside a caller's session like the other repositories;
``RecordingStore`` opens one session per call and is what ``sightline.media.recording`` is given
as its ``SegmentIndex`` and ``PlanStore`` (it satisfies both protocols structurally, so neither
layer imports the other).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.db import Database
from sightline.store.models import ChannelRow
from sightline.store.models.recording import (
    RecordingGroupRetentionRow,
    RecordingPlanRow,
    RecordingSegmentRow,
)
from sightline.store.repositories._sql import fetch_all, fetch_one, table, upsert

__all__ = [
    "RecordingRepository",
    "RecordingStore",
    "StoredPlan",
    "StoredSegment",
    "recording_store",
]

PLANS = table(RecordingPlanRow)
GROUPS = table(RecordingGroupRetentionRow)
SEGMENTS = table(RecordingSegmentRow)
CHANNELS = table(ChannelRow)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredSegment:
    """One index row."""

    id: int
    channel_id: str
    start: datetime
    end: datetime
    path: str
    size_bytes: int
    codec: str
    kind: str


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """One channel's stored plan (``plan`` is the recorder's JSON)."""

    channel_id: str
    mode: str
    plan: dict[str, Any]
    retention_days: int | None
    updated_by: str | None
    updated_at: datetime


class NewSegment(Protocol):
    """What an inserted segment must tell (``media.recording.ClosedSegment`` does)."""

    @property
    def channel_id(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def path(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def codec(self) -> str: ...
    @property
    def kind(self) -> str: ...


class RecordingRepository:
    """Reads and writes the recording tables inside one session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def plans(self) -> list[StoredPlan]:
        """Every plan, by channel."""
        return await fetch_all(
            self._session, select(PLANS).order_by(PLANS.c.channel_id), StoredPlan
        )

    async def plan(self, channel_id: str) -> StoredPlan | None:
        """One channel's plan."""
        stmt = select(PLANS).where(PLANS.c.channel_id == channel_id)
        return await fetch_one(self._session, stmt, StoredPlan)

    async def save_plan(self, plan: StoredPlan) -> None:
        """Create or replace a plan."""
        values = {
            "channel_id": plan.channel_id,
            "mode": plan.mode,
            "plan": dict(plan.plan),
            "retention_days": plan.retention_days,
            "updated_by": plan.updated_by,
            "updated_at": plan.updated_at,
        }
        await upsert(self._session, PLANS, [values])

    async def set_group_retention(self, group_id: str, days: int | None) -> None:
        """Set (or with None, clear) a business group's retention."""
        await self._session.execute(delete(GROUPS).where(GROUPS.c.group_id == group_id))
        if days is not None:
            await upsert(self._session, GROUPS, [{"group_id": group_id, "retention_days": days}])

    async def group_retention(self, group_id: str) -> int | None:
        """A group's retention days, if set."""
        stmt = select(GROUPS.c.retention_days).where(GROUPS.c.group_id == group_id)
        return (await self._session.execute(stmt)).scalar_one_or_none()

    async def group_retention_of_channels(self) -> dict[str, int]:
        """Channel → its business group's retention days."""
        stmt = select(CHANNELS.c.id, GROUPS.c.retention_days).join(
            GROUPS, GROUPS.c.group_id == CHANNELS.c.business_group_id
        )
        return {row[0]: row[1] for row in await self._session.execute(stmt)}

    async def add_segments(self, segments: Sequence[NewSegment]) -> None:
        """Insert index rows; a row for an existing path is replaced."""
        rows = [
            {
                "channel_id": s.channel_id,
                "start": s.start,
                "end": s.end,
                "path": s.path,
                "size_bytes": s.size_bytes,
                "codec": s.codec,
                "kind": s.kind,
            }
            for s in segments
        ]
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            paths = [r["path"] for r in chunk]
            await self._session.execute(delete(SEGMENTS).where(SEGMENTS.c.path.in_(paths)))
            await self._session.execute(SEGMENTS.insert(), chunk)

    async def segments_between(
        self, channel_id: str, start: datetime, end: datetime
    ) -> list[StoredSegment]:
        """Segments of a channel overlapping [start, end), oldest first."""
        stmt = (
            select(SEGMENTS)
            .where(SEGMENTS.c.channel_id == channel_id)
            .where(SEGMENTS.c.start < end)
            .where(SEGMENTS.c.end > start)
            .order_by(SEGMENTS.c.start)
        )
        return await fetch_all(self._session, stmt, StoredSegment)

    async def all_paths(self) -> set[str]:
        """Every indexed path."""
        return set((await self._session.execute(select(SEGMENTS.c.path))).scalars())

    async def delete_paths(self, paths: Sequence[str]) -> None:
        """Remove the rows of these paths."""
        for i in range(0, len(paths), _CHUNK):
            chunk = list(paths[i : i + _CHUNK])
            await self._session.execute(delete(SEGMENTS).where(SEGMENTS.c.path.in_(chunk)))

    async def oldest(
        self, limit: int, *, channel_id: str | None = None, ending_before: datetime | None = None
    ) -> list[StoredSegment]:
        """The oldest segments by start, optionally of one channel / ended before a time."""
        stmt = select(SEGMENTS).order_by(SEGMENTS.c.start, SEGMENTS.c.id).limit(limit)
        if channel_id is not None:
            stmt = stmt.where(SEGMENTS.c.channel_id == channel_id)
        if ending_before is not None:
            stmt = stmt.where(SEGMENTS.c.end <= ending_before)
        return await fetch_all(self._session, stmt, StoredSegment)

    async def total_bytes(self) -> int:
        """The size of every indexed segment."""
        stmt = select(func.coalesce(func.sum(SEGMENTS.c.size_bytes), 0))
        return int((await self._session.execute(stmt)).scalar_one())

    async def recorded_channels(self) -> list[str]:
        """Channels with at least one segment."""
        stmt = select(SEGMENTS.c.channel_id).distinct().order_by(SEGMENTS.c.channel_id)
        return list((await self._session.execute(stmt)).scalars())


class RecordingStore:
    """One session per call over :class:`RecordingRepository` (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def load_plans(self) -> list[StoredPlan]:
        """Every plan."""
        async with self._db.session() as s:
            return await RecordingRepository(s).plans()

    async def save_plan(
        self,
        channel_id: str,
        plan: Mapping[str, Any],
        retention_days: int | None,
        updated_by: str | None,
    ) -> None:
        """Create or replace a channel's plan."""
        stored = StoredPlan(
            channel_id,
            str(plan.get("mode", "off")),
            dict(plan),
            retention_days,
            updated_by,
            datetime.now(UTC),
        )
        async with self._db.session() as s:
            await RecordingRepository(s).save_plan(stored)

    async def set_group_retention(self, group_id: str, days: int | None) -> None:
        """Set or clear a group's retention."""
        async with self._db.session() as s:
            await RecordingRepository(s).set_group_retention(group_id, days)

    async def group_retention(self, group_id: str) -> int | None:
        """A group's retention days, if set."""
        async with self._db.session() as s:
            return await RecordingRepository(s).group_retention(group_id)

    async def group_retention_of_channels(self) -> dict[str, int]:
        """Channel → its business group's retention days."""
        async with self._db.session() as s:
            return await RecordingRepository(s).group_retention_of_channels()

    async def add_segments(self, segments: Sequence[NewSegment]) -> None:
        """Insert index rows."""
        if segments:
            async with self._db.session() as s:
                await RecordingRepository(s).add_segments(segments)

    async def segments_between(
        self, channel_id: str, start: datetime, end: datetime
    ) -> list[StoredSegment]:
        """Segments of a channel overlapping [start, end)."""
        async with self._db.session() as s:
            return await RecordingRepository(s).segments_between(channel_id, start, end)

    async def all_paths(self) -> set[str]:
        """Every indexed path."""
        async with self._db.session() as s:
            return await RecordingRepository(s).all_paths()

    async def delete_paths(self, paths: Sequence[str]) -> None:
        """Remove rows by path."""
        if paths:
            async with self._db.session() as s:
                await RecordingRepository(s).delete_paths(paths)

    async def oldest(
        self, limit: int, *, channel_id: str | None = None, ending_before: datetime | None = None
    ) -> list[StoredSegment]:
        """The oldest segments."""
        async with self._db.session() as s:
            return await RecordingRepository(s).oldest(
                limit, channel_id=channel_id, ending_before=ending_before
            )

    async def total_bytes(self) -> int:
        """Bytes of every indexed segment."""
        async with self._db.session() as s:
            return await RecordingRepository(s).total_bytes()

    async def recorded_channels(self) -> list[str]:
        """Channels with segments."""
        async with self._db.session() as s:
            return await RecordingRepository(s).recorded_channels()


def recording_store(database: Database) -> RecordingStore:
    """The store the recording service and the API use."""
    return RecordingStore(database)
