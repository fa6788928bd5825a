"""Devices and their online state.

Methods take and return ``sightline.store.records.Device`` (frozen); to change a device, read
it, ``dataclasses.replace`` it and ``save`` it in the same session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.errors import NotFoundError
from sightline.store.models import DeviceRow, DeviceStatusEventRow
from sightline.store.records import Device, GbVersion, Transport
from sightline.store.repositories._sql import (
    affected,
    fetch_all,
    fetch_one,
    record_values,
    table,
    upsert,
)

__all__ = ["DeviceRegistration", "DeviceRepository"]

DEVICES = table(DeviceRow)
EVENTS = table(DeviceStatusEventRow)
# Keeps each ``IN (..)`` far below SQLite's and asyncpg's 32,767 bound parameters.
CHUNK = 500

# One executemany UPDATE for many keepalives: per-row statements cost ~0.7 ms each on SQLite (a
# thread hop per statement). Rows of devices not stored (yet) simply match nothing.
_TOUCH = (
    update(DEVICES).where(DEVICES.c.id == bindparam("b_id")).values(last_seen=bindparam("b_seen"))
)
_ONLINE = (
    update(DEVICES)
    .where(DEVICES.c.id == bindparam("b_id"))
    .values(online=bindparam("b_online"), updated_at=bindparam("b_at"))
)
_SEEN = update(DEVICES).where(DEVICES.c.id == bindparam("b_id")).values(last_seen=bindparam("b_at"))
_COUNT = (
    update(DEVICES)
    .where(DEVICES.c.id == bindparam("b_id"))
    .values(channel_count=bindparam("b_count"), updated_at=bindparam("b_at"))
)


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """What a successful REGISTER stores about a device."""

    device_id: str
    transport: Transport
    gb_version: GbVersion
    remote_host: str
    remote_port: int
    contact: str
    expires_s: int
    at: datetime


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    unique = sorted(set(ids))
    for start in range(0, len(unique), CHUNK):
        yield unique[start : start + CHUNK]


def _registration_values(reg: DeviceRegistration, key: str = "id") -> dict[str, Any]:
    return {
        key: reg.device_id,
        "transport": reg.transport,
        "gb_version": reg.gb_version,
        "remote_host": reg.remote_host,
        "remote_port": reg.remote_port,
        "contact": reg.contact,
        "expires_s": reg.expires_s,
        "registered_at": reg.at,
        "last_seen": reg.at,
        "online": True,
        "updated_at": reg.at,
    }


def _new_device_row(reg: DeviceRegistration) -> dict[str, Any]:
    device = Device(id=reg.device_id, created_at=reg.at, updated_at=reg.at)
    row: dict[str, Any] = {f.name: getattr(device, f.name) for f in fields(device)}
    row.update(_registration_values(reg))
    return row


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

    async def set_online_many(self, changes: Sequence[tuple[str, bool, str, datetime]]) -> int:
        """Record many ``(device_id, online, reason, at)`` transitions; how many were stored.

        Like :meth:`set_online` without the read-back: two executemany statements per
        ``CHUNK``; transitions of devices not stored are skipped. A device appears at most once.
        """
        stored = 0
        for start in range(0, len(changes), CHUNK):
            chunk = changes[start : start + CHUNK]
            ids = [device_id for device_id, *_ in chunk]
            found = await self._session.execute(select(DEVICES.c.id).where(DEVICES.c.id.in_(ids)))
            known = set(found.scalars())
            rows = [c for c in chunk if c[0] in known]
            if not rows:
                continue
            flags = [{"b_id": d, "b_online": o, "b_at": at} for d, o, _, at in rows]
            await self._session.execute(_ONLINE, flags)
            seen = [{"b_id": d, "b_at": at} for d, o, _, at in rows if o]
            if seen:
                await self._session.execute(_SEEN, seen)
            events = [{"device_id": d, "online": o, "reason": r, "at": at} for d, o, r, at in rows]
            await self._session.execute(insert(EVENTS), events)
            stored += len(rows)
        return stored

    async def touch(self, device_id: str, at: datetime) -> None:
        """Refresh ``last_seen`` on a keepalive; cheaper than a read-modify-save."""
        stmt = update(DEVICES).where(DEVICES.c.id == device_id).values(last_seen=at)
        if await affected(self._session, stmt) == 0:
            raise NotFoundError("device", device_id)

    async def register_many(self, regs: Sequence[DeviceRegistration]) -> None:
        """Store registrations: insert new devices, update known ones, record each online.

        A few statements per ``CHUNK`` devices instead of several per device; a device must
        appear at most once in ``regs``.
        """
        for start in range(0, len(regs), CHUNK):
            await self._register_chunk(regs[start : start + CHUNK])

    async def _register_chunk(self, regs: Sequence[DeviceRegistration]) -> None:
        ids = [r.device_id for r in regs]
        found = await self._session.execute(select(DEVICES.c.id).where(DEVICES.c.id.in_(ids)))
        known = set(found.scalars())
        new = [_new_device_row(r) for r in regs if r.device_id not in known]
        if new:
            await self._session.execute(insert(DEVICES), new)
        old = [_registration_values(r, key="b_id") for r in regs if r.device_id in known]
        if old:
            columns: dict[str, Any] = {n: bindparam(n) for n in old[0] if n != "b_id"}
            stmt = update(DEVICES).where(DEVICES.c.id == bindparam("b_id")).values(columns)
            await self._session.execute(stmt, old)
        events = [
            {"device_id": r.device_id, "online": True, "reason": "register", "at": r.at}
            for r in regs
        ]
        await self._session.execute(insert(EVENTS), events)

    async def touch_many(self, seen: Mapping[str, datetime]) -> None:
        """Refresh ``last_seen`` of many devices in one statement; unknown IDs are skipped."""
        if seen:
            rows = [{"b_id": device_id, "b_seen": at} for device_id, at in seen.items()]
            await self._session.execute(_TOUCH, rows)

    async def channel_counts(self, device_ids: Iterable[str]) -> dict[str, int]:
        """The stored ``channel_count`` of each of ``device_ids`` that exists."""
        counts: dict[str, int] = {}
        for chunk in _chunks(device_ids):
            stmt = select(DEVICES.c.id, DEVICES.c.channel_count).where(DEVICES.c.id.in_(chunk))
            counts.update((row.id, row.channel_count) for row in await self._session.execute(stmt))
        return counts

    async def set_channel_counts(self, counts: Mapping[str, int], at: datetime) -> None:
        """Set ``channel_count`` (and ``updated_at``) of many devices in one statement."""
        if counts:
            rows = [{"b_id": d, "b_count": n, "b_at": at} for d, n in counts.items()]
            await self._session.execute(_COUNT, rows)

    async def update_many(self, changes: Mapping[str, Mapping[str, Any]], at: datetime) -> None:
        """Set some columns of many devices (``updated_at`` = ``at``); unknown IDs are skipped.

        Devices changing the same columns share one executemany UPDATE.
        """
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for device_id, values in changes.items():
            if values:
                row = {f"b_{k}": v for k, v in values.items()}
                row["b_id"], row["b_updated_at"] = device_id, at
                by_columns.setdefault(tuple(sorted(values)), []).append(row)
        for columns, rows in by_columns.items():
            names = {*columns, "updated_at"}
            stmt = (
                update(DEVICES)
                .where(DEVICES.c.id == bindparam("b_id"))
                .values({name: bindparam(f"b_{name}") for name in names})
            )
            await self._session.execute(stmt, rows)

    async def delete(self, device_id: str) -> bool:
        """Remove the device, its channels and its status events; False if it did not exist."""
        stmt = delete(DEVICES).where(DEVICES.c.id == device_id)
        return await affected(self._session, stmt) > 0
