"""Rows for alarms notified by devices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sightline.store.models.base import Base, BigIntPk
from sightline.store.models.device import ID_LEN

__all__ = ["AlarmRow"]


class AlarmRow(Base):
    """``alarms``: kept as history, so no foreign key: removing a device keeps its alarms."""

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_device_id_received_at", "device_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(ID_LEN))
    channel_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    priority: Mapped[int | None] = mapped_column(Integer)
    method: Mapped[int | None] = mapped_column(Integer)
    alarm_type: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    alarm_time: Mapped[datetime | None]
    received_at: Mapped[datetime]
    raw: Mapped[str] = mapped_column(Text)
