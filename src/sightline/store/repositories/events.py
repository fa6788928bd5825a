"""Device history: online/offline events and alarms.

Status events are written by ``DeviceRepository.set_online``; this repository reads them (for
online-rate reports) and stores and lists alarms. Records are frozen dataclasses from
``sightline.store.records``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.models import AlarmRow, DeviceStatusEventRow
from sightline.store.records import Alarm, DeviceStatusEvent
from sightline.store.repositories._sql import fetch_all, record_values, table

__all__ = ["EventRepository"]

EVENTS = table(DeviceStatusEventRow)
ALARMS = table(AlarmRow)


class EventRepository:
    """Reads ``device_status_events``; reads and writes ``alarms``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def status_events(
        self,
        device_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> Sequence[DeviceStatusEvent]:
        """Events of ``device_id`` with ``since <= at < until``, oldest first."""
        stmt = (
            select(EVENTS)
            .where(EVENTS.c.device_id == device_id)
            .order_by(EVENTS.c.at, EVENTS.c.id)
            .limit(limit)
        )
        if since is not None:
            stmt = stmt.where(EVENTS.c.at >= since)
        if until is not None:
            stmt = stmt.where(EVENTS.c.at < until)
        return await fetch_all(self._session, stmt, DeviceStatusEvent)

    async def add_alarm(self, alarm: Alarm) -> Alarm:
        """Store ``alarm`` and return it with its new ``id``."""
        values = record_values(alarm, skip=["id"])
        stmt = insert(ALARMS).values(values).returning(ALARMS.c.id)
        alarm_id = (await self._session.execute(stmt)).scalar_one()
        return replace(alarm, id=alarm_id)

    async def list_alarms(
        self,
        device_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Alarm]:
        """Alarms received at or after ``since``, newest first."""
        stmt = (
            select(ALARMS)
            .order_by(ALARMS.c.received_at.desc(), ALARMS.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        if device_id is not None:
            stmt = stmt.where(ALARMS.c.device_id == device_id)
        if since is not None:
            stmt = stmt.where(ALARMS.c.received_at >= since)
        return await fetch_all(self._session, stmt, Alarm)
