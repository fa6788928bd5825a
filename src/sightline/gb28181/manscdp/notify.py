"""Notify messages (``<Notify>``): keepalive, alarms, end of playback, catalog changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sightline.gb28181.manscdp.catalog import CATALOG_LIST, CatalogItem
from sightline.gb28181.manscdp.models import CmdType, Message, Result, Root
from sightline.gb28181.manscdp.schema import Spec

__all__ = [
    "MEDIA_STATUS_FILE_END",
    "AlarmNotify",
    "CatalogNotify",
    "Keepalive",
    "MediaStatusNotify",
]

MEDIA_STATUS_FILE_END = "121"


@dataclass(frozen=True, kw_only=True)
class Keepalive(Message):
    """Keepalive (心跳); ``fault_devices`` are the sub-devices listed as faulty under ``Info``."""

    ROOT = Root.NOTIFY
    CMD_TYPE = CmdType.KEEPALIVE
    XML: ClassVar[Mapping[str, Spec]] = {"fault_devices": Spec(tag="Info", item="DeviceID")}

    status: Result
    fault_devices: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AlarmNotify(Message):
    """Alarm notification. Method 1 phone ... 5 video, 6 device fault, 7 other; priority 1-4.

    After a method-2 device alarm the platform must send ``AlarmCmd ResetAlarm`` before the
    device reports again.
    """

    ROOT = Root.NOTIFY
    CMD_TYPE = CmdType.ALARM
    XML: ClassVar[Mapping[str, Spec]] = {
        "alarm_type": Spec(path=("Info",)),
        "event_type": Spec(path=("Info", "AlarmTypeParam")),
    }

    alarm_priority: int
    alarm_method: int
    alarm_time: datetime
    alarm_description: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    alarm_type: int | None = None
    event_type: int | None = None  # intrusion alarms: 1 enter area, 2 leave area


@dataclass(frozen=True, kw_only=True)
class MediaStatusNotify(Message):
    """Media status; ``notify_type`` ``"121"`` means a playback/download file has ended."""

    ROOT = Root.NOTIFY
    CMD_TYPE = CmdType.MEDIA_STATUS

    notify_type: str

    @property
    def is_file_end(self) -> bool:
        """Whether this reports the end of a history media file."""
        return self.notify_type == MEDIA_STATUS_FILE_END


@dataclass(frozen=True, kw_only=True)
class CatalogNotify(Message):
    """Catalog change notification (SUBSCRIBE/NOTIFY); each item carries its ``event``."""

    ROOT = Root.NOTIFY
    CMD_TYPE = CmdType.CATALOG
    XML: ClassVar[Mapping[str, Spec]] = {"items": CATALOG_LIST}

    sum_num: int
    items: tuple[CatalogItem, ...] = ()
