"""Write-behind persistence of device state, so the SIP path never waits on the database.

Handlers only queue: state changes (registration, online/offline, device info, alarms) go to
an ordered list, keepalive times to a dict keyed by device (so a device that sends ten
keepalives between two flushes costs one row write). One task calls :meth:`DeviceWriter.flush`
every ``store_flush_interval_s``; each flush is one transaction, state changes first, in the
order they happened, then ``last_seen`` for every device touched since the last flush.

Keepalive times are kept as monotonic seconds and turned into wall-clock times at flush, so
a keepalive costs no ``datetime`` at all. A batch that fails (database down) is logged and
dropped, counted in ``failed_batches``: the next keepalive or registration writes fresh state,
and replaying stale events later would reorder history.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store import (
    Alarm,
    Database,
    Device,
    DeviceRepository,
    EventRepository,
    GbVersion,
    NotFoundError,
    StoreError,
    Transport,
)
from sightline.store.models import DeviceRow, DeviceStatusEventRow

__all__ = ["DeviceInfoPatch", "DeviceWriter", "Registration"]

log = logging.getLogger(__name__)

Op = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class Registration:
    """What a successful REGISTER tells the store."""

    device_id: str
    transport: str
    gb_version: GbVersion
    remote_host: str
    remote_port: int
    contact: str
    expires_s: int
    at: datetime


@dataclass(frozen=True)
class DeviceInfoPatch:
    """Fields of a DeviceInfo answer (None keeps the stored value)."""

    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    channel_count: int | None = None


class DeviceWriter:
    """Queues device writes and flushes them in batches."""

    def __init__(
        self,
        database: Database,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
    ) -> None:
        self._database = database
        self._clock = clock
        self._wall_clock = wall_clock
        self._ops: list[Op] = []
        self._in_flight: list[Op] = []
        self._touched: dict[str, float] = {}
        self.flushed_batches = 0
        self.failed_batches = 0

    @property
    def pending(self) -> int:
        """Queued writes not flushed yet."""
        return len(self._ops) + len(self._touched)

    def has_pending_registration(self, device_id: str) -> bool:
        """True while the device's row may not exist yet: its registration is queued, or in
        a flush that has not committed."""
        return any(
            isinstance(op, _RegistrationBatch) and device_id in op.items
            for op in (*self._in_flight, *self._ops)
        )

    def touch(self, device_id: str, monotonic_at: float) -> None:
        """A keepalive: ``last_seen`` is written at the next flush."""
        self._touched[device_id] = monotonic_at

    def registered(self, reg: Registration) -> None:
        """Upsert the device with its registration data and record it online.

        Consecutive registrations share one batch (a storm of 100,000 is a few statements per
        500 devices instead of six per device); a device already in the open batch starts a
        new one, so its two events keep their order.
        """
        last = self._ops[-1] if self._ops else None
        if isinstance(last, _RegistrationBatch) and reg.device_id not in last.items:
            last.items[reg.device_id] = reg
            return
        batch = _RegistrationBatch()
        batch.items[reg.device_id] = reg
        self._ops.append(batch)

    def online_state(self, device_id: str, online: bool, reason: str, at: datetime) -> None:
        """Record an online/offline transition with its reason."""

        async def op(session: AsyncSession) -> None:
            try:
                await DeviceRepository(session).set_online(device_id, online, reason, at)
            except NotFoundError:
                log.debug("device %s vanished before its %s event was stored", device_id, reason)

        self._ops.append(op)

    def moved(self, device_id: str, host: str, port: int) -> None:
        """The device's address changed (NAT rebinding)."""
        self._patch(device_id, {"remote_host": host, "remote_port": port})

    def device_info(self, device_id: str, info: DeviceInfoPatch) -> None:
        """Store what a DeviceInfo answer said."""
        values = {k: v for k, v in vars(info).items() if v is not None}
        if values:
            self._patch(device_id, values)

    def alarm(self, alarm: Alarm) -> None:
        """Store an alarm."""

        async def op(session: AsyncSession) -> None:
            await EventRepository(session).add_alarm(alarm)

        self._ops.append(op)

    def _patch(self, device_id: str, values: dict[str, object]) -> None:
        async def op(session: AsyncSession) -> None:
            repo = DeviceRepository(session)
            device = await repo.get(device_id)
            if device is not None:
                changed = replace(device, updated_at=self._wall_clock(), **values)  # type: ignore[arg-type]
                await repo.save(changed)

        self._ops.append(op)

    async def flush(self) -> None:
        """Write everything queued in one transaction."""
        if not self._ops and not self._touched:
            return
        ops, self._ops = self._ops, []
        touched, self._touched = self._touched, {}
        wall, mono = self._wall_clock(), self._clock()
        self._in_flight = ops
        try:
            async with self._database.session() as session:
                for op in ops:
                    await op(session)
                if touched:
                    rows = [
                        {"b_id": device_id, "b_seen": wall - timedelta(seconds=mono - at)}
                        for device_id, at in touched.items()
                    ]
                    await session.execute(_TOUCH, rows)
        except StoreError:
            self.failed_batches += 1
            log.exception("dropped %d device writes and %d keepalives", len(ops), len(touched))
            return
        finally:
            self._in_flight = []
        self.flushed_batches += 1


