"""Channels (catalog items) of devices.

Methods take and return ``sightline.store.records.Channel`` (frozen). A catalog answer is
written with ``replace_for_device`` (the device's full list); catalog NOTIFY events use
``upsert_many``, ``set_status`` and ``delete``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.models import ChannelRow
from sightline.store.records import Channel, ChannelStatus
from sightline.store.repositories._sql import (
    affected,
    fetch_all,
    fetch_one,
    record_values,
    table,
    upsert,
)

__all__ = ["ChannelRepository"]

CHANNELS = table(ChannelRow)
# Keeps each DELETE .. IN (..) far below SQLite's and asyncpg's 32,767 bound parameters.
DELETE_CHUNK = 500

S = TypeVar("S", bound=Select[Any])


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    unique = sorted(set(ids))
    for start in range(0, len(unique), DELETE_CHUNK):
        yield unique[start : start + DELETE_CHUNK]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _in_group(group_id: str) -> ColumnElement[bool]:
    """Channel directly under ``group_id``, as business group or as one of its ``/`` parents."""
    parent = CHANNELS.c.parent_id
    pattern = _escape_like(group_id)
    return or_(
        CHANNELS.c.business_group_id == group_id,
        parent == group_id,
        parent.like(f"{pattern}/%", escape="\\"),
        parent.like(f"%/{pattern}", escape="\\"),
        parent.like(f"%/{pattern}/%", escape="\\"),
    )


def _filtered(
    stmt: S,
    device_id: str | None,
    civil_code_prefix: str | None,
    group_id: str | None,
    online: bool | None,
) -> S:
    if device_id is not None:
        stmt = stmt.where(CHANNELS.c.device_id == device_id)
    if civil_code_prefix is not None:
        prefix = _escape_like(civil_code_prefix)
        stmt = stmt.where(CHANNELS.c.civil_code.like(f"{prefix}%", escape="\\"))
    if group_id is not None:
        stmt = stmt.where(_in_group(group_id))
    if online is not None:
        status = ChannelStatus.ON if online else ChannelStatus.OFF
        stmt = stmt.where(CHANNELS.c.status == status)
    return stmt


class ChannelRepository:
    """Reads and writes ``channels``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, channel_id: str) -> Channel | None:
        """The channel with ``channel_id``, or ``None``."""
        stmt = select(CHANNELS).where(CHANNELS.c.id == channel_id)
        return await fetch_one(self._session, stmt, Channel)

    async def upsert_many(self, channels: Sequence[Channel]) -> None:
        """Insert or update each channel (by ID) in one statement."""
        await upsert(self._session, CHANNELS, [record_values(c) for c in channels])

    async def replace_for_device(self, device_id: str, channels: Sequence[Channel]) -> None:
        """Make ``channels`` the complete channel list of ``device_id``.

        Channels the device no longer reports are deleted; the others are upserted. A lower
        platform's catalog can hold tens of thousands of channels, hence the chunked delete.
        """
        strays = [c.id for c in channels if c.device_id != device_id]
        if strays:
            raise ValueError(f"channels {strays} do not belong to device {device_id}")
        existing = await self._session.scalars(
            select(CHANNELS.c.id).where(CHANNELS.c.device_id == device_id)
        )
        gone = sorted(set(existing) - {c.id for c in channels})
        for start in range(0, len(gone), DELETE_CHUNK):
            chunk = gone[start : start + DELETE_CHUNK]
            await self._session.execute(delete(CHANNELS).where(CHANNELS.c.id.in_(chunk)))
        await self.upsert_many(channels)

    async def get_many(self, channel_ids: Iterable[str]) -> dict[str, Channel]:
        """The stored channels among ``channel_ids``, by ID."""
        found: dict[str, Channel] = {}
        for chunk in _chunks(channel_ids):
            stmt = select(CHANNELS).where(CHANNELS.c.id.in_(chunk))
            found.update((c.id, c) for c in await fetch_all(self._session, stmt, Channel))
        return found

    async def for_devices(self, device_ids: Iterable[str]) -> dict[str, dict[str, Channel]]:
        """Every channel of each of ``device_ids``: device ID → channel ID → channel."""
        found: dict[str, dict[str, Channel]] = {}
        for chunk in _chunks(device_ids):
            stmt = select(CHANNELS).where(CHANNELS.c.device_id.in_(chunk))
            for channel in await fetch_all(self._session, stmt, Channel):
                found.setdefault(channel.device_id, {})[channel.id] = channel
        return found

    async def count_by_device(self, device_ids: Iterable[str]) -> dict[str, int]:
        """How many channels each of ``device_ids`` has (devices without any are left out)."""
        counts: dict[str, int] = {}
        device = CHANNELS.c.device_id
        for chunk in _chunks(device_ids):
            stmt = select(device, func.count()).where(device.in_(chunk)).group_by(device)
            counts.update((row[0], row[1]) for row in await self._session.execute(stmt))
        return counts

    async def delete_many(self, channel_ids: Iterable[str]) -> int:
        """Remove channels by ID; how many existed."""
        removed = 0
        for chunk in _chunks(channel_ids):
            removed += await affected(
                self._session, delete(CHANNELS).where(CHANNELS.c.id.in_(chunk))
            )
        return removed

    async def list(
        self,
        *,
        device_id: str | None = None,
        civil_code_prefix: str | None = None,
        group_id: str | None = None,
        online: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Channel]:
        """Channels ordered by ID matching every filter given.

        ``civil_code_prefix`` selects a region and its sub-regions; ``group_id`` the channels
        directly in a business group or virtual organisation; ``online`` the catalog status.
        """
        stmt = select(CHANNELS).order_by(CHANNELS.c.id).limit(limit).offset(offset)
        stmt = _filtered(stmt, device_id, civil_code_prefix, group_id, online)
        return await fetch_all(self._session, stmt, Channel)

    async def count(
        self,
        *,
        device_id: str | None = None,
        civil_code_prefix: str | None = None,
        group_id: str | None = None,
        online: bool | None = None,
    ) -> int:
        """How many channels ``list`` would return without paging."""
        stmt = select(func.count()).select_from(CHANNELS)
        stmt = _filtered(stmt, device_id, civil_code_prefix, group_id, online)
        return (await self._session.scalar(stmt)) or 0

    async def count_for_device(self, device_id: str) -> int:
        """How many channels ``device_id`` has."""
        return await self.count(device_id=device_id)

    async def set_status(self, channel_id: str, status: ChannelStatus, at: datetime) -> bool:
        """Set the catalog status (catalog NOTIFY ON/OFF); False if the channel is unknown."""
        stmt = (
            update(CHANNELS).where(CHANNELS.c.id == channel_id).values(status=status, updated_at=at)
        )
        return await affected(self._session, stmt) > 0

    async def delete(self, channel_id: str) -> bool:
        """Remove one channel (catalog NOTIFY DEL); False if it did not exist."""
        stmt = delete(CHANNELS).where(CHANNELS.c.id == channel_id)
        return await affected(self._session, stmt) > 0
