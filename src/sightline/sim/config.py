"""Simulator settings: who the devices are, where they register, and how they behave.

One :class:`SimConfig` describes a whole fleet. The fleet is a list of :class:`DeviceGroup`
(count x channels): a group with one channel is made of IPCs, a group with more is made of NVRs,
so ``sightline demo`` can run "4 IPCs + 1 NVR with 8 channels" in one :class:`~.host.SimHost`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sightline.gb28181.ids import GbId
from sightline.gb28181.manscdp import Edition
from sightline.sim.audio import SimAudio
from sightline.sim.errors import SimConfigError
from sightline.sim.video import VideoSettings
from sightline.sip.timers import TimerConfig

__all__ = ["DeviceGroup", "SimConfig", "Transport", "VideoSource"]


class Transport(StrEnum):
    """SIP transport of the simulated devices."""

    UDP = "udp"
    TCP = "tcp"


class VideoSource(StrEnum):
    """Where invited channels' video comes from (:mod:`.video_feed`, :mod:`.video_loop`)."""

    LIVE = "live"  # one encoder per watched channel: its name, the clock and PTZ in the picture
    LOOP = "loop"  # one pre-encoded clip for every channel: cheap, no name or clock in it
    AUTO = "auto"  # loop when the fleet has more than ``loop_above_channels`` channels


@dataclass(frozen=True, kw_only=True)
class DeviceGroup:
    """``count`` devices with ``channels`` video channels each (1: IPC, more: NVR)."""

    count: int
    channels: int = 1
    audio: SimAudio | None = None  # G.711 in the channels' streams; None: the fleet's ``audio``


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """Everything a :class:`~.host.SimHost` needs; defaults follow the standard's timings."""

    server_host: str
    server_port: int = 5060
    server_id: str
    domain: str | None = None  # SIP domain and digest realm; default: first 10 digits of server_id
    groups: tuple[DeviceGroup, ...] = (DeviceGroup(count=1),)
    transport: Transport = Transport.UDP
    password: str = "12345678"
    gb_version: str = "2016"
    id_prefix: str = "34020000"
    industry: str = "00"
    network_flag: int = 0
    serial_start: int = 1
    charset: str = "GB2312"
    keepalive_s: float = 60.0
    keepalive_max_failures: int = 3  # unanswered keepalives before the device re-registers
    expires_s: int = 3600
    refresh_ratio: float = 0.85  # refresh the registration at this share of its lifetime
    register_rate: float = 200.0  # registrations started per second (all devices)
    register_window: int = 128  # registrations in flight at most: a slow platform slows us down
    retry_s: float = 60.0  # the standard: no sooner than 60 s after a failure
    retry_jitter_s: float = 5.0  # 2022 adds a random delay; it also breaks up retry bursts
    reboot_s: float = 5.0  # TeleBoot: how long the device stays away
    local_host: str | None = None  # default: the address the OS would use to reach the server
    local_port: int = 0
    catalog_page_size: int = 8  # items per Catalog MESSAGE, like many NVRs
    manufacturer: str = "Sightline"
    ipc_model: str = "SL-IPC-T2200"
    nvr_model: str = "SL-NVR-3200"
    firmware: str = "V5.7.3 build 240501"
    geo_center: tuple[float, float] = (118.3762, 31.3264)  # longitude, latitude
    geo_spread_deg: float = 0.05
    user_agent: str = "sightline-sim"
    timers: TimerConfig = field(default_factory=TimerConfig)
    video: VideoSettings = field(default_factory=VideoSettings)  # what invited channels send
    audio: SimAudio = SimAudio.NONE  # G.711 audio sent with the video (groups may override)
    media_connect_retry_s: float = 1.0  # TCP media as client: wait between the 3 attempts
    media_accept_timeout_s: float = 10.0  # TCP media as server: wait for the platform
    video_source: VideoSource = VideoSource.AUTO
    loop_above_channels: int = 64  # AUTO: a bigger fleet sends the pre-encoded loop

    def __post_init__(self) -> None:
        _check(len(self.id_prefix) == 8 and self.id_prefix.isdigit(), "id_prefix: 8 digits")
        _check(len(self.industry) == 2 and self.industry.isdigit(), "industry: 2 digits")
        _check(0 <= self.network_flag <= 9, "network_flag: one digit")
        _check(self.gb_version in ("2016", "2022"), "gb_version: 2016 or 2022")
        _check(bool(self.groups), "groups: at least one device group")
        _check(all(g.count >= 0 and g.channels >= 1 for g in self.groups), "groups: bad sizes")
        _check(0 < self.server_port < 65536, "server_port: 1-65535")
        _check(self.keepalive_s > 0 and self.register_rate > 0, "keepalive_s/register_rate > 0")
        _check(self.expires_s >= 1 and 0 < self.refresh_ratio < 1, "expires_s/refresh_ratio")
        _check(self.catalog_page_size >= 1, "catalog_page_size >= 1")
        _check(self.register_window >= 1, "register_window >= 1")
        _check(self.retry_s >= 0 and self.retry_jitter_s >= 0, "retry_s/retry_jitter_s >= 0")
        _check(self.loop_above_channels >= 0, "loop_above_channels >= 0")
        try:
            GbId.parse(self.server_id)
        except ValueError:
            raise SimConfigError(f"server_id: not a 20-digit ID: {self.server_id!r}") from None
        last_device = self.serial_start + self.device_count - 1
        last_channel = (self.serial_start - 1) * self.groups[0].channels + self.channel_count
        _check(self.serial_start >= 1, "serial_start >= 1")
        _check(
            last_device <= 999_999 and last_channel <= 999_999,
            "too many devices or channels for 6-digit serials; use another id_prefix",
        )

    @property
    def realm(self) -> str:
        """The SIP domain: ``domain`` or the server ID's first 10 digits."""
        return self.domain or self.server_id[:10]

    @property
    def edition(self) -> Edition:
        """The MANSCDP edition the devices speak."""
        return Edition.V2022 if self.gb_version == "2022" else Edition.V2016

    @property
    def x_gb_ver(self) -> str:
        """The ``X-GB-Ver`` value sent on REGISTER (2.0 = 2016, 3.0 = 2022)."""
        return self.edition.value

    @property
    def loop_video(self) -> bool:
        """True when invited channels are served from the pre-encoded loop."""
        if self.video_source is VideoSource.AUTO:
            return self.channel_count > self.loop_above_channels
        return self.video_source is VideoSource.LOOP

    @property
    def device_count(self) -> int:
        """Devices in the whole fleet."""
        return sum(g.count for g in self.groups)

    @property
    def channel_count(self) -> int:
        """Video channels in the whole fleet."""
        return sum(g.count * g.channels for g in self.groups)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SimConfigError(f"simulator setting {message}")