# One executemany UPDATE for all keepalives of a flush: per-row repository calls cost ~0.7 ms
# each on SQLite (a thread hop per statement), too much at 1,700 keepalives/s. Rows of devices
# not stored (yet) simply match nothing. Candidate for a DeviceRepository.touch_many.
_DEVICES = cast(Table, DeviceRow.__table__)
_TOUCH = (
    update(_DEVICES).where(_DEVICES.c.id == bindparam("b_id")).values(last_seen=bindparam("b_seen"))
)


_EVENTS = cast(Table, DeviceStatusEventRow.__table__)
_REGISTRATION_CHUNK = 500


class _RegistrationBatch:
    """Registrations written together: insert the new devices, update the known ones."""

    def __init__(self) -> None:
        self.items: dict[str, Registration] = {}

    async def __call__(self, session: AsyncSession) -> None:
        regs = list(self.items.values())
        for start in range(0, len(regs), _REGISTRATION_CHUNK):
            await _write_registrations(session, regs[start : start + _REGISTRATION_CHUNK])


async def _write_registrations(session: AsyncSession, regs: list[Registration]) -> None:
    ids = [r.device_id for r in regs]
    found = await session.execute(select(_DEVICES.c.id).where(_DEVICES.c.id.in_(ids)))
    known = set(found.scalars())
    new = [_new_device_row(r) for r in regs if r.device_id not in known]
    if new:
        await session.execute(insert(_DEVICES), new)
    old = [_registration_values(r, key="b_id") for r in regs if r.device_id in known]
    if old:
        columns: dict[str, Any] = {name: bindparam(name) for name in old[0] if name != "b_id"}
        stmt = update(_DEVICES).where(_DEVICES.c.id == bindparam("b_id")).values(columns)
        await session.execute(stmt, old)
    events = [
        {"device_id": r.device_id, "online": True, "reason": "register", "at": r.at} for r in regs
    ]
    await session.execute(insert(_EVENTS), events)


def _registration_values(reg: Registration, key: str = "id") -> dict[str, object]:
    return {
        key: reg.device_id,
        "transport": _transport(reg.transport),
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


def _new_device_row(reg: Registration) -> dict[str, object]:
    device = Device(id=reg.device_id, created_at=reg.at, updated_at=reg.at)
    row: dict[str, object] = {f.name: getattr(device, f.name) for f in fields(device)}
    row.update(_registration_values(reg))
    return row


def _transport(name: str) -> Transport:
    return Transport.UDP if name.upper() == "UDP" else Transport.TCP
