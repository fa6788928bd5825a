"""Response messages (``<Response>``): answers to queries and to controls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sightline.gb28181.manscdp.catalog import CATALOG_LIST, CatalogItem
from sightline.gb28181.manscdp.models import BasicParam, CmdType, Message, OnOff, Result, Root
from sightline.gb28181.manscdp.schema import Spec

__all__ = [
    "AlarmStatusItem",
    "CatalogResponse",
    "ConfigDownloadResponse",
    "DeviceInfoResponse",
    "DeviceStatusResponse",
    "DutyStatus",
    "Online",
    "PresetItem",
    "PresetQueryResponse",
    "RecordInfoResponse",
    "RecordItem",
    "ResultResponse",
    "VideoParamOpt",
]


class Online(StrEnum):
    """DeviceStatus ``Online``."""

    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"


class DutyStatus(StrEnum):
    """State of an alarm input in DeviceStatus."""

    ONDUTY = "ONDUTY"
    OFFDUTY = "OFFDUTY"
    ALARM = "ALARM"


@dataclass(frozen=True, kw_only=True)
class ResultResponse(Message):
    """A bare ``Result`` answer: DeviceControl, DeviceConfig, Alarm, Broadcast, or the
    "catalog received" answer to a catalog NOTIFY."""

    ROOT = Root.RESPONSE
    XML: ClassVar[Mapping[str, Spec]] = {"cmd_type": Spec(skip=True)}

    cmd_type: CmdType
    result: Result

    @property
    def command(self) -> str:
        """The ``CmdType`` text this response answers."""
        return str(self.cmd_type)


@dataclass(frozen=True, kw_only=True)
class CatalogResponse(Message):
    """One message of a (possibly split) catalog answer; ``sum_num`` is the total over all."""

    ROOT = Root.RESPONSE
    CMD_TYPE = CmdType.CATALOG
    XML: ClassVar[Mapping[str, Spec]] = {"items": CATALOG_LIST}

    sum_num: int
    items: tuple[CatalogItem, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DeviceInfoResponse(Message):
    """Device information."""

    ROOT = Root.RESPONSE
    CMD_TYPE = CmdType.DEVICE_INFO

    device_name: str | None = None
    result: Result
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    channel: int | None = None


@dataclass(frozen=True, kw_only=True)
class AlarmStatusItem:
    """One alarm input's state."""

    device_id: str
    duty_status: DutyStatus | None = None


@dataclass(frozen=True, kw_only=True)
class DeviceStatusResponse(Message):
    """Device status. The standard spells the alarm list ``Alarmstatus`` with a ``num``."""

    ROOT = Root.RESPONSE
    CMD_TYPE = CmdType.DEVICE_STATUS
    XML: ClassVar[Mapping[str, Spec]] = {
        "alarm_status": Spec(tag="Alarmstatus", item="Item", count_attr="num"),
    }

    result: Result
    online: Online
    status: Result
    reason: str | None = None
    encode: OnOff | None = None
    record: OnOff | None = None
    device_time: datetime | None = None
    alarm_status: tuple[AlarmStatusItem, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RecordItem:
    """One recording file or segment."""

    XML: ClassVar[Mapping[str, Spec]] = {"record_type": Spec(tag="Type")}

    device_id: str
    name: str | None = None
    file_path: str | None = None
    address: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    secrecy: int | None = None
    record_type: str | None = None  # time / alarm / manual
    recorder_id: str | None = None
    file_size: int | None = None  # bytes


@dataclass(frozen=True, kw_only=True)
class RecordInfoResponse(Message):
    """One message of a (possibly split) recording search answer."""

    ROOT = Root.RESPONSE
    CMD_TYPE = CmdType.RECORD_INFO
    XML: ClassVar[Mapping[str, Spec]] = {
        "items": Spec(tag="RecordList", item="Item", count_attr="Num"),
    }

    name: str | None = None
    sum_num: int
    items: tuple[RecordItem, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PresetItem:
    """One configured preset."""

    preset_id: str
    preset_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class PresetQueryResponse(Message):
    """The preset list; written with ``Num="0"`` when empty, as the standard requires."""

    ROOT = Root.RESPONSE
    CMD_TYPE = CmdType.PRESET_QUERY
    XML: ClassVar[Mapping[str, Spec]] = {
        "items": Spec(tag="PresetList", item="Item", count_attr="Num", keep_empty=True),
    }

    items: tuple[PresetItem, ...] = ()


@dataclass(frozen=True, kw_only=True)
class VideoParamOpt:
    """Supported ranges, each ``/``-separated (download speeds ``1/2/4``, resolution codes)."""

    download_speed: str | None = None
    resolution: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConfigDownloadResponse(Message):
    """Configuration answer; one message per requested ``ConfigType``, all with the same SN."""

    ROOT = Root.RESPONSE
    CMD_TYPE = CmdType.CONFIG_DOWNLOAD

    result: Result
    basic_param: BasicParam | None = None
    video_param_opt: VideoParamOpt | None = None
