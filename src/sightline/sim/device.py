"""One simulated IPC or NVR: identity, registration state, channels, PTZ heads, subscriptions.

A :class:`SimDevice` holds only what differs between devices (ID, serials, a few numbers); what a
whole group shares (model, firmware, settings) is one :class:`DeviceProfile`, and names, addresses
and coordinates are computed on demand (:mod:`.identity`). State that only some devices ever need
(PTZ heads, presets, subscriptions, record/guard flags) sits in an :class:`Extras` created on
first use, so an idle registered device is a slotted object of a dozen fields.

Channels are numbered 0..M-1. An IPC (M = 1) is addressed by its device ID or by its channel ID;
an NVR's device ID addresses the recorder itself, not a camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from sightline.gb28181.ids import DeviceType
from sightline.gb28181.manscdp import (
    AlarmNotify,
    CatalogEvent,
    CatalogItem,
    Edition,
    Keepalive,
    Result,
)
from sightline.sim.audio import SimAudio
from sightline.sim.config import SimConfig
from sightline.sim.identity import (
    IdPlan,
    camera_kind,
    channel_name,
    geo_position,
    street_address,
)
from sightline.sim.ptz_state import PtzState

__all__ = ["DeviceProfile", "DeviceState", "Extras", "SimDevice", "Subscription"]


class DeviceState(IntEnum):
    """Where a device is in its registration life cycle."""

    OFFLINE = 0  # waiting for its timer (first start, retry after failure, reboot)
    QUEUED = 1  # waiting for a registration token
    REGISTERING = 2  # REGISTER in flight (first registration or refresh)
    REGISTERED = 3
    STOPPED = 4


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What every device of one group shares."""

    config: SimConfig
    plan: IdPlan
    device_type: DeviceType
    channels: int
    model: str
    audio: SimAudio = SimAudio.NONE

    @property
    def is_nvr(self) -> bool:
        """More than one channel: a recorder, not a camera."""
        return self.channels > 1


class Subscription:
    """The few dialog fields a notifier needs to send NOTIFYs (a full Dialog is ~10x bigger)."""

    __slots__ = ("call_id", "cseq", "event", "expires_at", "local_tag", "remote", "target")

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote: str,
        target: str,
        event: str,
        expires_at: float,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote = remote  # the subscriber's From value, tag included
        self.target = target  # Request-URI of our NOTIFYs (the subscriber's Contact)
        self.event = event
        self.expires_at = expires_at
        self.cseq = 0


class Extras:
    """Per-device state most devices never need."""

    __slots__ = ("alarm_until", "catalog_sub", "guard", "offline", "ptz", "recording")

    def __init__(self) -> None:
        self.ptz: dict[int, PtzState] = {}
        self.offline: set[int] = set()
        self.catalog_sub: Subscription | None = None
        self.alarm_until = 0.0
        self.recording = False
        self.guard = False


