"""Write-behind persistence of device state, so the SIP path never waits on the database.

Handlers only queue: state changes (registration, online/offline, device info, alarms) go to
an ordered list, keepalive times to a dict keyed by device (so a device that sends ten
keepalives between two flushes costs one row write). One task calls :meth:`DeviceWriter.flush`
every ``store_flush_interval_s``; each flush is one transaction, state changes first, in the
order they happened, then ``last_seen`` for every device touched since the last flush (in the
row update of a device patched in the same flush, e.g. one that moved, else in one executemany).
Consecutive changes of one kind (registrations, online/offline transitions, DeviceInfo fields)
are merged into one batch written with the ``DeviceRepository`` bulk methods, a few executemany
statements per 500 devices instead of several statements per device.

Keepalive times are kept as monotonic seconds and turned into wall-clock times at flush, so
a keepalive costs no ``datetime`` at all. A batch that fails (database down) is logged and
dropped, counted in ``failed_batches``: the next keepalive or registration writes fresh state,
and replaying stale events later would reorder history.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store import (
    Alarm,
    Database,
    DeviceRepository,
    EventRepository,
    GbVersion,
    StoreError,
    Transport,
)
from sightline.store.repositories.devices import DeviceRegistration

__all__ = ["DeviceInfoPatch", "DeviceWriter", "Registration"]

log = logging.getLogger(__name__)

Op = Callable[[AsyncSession], Awaitable[None]]
FLUSH_ATTEMPTS = 2


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
        """Record an online/offline transition with its reason.

        Consecutive transitions share one batch (a restart marks a whole fleet offline); a
        device already in the open batch starts a new one, so its events keep their order.
        """
        last = self._ops[-1] if self._ops else None
        if isinstance(last, _StateBatch) and device_id not in last.items:
            last.items[device_id] = (device_id, online, reason, at)
            return
        batch = _StateBatch()
        batch.items[device_id] = (device_id, online, reason, at)
        self._ops.append(batch)

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
        # Consecutive patches share one batch (onboarding a fleet patches every device once);
        # a later patch of the same device merges into the batch, later values winning.
        last = self._ops[-1] if self._ops else None
        batch = last if isinstance(last, _PatchBatch) else None
        if batch is None:
            batch = _PatchBatch(self._wall_clock)
            self._ops.append(batch)
        batch.changes.setdefault(device_id, {}).update(values)

    async def flush(self) -> None:
        """Write everything queued in one transaction (tried twice: SQLite's lock wait can time
        out while another writer is busy)."""
        if not self._ops and not self._touched:
            return
        ops, self._ops = self._ops, []
        touched, self._touched = self._touched, {}
        wall, mono = self._wall_clock(), self._clock()
        seen = {d: wall - timedelta(seconds=mono - at) for d, at in touched.items()}
        self._in_flight = ops
        try:
            for attempt in range(1, FLUSH_ATTEMPTS + 1):
                try:
                    await self._write(ops, seen)
                except StoreError:
                    if attempt < FLUSH_ATTEMPTS:
                        log.warning("device writes failed; trying again", exc_info=True)
                        continue
                    self.failed_batches += 1
                    log.exception("dropped %d device writes and %d keepalives", len(ops), len(seen))
                    return
                break
        finally:
            self._in_flight = []
        self.flushed_batches += 1

    async def _write(self, ops: list[Op], seen: dict[str, datetime]) -> None:
        seen = dict(seen)  # a retry starts from the same keepalive times
        for op in ops:
            if isinstance(op, _PatchBatch):
                op.take_seen(seen)
        async with self._database.write_session() as session:
            for op in ops:
                await op(session)
            await DeviceRepository(session).touch_many(seen)


class _StateBatch:
    """Online/offline transitions of several devices, written with a few executemany."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[str, bool, str, datetime]] = {}

    async def __call__(self, session: AsyncSession) -> None:
        changes = list(self.items.values())
        stored = await DeviceRepository(session).set_online_many(changes)
        if stored < len(changes):
            log.debug("%d devices vanished before their events were stored", len(changes) - stored)


class _PatchBatch:
    """Column changes of several devices, written with a few executemany UPDATEs."""

    def __init__(self, wall_clock: Callable[[], datetime]) -> None:
        self.changes: dict[str, dict[str, object]] = {}
        self._wall_clock = wall_clock

    def take_seen(self, seen: dict[str, datetime]) -> None:
        """Write the keepalive times of the devices patched here in the same row update (a
        storm of restarted devices moves every one of them: one UPDATE each, not two)."""
        for device_id, values in self.changes.items():
            at = seen.pop(device_id, None)
            if at is not None:
                values["last_seen"] = at

    async def __call__(self, session: AsyncSession) -> None:
        await DeviceRepository(session).update_many(self.changes, self._wall_clock())


class _RegistrationBatch:
    """Registrations written together: insert the new devices, update the known ones."""

    def __init__(self) -> None:
        self.items: dict[str, Registration] = {}

    async def __call__(self, session: AsyncSession) -> None:
        regs = [_stored(r) for r in self.items.values()]
        await DeviceRepository(session).register_many(regs)


def _stored(reg: Registration) -> DeviceRegistration:
    return DeviceRegistration(
        device_id=reg.device_id,
        transport=Transport.UDP if reg.transport.upper() == "UDP" else Transport.TCP,
        gb_version=reg.gb_version,
        remote_host=reg.remote_host,
        remote_port=reg.remote_port,
        contact=reg.contact,
        expires_s=reg.expires_s,
        at=reg.at,
    )
