"""A loopback platform with live video wired (hub, media calls, ``LiveService``), for tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sightline.config import Gb28181Settings, MediaSettings
from sightline.gb28181.live import ChannelLocator, LiveService
from sightline.gb28181.live_dialog import MediaCalls
from sightline.gb28181.ssrc import SsrcAllocator
from sightline.media.hub import StreamHub
from sightline.media.ports import RtpPortAllocator
from tests.gb28181.device_peer import PLATFORM, Platform, start_platform

__all__ = ["LivePlatform", "start_live_platform"]

# Quick answers, no subscriptions: the tests are about media, not onboarding.
QUICK = Gb28181Settings(
    query_timeout_s=0.5,
    catalog_timeout_s=0.5,
    catalog_subscribe_expires_s=0,
    alarm_subscribe_expires_s=0,
)


@dataclass
class LivePlatform:
    """The parts a live-video test drives and closes."""

    platform: Platform
    hub: StreamHub
    calls: MediaCalls
    live: LiveService


async def start_live_platform(
    workdir: Path, *, rtp_ports: str, grace_s: float, locate: ChannelLocator
) -> LivePlatform:
    """A platform in ``workdir`` whose live streams use ``rtp_ports`` on loopback."""
    platform = await start_platform(workdir, QUICK)
    settings = MediaSettings(rtp_ports=rtp_ports, bind_host="127.0.0.1", invite_timeout_s=1)
    hub = StreamHub(grace_s=grace_s, first_frame_timeout_s=3.0, no_media_timeout_s=2.0)
    calls = MediaCalls(platform.endpoint, platform.manager.addressing, timeout_s=1.0)
    calls.attach()
    live = LiveService(
        calls=calls,
        devices=platform.manager,
        hub=hub,
        ports=RtpPortAllocator.from_range(settings.rtp_port_range),
        ssrc=SsrcAllocator(PLATFORM),
        settings=settings,
        media_host="127.0.0.1",
        locate=locate,
    )
    return LivePlatform(platform, hub, calls, live)
