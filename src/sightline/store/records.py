"""Frozen records that repositories take and return.

Services never see ORM rows: a record is a plain value, safe to keep after its session has
closed (async SQLAlchemy cannot lazy-load an attribute once the session is gone) and cheap to
compare in tests. Field names equal column names, so ``repositories._convert`` maps both ways.

Every ``datetime`` is timezone-aware; the store keeps UTC and hands back UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Alarm",
    "Channel",
    "ChannelStatus",
    "Device",
    "DeviceStatusEvent",
    "GbVersion",
    "Group",
    "GroupKind",
    "Region",
    "StatusReason",
    "Transport",
    "User",
]


class Transport(StrEnum):
    """SIP transport the device registered over."""

    UDP = "UDP"
    TCP = "TCP"


class GbVersion(StrEnum):
    """Edition of GB/T 28181 the device speaks."""

    V2016 = "2016"
    V2022 = "2022"


class ChannelStatus(StrEnum):
    """Catalog ``Status`` of a channel."""

    ON = "ON"
    OFF = "OFF"


class GroupKind(StrEnum):
    """Business group (type 215) or virtual organisation (type 216)."""

    BUSINESS = "business"
    VIRTUAL = "virtual"


class StatusReason(StrEnum):
    """Why a device went online or offline; stored as text so new reasons need no migration."""

    REGISTER = "register"
    UNREGISTER = "unregister"
    EXPIRED = "expired"
    KEEPALIVE = "keepalive"
    KEEPALIVE_TIMEOUT = "keepalive-timeout"


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """A GB/T 28181 device (IPC, NVR, lower platform) keyed by its 20-digit ID.

    ``password_ha1`` is MD5(username:realm:password) for this device's own password, kept
    instead of the clear password: digest verification needs only HA1, and a leaked database
    then does not reveal passwords valid on other realms. ``None`` means "use the default".
    """

    id: str
    created_at: datetime
    updated_at: datetime
    name: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    transport: Transport = Transport.UDP
    gb_version: GbVersion = GbVersion.V2016
    charset: str = "GB2312"
    realm: str | None = None
    password_ha1: str | None = None
    remote_host: str | None = None
    remote_port: int | None = None
    contact: str | None = None
    expires_s: int | None = None
    registered_at: datetime | None = None
    last_seen: datetime | None = None
    online: bool = False
    channel_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """One catalog item under a device; ``extra`` holds the catalog ``Info`` fields not modelled."""

    id: str
    device_id: str
    updated_at: datetime
    name: str = ""
    manufacturer: str | None = None
    model: str | None = None
    owner: str | None = None
    civil_code: str | None = None
    block: str | None = None
    address: str | None = None
    parental: int | None = None
    parent_id: str | None = None
    business_group_id: str | None = None
    register_way: int | None = None
    secrecy: int | None = None
    ip_address: str | None = None
    port: int | None = None
    status: ChannelStatus = ChannelStatus.ON
    longitude: float | None = None
    latitude: float | None = None
    ptz_type: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatusEvent:
    """A device went online or offline at ``at`` for ``reason``."""

    id: int
    device_id: str
    online: bool
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm:
    """An alarm notified by a device; ``id`` is ``None`` until stored, ``raw`` is the XML body."""

    device_id: str
    received_at: datetime
    id: int | None = None
    channel_id: str | None = None
    priority: int | None = None
    method: int | None = None
    alarm_type: int | None = None
    description: str = ""
    longitude: float | None = None
    latitude: float | None = None
    alarm_time: datetime | None = None
    raw: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A login; ``password_hash`` is an argon2/bcrypt string produced by ``sightline.access``."""

    id: int
    username: str
    password_hash: str
    created_at: datetime
    display_name: str = ""
    is_admin: bool = False
    disabled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """An administrative region (civil code of 2, 4, 6 or 8 digits)."""

    code: str
    name: str
    parent_code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A business group or virtual organisation in the directory tree."""

    id: str
    kind: GroupKind
    name: str
    parent_id: str | None = None
    business_group_id: str | None = None
