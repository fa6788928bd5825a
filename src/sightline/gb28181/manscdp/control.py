"""Control messages (``<Control>``): DeviceControl and DeviceConfig."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from sightline.gb28181.manscdp.models import BasicParam, CmdType, Message, Root
from sightline.gb28181.manscdp.schema import Spec
from sightline.gb28181.ptz import PtzCommand

__all__ = ["DeviceConfig", "DeviceControl", "DragZoom", "GuardCmd", "HomePosition", "RecordCmd"]

_INFO = ("Info",)


class RecordCmd(StrEnum):
    """``recordType``."""

    RECORD = "Record"
    STOP_RECORD = "StopRecord"


class GuardCmd(StrEnum):
    """``guardType``: arm or disarm alarm inputs."""

    SET_GUARD = "SetGuard"
    RESET_GUARD = "ResetGuard"


@dataclass(frozen=True, kw_only=True)
class DragZoom:
    """A drag-zoom rectangle in player-window pixels, origin at the top-left corner."""

    length: int
    width: int
    mid_point_x: int
    mid_point_y: int
    length_x: int
    length_y: int


@dataclass(frozen=True, kw_only=True)
class HomePosition:
    """Home position (看守位): return to ``preset_index`` after ``reset_time`` seconds idle."""

    enabled: bool
    reset_time: int | None = None
    preset_index: int | None = None


@dataclass(frozen=True, kw_only=True)
class DeviceControl(Message):
    """Device control; usually exactly one command field is set.

    The forced-I-frame element is ``IFameCmd`` in the 2016 text and ``IFrameCmd`` in 2022: both
    are accepted, and the encoder writes the spelling of the peer's edition. PTZ, TeleBoot,
    IFrame and DragZoom get no Response MESSAGE; the others are answered with a ResultResponse.
    """

    ROOT = Root.CONTROL
    CMD_TYPE = CmdType.DEVICE_CONTROL
    XML: ClassVar[Mapping[str, Spec]] = {
        "tele_boot": Spec(tag="TeleBoot", flag="Boot"),
        "alarm_reset": Spec(tag="AlarmCmd", flag="ResetAlarm"),
        "iframe": Spec(tag="IFameCmd", tag_2022="IFrameCmd", flag="Send"),
        "control_priority": Spec(path=_INFO),
        "alarm_method": Spec(path=_INFO),
        "alarm_type": Spec(path=_INFO),
    }

    ptz_cmd: str | None = None
    tele_boot: bool = False
    record_cmd: RecordCmd | None = None
    guard_cmd: GuardCmd | None = None
    alarm_reset: bool = False
    iframe: bool = False
    drag_zoom_in: DragZoom | None = None
    drag_zoom_out: DragZoom | None = None
    home_position: HomePosition | None = None
    control_priority: int | None = None
    alarm_method: str | None = None  # with alarm_reset: which alarms to reset
    alarm_type: str | None = None

    def ptz(self) -> PtzCommand | None:
        """The decoded ``PTZCmd`` (raises InvalidPtzCommand if it is malformed)."""
        return PtzCommand.decode(self.ptz_cmd) if self.ptz_cmd is not None else None

    @classmethod
    def for_ptz(
        cls, sn: int, device_id: str, command: PtzCommand, *, priority: int | None = None
    ) -> DeviceControl:
        """A PTZ control for ``device_id`` (``priority`` goes to ``Info/ControlPriority``)."""
        return cls(sn=sn, device_id=device_id, ptz_cmd=command.encode(), control_priority=priority)


@dataclass(frozen=True, kw_only=True)
class DeviceConfig(Message):
    """Device configuration (only ``BasicParam`` is modelled; SVAC blocks are ignored)."""

    ROOT = Root.CONTROL
    CMD_TYPE = CmdType.DEVICE_CONFIG

    basic_param: BasicParam | None = None
