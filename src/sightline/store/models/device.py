"""Rows for devices, their channels and their online/offline history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sightline.store.models.base import Base, BigIntPk, enum_type
from sightline.store.records import ChannelStatus, GbVersion, Transport

__all__ = ["ChannelRow", "DeviceRow", "DeviceStatusEventRow"]

# A GB/T 28181 device or channel ID; the gb28181 layer validates the 20 digits.
ID_LEN = 20


class DeviceRow(Base):
    """``devices``: one registered (or once registered) device."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    manufacturer: Mapped[str] = mapped_column(String(255))
    model: Mapped[str] = mapped_column(String(255))
    firmware: Mapped[str] = mapped_column(String(255))
    transport: Mapped[Transport] = mapped_column(enum_type(Transport, "transport", 8))
    gb_version: Mapped[GbVersion] = mapped_column(enum_type(GbVersion, "gb_version", 8))
    charset: Mapped[str] = mapped_column(String(16))
    realm: Mapped[str | None] = mapped_column(String(128))
    password_ha1: Mapped[str | None] = mapped_column(String(64))
    remote_host: Mapped[str | None] = mapped_column(String(64))
    remote_port: Mapped[int | None] = mapped_column(Integer)
    contact: Mapped[str | None] = mapped_column(String(255))
    expires_s: Mapped[int | None] = mapped_column(Integer)
    registered_at: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    online: Mapped[bool]
    channel_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ChannelRow(Base):
    """``channels``: catalog items of a device, deleted with it."""

    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    device_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    manufacturer: Mapped[str | None] = mapped_column(String(255))
    model: Mapped[str | None] = mapped_column(String(255))
    owner: Mapped[str | None] = mapped_column(String(255))
    civil_code: Mapped[str | None] = mapped_column(String(32), index=True)
    block: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(255))
    parental: Mapped[int | None] = mapped_column(Integer)
    # Several parents may be listed, separated by "/" (multi-path cascade).
    parent_id: Mapped[str | None] = mapped_column(String(255))
    business_group_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    register_way: Mapped[int | None] = mapped_column(Integer)
    secrecy: Mapped[int | None] = mapped_column(Integer)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    port: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[ChannelStatus] = mapped_column(enum_type(ChannelStatus, "status", 8), index=True)
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    ptz_type: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class DeviceStatusEventRow(Base):
    """``device_status_events``: each online/offline transition, for online-rate reports."""

    __tablename__ = "device_status_events"
    __table_args__ = (Index("ix_device_status_events_device_id_at", "device_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("devices.id", ondelete="CASCADE")
    )
    online: Mapped[bool]
    reason: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
