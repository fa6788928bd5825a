"""Query messages (``<Query>``): what a platform asks a device or a lower platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sightline.gb28181.manscdp.models import CmdType, Message, Root
from sightline.gb28181.manscdp.schema import Spec

__all__ = [
    "AlarmQuery",
    "CatalogQuery",
    "ConfigDownloadQuery",
    "DeviceInfoQuery",
    "DeviceStatusQuery",
    "MobilePositionQuery",
    "PresetQuery",
    "RecordInfoQuery",
]


@dataclass(frozen=True, kw_only=True)
class CatalogQuery(Message):
    """Catalog query; also the body of a catalog SUBSCRIBE. Times filter by date added."""

    ROOT = Root.QUERY
    CMD_TYPE = CmdType.CATALOG

    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class DeviceInfoQuery(Message):
    """Device information query (manufacturer, model, firmware, channel count)."""

    ROOT = Root.QUERY
    CMD_TYPE = CmdType.DEVICE_INFO


@dataclass(frozen=True, kw_only=True)
class DeviceStatusQuery(Message):
    """Device status query (online, recording, alarm inputs...)."""

    ROOT = Root.QUERY
    CMD_TYPE = CmdType.DEVICE_STATUS


@dataclass(frozen=True, kw_only=True)
class RecordInfoQuery(Message):
    """Recording search (文件目录检索). ``record_type`` is ``time``/``alarm``/``manual``/``all``."""

    ROOT = Root.QUERY
    CMD_TYPE = CmdType.RECORD_INFO
    XML: ClassVar[Mapping[str, Spec]] = {"record_type": Spec(tag="Type")}

    start_time: datetime
    end_time: datetime
    file_path: str | None = None
    address: str | None = None
    secrecy: int | None = None
    record_type: str | None = None
    recorder_id: str | None = None
    indistinct_query: int | None = None


@dataclass(frozen=True, kw_only=True)
class AlarmQuery(Message):
    """Alarm query; also the body of an alarm SUBSCRIBE. Priorities 0 (all) to 4."""

    ROOT = Root.QUERY
    CMD_TYPE = CmdType.ALARM

    start_alarm_priority: int | None = None
    end_alarm_priority: int | None = None
    alarm_method: str | None = None  # digits may be combined: "12" = phone or device alarm
    alarm_type: str | None = None
    start_alarm_time: datetime | None = None
    end_alarm_time: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ConfigDownloadQuery(Message):
    """Configuration query; ``config_type`` may list several types separated by ``/``."""

    ROOT = Root.QUERY
    CMD_TYPE = CmdType.CONFIG_DOWNLOAD

    config_type: str

    @property
    def config_types(self) -> tuple[str, ...]:
        """The requested types, e.g. ``("BasicParam", "VideoParamOpt")``."""
        return tuple(part.strip() for part in self.config_type.split("/") if part.strip())


@dataclass(frozen=True, kw_only=True)
class PresetQuery(Message):
    """Preset list query."""

    ROOT = Root.QUERY
    CMD_TYPE = CmdType.PRESET_QUERY


@dataclass(frozen=True, kw_only=True)
class MobilePositionQuery(Message):
    """Mobile position query/subscription; ``interval`` in seconds (device default 5)."""

    ROOT = Root.QUERY
    CMD_TYPE = CmdType.MOBILE_POSITION

    interval: int | None = None
