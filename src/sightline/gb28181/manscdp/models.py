"""MANSCDP message models: the envelope, shared enums and shared parameter blocks.

Every message is a frozen, keyword-only dataclass whose class variables ``ROOT`` and ``CMD_TYPE``
name its envelope; fields map to elements as :mod:`~sightline.gb28181.manscdp.schema` describes.
Identifiers (``device_id``, ``parent_id``...) stay plain strings: catalogs carry short area codes,
``/``-separated parent lists and vendor oddities, so validate with
:class:`~sightline.gb28181.ids.GbId` where a real 20-digit ID is required.

Times are naive ``datetime`` values in the device's local time, as the standard writes them
(``2024-05-01T12:00:00``, no zone); a zone sent by a device is dropped on decoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from sightline.gb28181.manscdp.schema import Edition, Spec

__all__ = [
    "BasicParam",
    "CmdType",
    "Edition",
    "Message",
    "OnOff",
    "Result",
    "Root",
]


class Root(StrEnum):
    """The four MANSCDP root elements."""

    CONTROL = "Control"
    QUERY = "Query"
    NOTIFY = "Notify"
    RESPONSE = "Response"


class CmdType(StrEnum):
    """The command types modelled here (others decode to ``UnknownMessage``)."""

    DEVICE_CONTROL = "DeviceControl"
    DEVICE_CONFIG = "DeviceConfig"
    CATALOG = "Catalog"
    DEVICE_INFO = "DeviceInfo"
    DEVICE_STATUS = "DeviceStatus"
    RECORD_INFO = "RecordInfo"
    ALARM = "Alarm"
    CONFIG_DOWNLOAD = "ConfigDownload"
    PRESET_QUERY = "PresetQuery"
    MOBILE_POSITION = "MobilePosition"
    KEEPALIVE = "Keepalive"
    MEDIA_STATUS = "MediaStatus"
    BROADCAST = "Broadcast"


class Result(StrEnum):
    """``resultType``: the outcome of a command, or whether a device works normally."""

    OK = "OK"
    ERROR = "ERROR"


class OnOff(StrEnum):
    """``statusType``."""

    ON = "ON"
    OFF = "OFF"


@dataclass(frozen=True, kw_only=True)
class Message:
    """Fields every modelled message has: ``SN`` and the target or source ``DeviceID``."""

    ROOT: ClassVar[Root]
    CMD_TYPE: ClassVar[CmdType | None] = None
    XML: ClassVar[Mapping[str, Spec]] = {}

    sn: int
    device_id: str

    @property
    def command(self) -> str:
        """The ``CmdType`` text of this message."""
        return str(self.CMD_TYPE)


@dataclass(frozen=True, kw_only=True)
class BasicParam:
    """``BasicParam`` of DeviceConfig and ConfigDownload (registration and keepalive settings)."""

    name: str | None = None
    expiration: int | None = None
    heart_beat_interval: int | None = None
    heart_beat_count: int | None = None
    position_capability: int | None = None
    longitude: float | None = None
    latitude: float | None = None
