"""Devices and their online state.

Methods take and return ``sightline.store.records.Device`` (frozen); to change a device, read
it, ``dataclasses.replace`` it and ``save`` it in the same session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.errors import NotFoundError
from sightline.store.models import DeviceRow, DeviceStatusEventRow
from sightline.store.records import Device
from sightline.store.repositories._sql import (
    affected,
    fetch_all,
    fetch_one,
    record_values,
    table,
    upsert,
)

__all__ = ["DeviceRepository"]

DEVICES = table(DeviceRow)
EVENTS = table(DeviceStatusEventRow)


class DeviceRepository:
    """Reads and writes ``devices`` (and ``device_status_events`` on state changes)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, device_id: str) -> Device | None:
        """The device with ``device_id``, or ``None``."""
        stmt = select(DEVICES).where(DEVICES.c.id == device_id)
        return await fetch_one(self._session, stmt, Device)

    async def save(self, device: Device) -> Device:
        """Insert or update ``device``; an existing row keeps its ``created_at``."""
        await upsert(self._session, DEVICES, [record_values(device)], keep=["created_at"])
        saved = await self.get(device.id)
        assert saved is not None  # written just above, in this transaction
        return saved

    async def list(
        self, online: bool | None = None, limit: int = 100, offset: int = 0
    ) -> Sequence[Device]:
        """Devices ordered by ID, optionally only the online (or offline) ones."""
        stmt = select(DEVICES).order_by(DEVICES.c.id).limit(limit).offset(offset)
        if online is not None:
            stmt = stmt.where(DEVICES.c.online.is_(online))
        return await fetch_all(self._session, stmt, Device)

    async def count(self, online: bool | None = None) -> int:
        """How many devices there are (online, offline or all)."""
        stmt = select(func.count()).select_from(DEVICES)
        if online is not None:
            stmt = stmt.where(DEVICES.c.online.is_(online))
        return (await self._session.scalar(stmt)) or 0

    async def set_online(self, device_id: str, online: bool, reason: str, at: datetime) -> bool:
        """Record that the device went online/offline at ``at``; True if its state changed.

        The event row is written every time (a re-register is a fact worth keeping); going
        online also refreshes ``last_seen``.
        """
        # FOR UPDATE (PostgreSQL) serialises two nodes flipping the same device.
        stmt = select(DEVICES.c.online).where(DEVICES.c.id == device_id).with_for_update()
        was_online = (await self._session.execute(stmt)).scalar_one_or_none()
        if was_online is None:
            raise NotFoundError("device", device_id)
        values: dict[str, object] = {"online": online, "updated_at": at}
        if online:
            values["last_seen"] = at
        await self._session.execute(update(DEVICES).where(DEVICES.c.id == device_id).values(values))
        await self._session.execute(
            insert(EVENTS).values(device_id=device_id, online=online, reason=reason, at=at)
        )
        return bool(was_online) != online

    async def touch(self, device_id: str, at: datetime) -> None:
        """Refresh ``last_seen`` on a keepalive; cheaper than a read-modify-save."""
        stmt = update(DEVICES).where(DEVICES.c.id == device_id).values(last_seen=at)
        if await affected(self._session, stmt) == 0:
            raise NotFoundError("device", device_id)

    async def delete(self, device_id: str) -> bool:
        """Remove the device, its channels and its status events; False if it did not exist."""
        stmt = delete(DEVICES).where(DEVICES.c.id == device_id)
        return await affected(self._session, stmt) > 0
