"""Who a simulated device is: IDs, names, addresses and map positions, all derived, none stored.

IDs follow the 20-digit layout (center code, industry, type, network flag, serial). Like real
Hikvision or Dahua IPCs, an IPC registers with a type-132 device ID and lists one video channel of
type 131 with the same serial (``...1320000001`` / ``...1310000001``). An NVR registers as type 118
and lists M type-131 channels whose serials follow from its own: ``(serial - 1) * M + k + 1`` for
a fleet of equal NVRs, so channel IDs never collide inside one fleet.

Everything else (names, addresses, coordinates) is a pure function of the serials, so a device
costs no memory for it and every run of the simulator describes the same fleet.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from sightline.gb28181.civil import canonical, is_civil_code
from sightline.gb28181.ids import DeviceType

__all__ = ["CameraKind", "IdPlan", "camera_kind", "channel_name", "geo_position", "street_address"]

_PLACES = (
    "东门",
    "西门",
    "南门",
    "北门",
    "大厅",
    "停车场入口",
    "停车场出口",
    "电梯厅",
    "一楼走廊",
    "二楼走廊",
    "仓库",
    "收银台",
    "周界东侧",
    "周界西侧",
    "消防通道",
    "广场",
    "食堂",
    "机房",
    "主干道",
    "十字路口",
)
_ROADS = ("人民路", "解放路", "中山路", "建设路", "和平路", "长江路", "黄山路", "滨江大道")


@dataclass(frozen=True, slots=True)
class CameraKind:
    """A camera body: its name suffix and its catalog ``PTZType`` (1 dome, 2 half-dome, 3 fixed)."""

    suffix: str
    ptz_type: int


_KINDS = (
    CameraKind("球机", 1),
    CameraKind("枪机", 3),
    CameraKind("半球", 2),
    CameraKind("枪机", 3),
)


@dataclass(frozen=True, slots=True)
class IdPlan:
    """How the fleet's IDs are spelled; shared by every device."""

    prefix: str  # 8-digit center code + 2-digit industry code
    network_flag: int

    def device_id(self, device_type: DeviceType, serial: int) -> str:
        """The 20-digit ID of device ``serial``."""
        return f"{self.prefix}{int(device_type):03d}{self.network_flag}{serial:06d}"

    @property
    def channel_prefix(self) -> str:
        """The first 14 digits of every channel ID (type 131, camera)."""
        return f"{self.prefix}{int(DeviceType.CAMERA):03d}{self.network_flag}"

    def channel_id(self, channel_serial: int) -> str:
        """The 20-digit ID of video channel ``channel_serial``."""
        return f"{self.channel_prefix}{channel_serial:06d}"

    def channel_serial(self, channel_id: str) -> int | None:
        """The serial of one of this fleet's channel IDs, None for any other string."""
        tail = channel_id[14:]
        if len(channel_id) != 20 or not channel_id.startswith(self.channel_prefix):
            return None
        return int(tail) if tail.isascii() and tail.isdigit() else None

    @property
    def civil_code(self) -> str:
        """The civil code of the center code (``34020000`` -> ``3402``), as catalogs carry it."""
        center = self.prefix[:8]
        return canonical(center) if is_civil_code(center) else center[:6]


def camera_kind(channel_serial: int) -> CameraKind:
    """The camera body of a channel: half of them fixed, a quarter domes, a quarter half-domes."""
    return _KINDS[channel_serial % len(_KINDS)]


def channel_name(channel_serial: int) -> str:
    """A plausible Chinese channel name, e.g. ``东门球机01``; unique across 99 x 20 channels."""
    place = _PLACES[(channel_serial - 1) % len(_PLACES)]
    round_ = (channel_serial - 1) // len(_PLACES) % 99 + 1
    return f"{place}{camera_kind(channel_serial).suffix}{round_:02d}"


def street_address(serial: int) -> str:
    """A street address such as ``人民路128号``."""
    return f"{_ROADS[serial % len(_ROADS)]}{serial % 997 + 1}号"


def geo_position(key: str, center: tuple[float, float], spread_deg: float) -> tuple[float, float]:
    """A deterministic longitude/latitude within ``spread_deg`` of ``center`` (WGS-84 degrees)."""
    h = zlib.crc32(key.encode("ascii"))
    dx = ((h & 0xFFFF) / 0xFFFF - 0.5) * 2 * spread_deg
    dy = ((h >> 16) / 0xFFFF - 0.5) * 2 * spread_deg
    return round(center[0] + dx, 6), round(center[1] + dy, 6)