class SimDevice:
    """A simulated GB/T 28181 device; the host does its I/O."""

    __slots__ = (
        "channel_base",
        "device_id",
        "extras",
        "index",
        "link",
        "misses",
        "profile",
        "refresh_at",
        "register_cseq",
        "registered",
        "serial",
        "state",
        "timer_due",
    )

    def __init__(
        self, profile: DeviceProfile, *, index: int, serial: int, channel_base: int
    ) -> None:
        self.profile = profile
        self.index = index  # position in the fleet, for keepalive slots
        self.serial = serial
        self.channel_base = channel_base
        self.device_id = profile.plan.device_id(profile.device_type, serial)
        self.state = DeviceState.OFFLINE
        self.registered = False  # as far as the platform knows (stays True during a refresh)
        self.timer_due = 0.0
        self.refresh_at = 0.0
        self.register_cseq = 0
        self.misses = 0  # keepalives in a row without a 200
        self.extras: Extras | None = None
        self.link: object | None = None  # the host's per-device transport state (TCP)

    def __repr__(self) -> str:
        return f"<SimDevice {self.device_id} {self.state.name}>"

    # -- channels -----------------------------------------------------------------------

    @property
    def channel_count(self) -> int:
        """Number of video channels."""
        return self.profile.channels

    def channel_id(self, index: int) -> str:
        """The ID of channel ``index`` (0-based)."""
        return self.profile.plan.channel_id(self.channel_base + index)

    def channel_ids(self) -> list[str]:
        """Every channel ID, in order."""
        return [self.channel_id(k) for k in range(self.channel_count)]

    def channel_index(self, target_id: str) -> int | None:
        """The channel a DeviceID in a request names; None for the NVR itself or a stranger."""
        if target_id == self.device_id:
            return None if self.profile.is_nvr else 0
        serial = self.profile.plan.channel_serial(target_id)
        if serial is None or not 0 <= serial - self.channel_base < self.channel_count:
            return None
        return serial - self.channel_base

    def owns(self, target_id: str) -> bool:
        """Whether ``target_id`` is this device or one of its channels."""
        return target_id == self.device_id or self.channel_index(target_id) is not None

    @property
    def name(self) -> str:
        """The device name reported by DeviceInfo."""
        kind = "网络硬盘录像机" if self.profile.is_nvr else "网络摄像机"
        return f"{kind}{self.serial:06d}"

    # -- lazily created state -----------------------------------------------------------

    def extra(self) -> Extras:
        """The device's rarely used state, created on first use."""
        if self.extras is None:
            self.extras = Extras()
        return self.extras

    def ptz(self, index: int, now: float) -> PtzState:
        """Channel ``index``'s PTZ head, created pointing at pan 0, tilt 0, zoom 1."""
        heads = self.extra().ptz
        head = heads.get(index)
        if head is None:
            head = heads[index] = PtzState(now)
        return head

    def is_channel_online(self, index: int) -> bool:
        """Whether channel ``index`` reports ON."""
        return self.extras is None or index not in self.extras.offline

    def forget_session(self) -> None:
        """What a reboot loses: subscriptions, motion and flags (presets survive, as on domes)."""
        if self.extras is None:
            return
        extras = self.extras
        extras.catalog_sub = None
        extras.alarm_until = 0.0
        extras.recording = False
        for index, head in extras.ptz.items():
            presets = head.presets
            extras.ptz[index] = PtzState(0.0)
            extras.ptz[index].presets.update(presets)

    # -- MANSCDP bodies the device originates -------------------------------------------

    def catalog_item(self, index: int, event: CatalogEvent | None = None) -> CatalogItem:
        """The catalog item of channel ``index``."""
        config = self.profile.config
        serial = self.channel_base + index
        channel_id = self.channel_id(index)
        longitude, latitude = geo_position(channel_id, config.geo_center, config.geo_spread_deg)
        v2016 = config.edition is Edition.V2016
        return CatalogItem(
            device_id=channel_id,
            event=event,
            name=channel_name(serial),
            manufacturer=config.manufacturer,
            model=self.profile.model,
            owner="Owner" if v2016 else None,
            civil_code=self.profile.plan.civil_code,
            address=street_address(serial),
            parental=0,
            parent_id=self.device_id,
            safety_way=0 if v2016 else None,
            register_way=1,
            secrecy=0,
            status="ON" if self.is_channel_online(index) else "OFF",
            longitude=longitude,
            latitude=latitude,
            ptz_type=camera_kind(serial).ptz_type,
            resolution="6/4",
            download_speed="1/2/4",
            stream_number_list=None if v2016 else "0/1",
            grassroots_code=None if v2016 else "000000",
        )

    def catalog(self, event: CatalogEvent | None = None) -> list[CatalogItem]:
        """Every channel's catalog item."""
        return [self.catalog_item(k, event) for k in range(self.channel_count)]

    def keepalive(self, sn: int) -> Keepalive:
        """A keepalive; offline channels are listed as faulty sub-devices."""
        faulty: tuple[str, ...] = ()
        if self.extras is not None and self.extras.offline:
            faulty = tuple(self.channel_id(k) for k in sorted(self.extras.offline))
        return Keepalive(sn=sn, device_id=self.device_id, status=Result.OK, fault_devices=faulty)

    def alarm(
        self,
        sn: int,
        index: int,
        *,
        priority: int,
        method: int,
        alarm_type: int | None,
        description: str | None,
        at: datetime,
    ) -> AlarmNotify:
        """An alarm raised by channel ``index`` at local time ``at``."""
        config = self.profile.config
        channel_id = self.channel_id(index)
        longitude, latitude = geo_position(channel_id, config.geo_center, config.geo_spread_deg)
        return AlarmNotify(
            sn=sn,
            device_id=channel_id,
            alarm_priority=priority,
            alarm_method=method,
            alarm_time=at,
            alarm_description=description,
            longitude=longitude,
            latitude=latitude,
            alarm_type=alarm_type,
        )
