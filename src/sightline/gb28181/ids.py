"""The 20-digit unified ID (统一编码) of GB/T 28181 §6.1.1 / Annex D (2016), Annex E (2022).

Layout ``CCCCCCCC II TTT N SSSSSS``: an 8-digit center code (province, city, district and
grassroots unit, two digits each, unused trailing levels ``00``), a 2-digit industry code, a
3-digit type code, the network-flag digit and a 6-digit serial. The 18-digit "rule B" code of the
2016 edition was deleted in 2022 and is not accepted. Administrative areas in a catalog use short
2/4/6/8-digit codes instead (see :func:`is_area_code` and :mod:`sightline.gb28181.civil`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sightline.gb28181.errors import InvalidGbId

__all__ = ["DeviceType", "GbId", "domain_of", "is_area_code"]

_AREA_LENGTHS = frozenset({2, 4, 6, 8})


class DeviceType(IntEnum):
    """Type codes (digits 11-13); 2022-only codes are marked in the comments."""

    DVR = 111
    VIDEO_SERVER = 112
    ENCODER = 113
    DECODER = 114
    VIDEO_SWITCHING_MATRIX = 115
    AUDIO_SWITCHING_MATRIX = 116
    ALARM_CONTROLLER = 117
    NVR = 118
    ONLINE_IMAGE_CAPTURE_SYSTEM = 120  # 2022
    VIDEO_CHECKPOINT = 121  # 2022
    MULTI_SENSOR_DEVICE = 122  # 2022
    PARKING_ACCESS_CONTROL = 123  # 2022
    PERSONNEL_ACCESS_CONTROL = 124  # 2022
    SECURITY_INSPECTION = 125  # 2022
    HVR = 130
    CAMERA = 131
    IPC = 132
    DISPLAY = 133
    ALARM_INPUT = 134
    ALARM_OUTPUT = 135
    VOICE_INPUT = 136
    VOICE_OUTPUT = 137
    MOBILE_TRANSMISSION = 138
    OTHER_PERIPHERAL = 139
    RELAY_ALARM_OUTPUT = 140  # 2022
    BARRIER_GATE = 141  # 2022
    SMART_DOOR = 142  # 2022
    CREDENTIAL_READER = 143  # 2022
    PLATFORM = 200  # central SIP signalling server (中心信令控制服务器)
    WEB_APP_SERVER = 201
    MEDIA_DISTRIBUTION_SERVER = 202
    PROXY_SERVER = 203
    SECURITY_SERVER = 204
    ALARM_SERVER = 205
    DATABASE_SERVER = 206
    GIS_SERVER = 207
    MANAGEMENT_SERVER = 208
    ACCESS_GATEWAY = 209
    MEDIA_STORAGE_SERVER = 210
    SIGNALLING_SECURITY_GATEWAY = 211
    BUSINESS_GROUP = 215  # 业务分组
    VIRTUAL_ORGANISATION = 216  # 虚拟组织
    CENTER_USER = 300
    TERMINAL_USER = 400
    INTEGRATED_APPLICATION_PLATFORM = 500
    OPERATIONS_PLATFORM = 501
    ANALYSIS_SYSTEM = 502  # 2022
    IMAGE_DATABASE = 503  # 2022
    ANALYSIS_DEVICE = 505  # 2022


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() accepts non-ASCII digits such as '١' or '５', which are not valid here.
    return text.isascii() and text.isdigit()


def is_area_code(text: str) -> bool:
    """Whether ``text`` is a 2/4/6/8-digit administrative-area ID (``deviceIDType`` pattern)."""
    return len(text) in _AREA_LENGTHS and _is_ascii_digits(text)


@dataclass(frozen=True, slots=True)
class GbId:
    """A validated 20-digit GB/T 28181 ID; ``str(gb_id)`` gives the digits back."""

    value: str

    def __post_init__(self) -> None:
        if len(self.value) != 20 or not _is_ascii_digits(self.value):
            raise InvalidGbId(f"a GB/T 28181 ID has exactly 20 ASCII digits, got {self.value!r}")

    @classmethod
    def parse(cls, text: str) -> GbId:
        """Validate ``text`` (surrounding whitespace is ignored) and return it as a GbId."""
        if not isinstance(text, str):
            raise InvalidGbId(f"a GB/T 28181 ID must be a string, got {type(text).__name__}")
        return cls(text.strip())

    def __str__(self) -> str:
        return self.value

    @property
    def center_code(self) -> str:
        """Digits 1-8: the administrative division of the owning center."""
        return self.value[:8]

    @property
    def province(self) -> str:
        """Digits 1-2."""
        return self.value[0:2]

    @property
    def city(self) -> str:
        """Digits 3-4 (``00`` when unused)."""
        return self.value[2:4]

    @property
    def district(self) -> str:
        """Digits 5-6 (``00`` when unused)."""
        return self.value[4:6]

    @property
    def grassroots(self) -> str:
        """Digits 7-8, the grassroots unit (``00`` when unused)."""
        return self.value[6:8]

    @property
    def industry_code(self) -> str:
        """Digits 9-10 (行业编码)."""
        return self.value[8:10]

    @property
    def type_code(self) -> int:
        """Digits 11-13 (类型编码) as an integer."""
        return int(self.value[10:13])

    @property
    def device_type(self) -> DeviceType | None:
        """The type code as a :class:`DeviceType`, or None for codes the tables do not name."""
        try:
            return DeviceType(self.type_code)
        except ValueError:
            return None

    @property
    def network_flag(self) -> int:
        """Digit 14 (网络标识); its meaning differs between the 2016 and 2022 editions."""
        return int(self.value[13])

    @property
    def serial(self) -> str:
        """Digits 15-20."""
        return self.value[14:]

    @property
    def domain(self) -> str:
        """The first 10 digits, the conventional SIP domain of the ID's center."""
        return self.value[:10]

    @property
    def is_device(self) -> bool:
        """A front-end main device (111-130), e.g. DVR, NVR, encoder."""
        return 111 <= self.type_code <= 130

    @property
    def is_channel_like(self) -> bool:
        """A front-end device or peripheral (111-199): something that can appear as a channel."""
        return 111 <= self.type_code <= 199

    @property
    def is_platform(self) -> bool:
        """A central signalling server / platform (200)."""
        return self.type_code == DeviceType.PLATFORM

    @property
    def is_business_group(self) -> bool:
        """A business group (215)."""
        return self.type_code == DeviceType.BUSINESS_GROUP

    @property
    def is_virtual_org(self) -> bool:
        """A virtual organisation (216)."""
        return self.type_code == DeviceType.VIRTUAL_ORGANISATION


def domain_of(gb_id: GbId | str) -> str:
    """The SIP domain (first 10 digits) of a 20-digit ID; raises InvalidGbId otherwise."""
    parsed = gb_id if isinstance(gb_id, GbId) else GbId.parse(gb_id)
    return parsed.domain
