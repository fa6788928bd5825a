"""LiveService against a test camera on loopback: INVITE/ACK/BYE, RTP/PS over UDP and TCP."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest

from sightline.config import Gb28181Settings, MediaSettings
from sightline.gb28181.errors import DeviceOfflineError, DeviceRejectedError, DeviceTimeoutError
from sightline.gb28181.live import LiveService, UnknownChannelError
from sightline.gb28181.live_dialog import MediaCalls
from sightline.gb28181.sdp import parse
from sightline.gb28181.ssrc import GbSsrc, SsrcAllocator, StreamKind
from sightline.media.fmp4 import Fmp4Packager
from sightline.media.hub import StreamEndedError, StreamHub, StreamNeverArrivedError, Viewer
from sightline.media.ports import RtpPortAllocator
from tests.gb28181.device_peer import PLATFORM, REALM, Platform, start_platform, until
from tests.gb28181.live_peer import AckRecordingEndpoint, MediaDevice

CAMERA = "34020000001320000001"
CHANNEL = "34020000001310000001"
OTHER = "34020000001320000002"


@dataclass
class Live:
    """The platform with live view, and a way to add cameras."""

    platform: Platform
    service: LiveService
    hub: StreamHub
    ports: RtpPortAllocator
    ssrc: SsrcAllocator
    cameras: list[MediaDevice]

    async def camera(self, device_id: str = CAMERA, **kw: Any) -> MediaDevice:
        peer = self.platform.device(device_id, endpoint=AckRecordingEndpoint())
        camera = MediaDevice(peer, **kw)
        await camera.start()
        self.cameras.append(camera)
        return camera


def gb_settings() -> Gb28181Settings:
    return Gb28181Settings(
        query_timeout_s=0.5,
        catalog_timeout_s=0.5,
        catalog_subscribe_expires_s=0,
        alarm_subscribe_expires_s=0,
        store_flush_interval_s=0.05,
    )


async def locate(channel_id: str) -> str | None:
    return {CHANNEL: CAMERA}.get(channel_id)


LiveFactory = Callable[..., Any]


@pytest.fixture
async def make_live(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Live] = []

    async def make(transport: str = "udp", **media: Any) -> Live:
        platform = await start_platform(tmp_path / str(len(made)), gb_settings())
        settings = MediaSettings(
            rtp_ports="47000-47999",
            host="127.0.0.1",
            bind_host="127.0.0.1",
            transport=transport,
            invite_timeout_s=1.0,
            **media,
        )
        hub = StreamHub(grace_s=0.1, first_frame_timeout_s=2.0, no_media_timeout_s=2.0)
        ports = RtpPortAllocator.from_range(settings.rtp_port_range)
        ssrc = SsrcAllocator(PLATFORM)
        calls = MediaCalls(platform.endpoint, platform.manager.addressing, timeout_s=1.0)
        calls.attach()
        service = LiveService(
            calls=calls,
            devices=platform.manager,
            hub=hub,
            ports=ports,
            ssrc=ssrc,
            settings=settings,
            media_host="127.0.0.1",
            locate=locate,
        )
        live = Live(platform, service, hub, ports, ssrc, [])
        made.append(live)
        return live

    (tmp_path / "0").mkdir()
    for i in range(1, 4):
        (tmp_path / str(i)).mkdir()
    yield make
    for live in made:
        await live.hub.close()
        await live.service.calls.close()
        for camera in live.cameras:
            await camera.close()
        await live.platform.close()


async def watch(viewer: Viewer, count: int) -> bytes:
    """What a browser would get: the init segment and ``count`` fragments."""
    packager = Fmp4Packager()
    out = bytearray()
    fragments = 0
    async with asyncio.timeout(10):
        while fragments < count:
            for segment in packager.push(await anext(viewer)):
                out += segment.data
                fragments += not segment.init
    return bytes(out)


def decode(mp4: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(mp4), "r", format="mp4") as container:
        return list(container.decode(video=0))


async def released(live: Live) -> None:
    """Wait until the port and the SSRC of every stream are back."""
    await until(lambda: not live.ports.in_use and len(live.ssrc) == 0, 3)


@pytest.mark.parametrize("transport", ["udp", "tcp-passive", "tcp-active"])
async def test_live_video_plays_over_each_transport(make_live: LiveFactory, transport: str) -> None:
    live: Live = await make_live(transport)
    camera = await live.camera()
    async with live.service.view(CHANNEL) as viewer:
        mp4 = await watch(viewer, 30)
    frames = decode(mp4)
    assert len(frames) == 30
    assert (frames[0].width, frames[0].height) == (320, 240)

    (invite,) = camera.invites
    offer = parse(invite.body)
    ssrc = GbSsrc.parse(offer.ssrc or "")
    assert ssrc.kind is StreamKind.LIVE and offer.session_name == "Play"
    assert invite.headers.get("Subject") == f"{CHANNEL}:{offer.ssrc},{PLATFORM}:0"
    assert invite.uri == f"sip:{CHANNEL}@{REALM}"
    assert invite.headers.get("Contact")
    media = offer.media[0]
    assert media.proto == ("RTP/AVP" if transport == "udp" else "TCP/RTP/AVP")
    assert media.attribute("setup") == {"udp": None, "tcp-passive": "passive"}.get(
        transport, "active"
    )
    await until(lambda: len(camera.acks) == 1)
    assert camera.acks[0].call_id == invite.call_id
    # the last viewer left: BYE after the grace period, port and SSRC released
    await asyncio.wait_for(camera.bye_received.wait(), 3)
    assert camera.byes[0].call_id == invite.call_id
    await released(live)


async def test_viewers_share_one_invite_and_late_requests_wait_for_setup(
    make_live: LiveFactory,
) -> None:
    live: Live = await make_live()
    camera = await live.camera(answer_delay_s=0.2)
    first, second = await asyncio.gather(live.service.join(CHANNEL), live.service.join(CHANNEL))
    try:
        a, b = await asyncio.gather(watch(first, 10), watch(second, 10))
        third = await live.service.join(CHANNEL)
        c = await watch(third, 5)
        live.service.leave(third)
    finally:
        live.service.leave(first)
        live.service.leave(second)
    assert len(camera.invites) == 1
    assert [len(decode(m)) for m in (a, b, c)] == [10, 10, 5]
    await asyncio.wait_for(camera.bye_received.wait(), 3)
    assert len(camera.byes) == 1
    await released(live)


async def test_a_refusing_device_gives_its_status(make_live: LiveFactory) -> None:
    live: Live = await make_live()
    await live.camera(status=486)
    with pytest.raises(DeviceRejectedError) as caught:
        await live.service.join(CHANNEL)
    assert caught.value.status == 486 and "486" in str(caught.value)
    await released(live)


async def test_a_silent_device_times_out(make_live: LiveFactory) -> None:
    live: Live = await make_live()
    await live.camera(answer_delay_s=30)
    with pytest.raises(DeviceTimeoutError, match="did not answer the INVITE"):
        await live.service.join(CHANNEL)
    await released(live)


async def test_offline_devices_and_unknown_channels_fail_at_once(make_live: LiveFactory) -> None:
    live: Live = await make_live()
    with pytest.raises(DeviceOfflineError):
        await live.service.join(CHANNEL)  # the directory knows it, but the camera is away
    with pytest.raises(UnknownChannelError):
        await live.service.join(OTHER)
    assert not live.ports.in_use and len(live.ssrc) == 0


async def test_no_media_means_stream_never_arrived_then_bye(make_live: LiveFactory) -> None:
    live: Live = await make_live()
    camera = await live.camera(send_media=False)
    live.hub.first_frame_timeout_s = 0.3
    with pytest.raises(StreamNeverArrivedError, match="no media"):
        async with live.service.view(CHANNEL) as viewer:
            await anext(viewer)
    await asyncio.wait_for(camera.bye_received.wait(), 3)
    await released(live)


async def test_device_bye_ends_the_stream_with_a_clear_error(make_live: LiveFactory) -> None:
    live: Live = await make_live()
    camera = await live.camera(bye_after_frames=12)
    received = 0
    with pytest.raises(StreamEndedError, match=r"device ended the stream \(BYE\)"):
        async with live.service.view(CHANNEL) as viewer:
            async for _ in viewer:
                received += 1
    assert received > 0
    assert camera.byes == []  # nobody hangs up a call the device already ended
    await released(live)


async def test_ssrc_mismatch_is_accepted_with_both_values_logged(
    make_live: LiveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    live: Live = await make_live()
    await live.camera(rtp_ssrc=0x12345678)
    with caplog.at_level(logging.WARNING):
        async with live.service.view(CHANNEL) as viewer:
            assert len(decode(await watch(viewer, 5))) == 5
    offered = int(_offered_ssrc(live))
    text = caplog.text
    assert "SSRC foreign" in text and str(0x12345678) in text and str(offered) in text


def _offered_ssrc(live: Live) -> str:
    return parse(live.cameras[0].invites[0].body).ssrc or ""


async def test_ssrc_mismatch_is_dropped_when_configured(
    make_live: LiveFactory, caplog: pytest.LogCaptureFixture
) -> None:
    live: Live = await make_live(accept_ssrc_mismatch=False)
    camera = await live.camera(rtp_ssrc=0x12345678)
    live.hub.first_frame_timeout_s = 0.5
    with caplog.at_level(logging.WARNING), pytest.raises(StreamNeverArrivedError):
        async with live.service.view(CHANNEL) as viewer:
            await anext(viewer)
    await asyncio.wait_for(camera.bye_received.wait(), 3)
    await released(live)
    assert "dropped for an SSRC other than" in caplog.text


async def test_the_answered_ssrc_is_expected_even_in_strict_mode(make_live: LiveFactory) -> None:
    live: Live = await make_live(accept_ssrc_mismatch=False)
    own = str(GbSsrc(StreamKind.LIVE, "20000", 4321))
    await live.camera(answer_ssrc=own)
    async with live.service.view(CHANNEL) as viewer:
        assert len(decode(await watch(viewer, 5))) == 5


async def test_a_call_answered_after_its_caller_left_is_hung_up(make_live: LiveFactory) -> None:
    live: Live = await make_live()
    camera = await live.camera(answer_delay_s=0.3)
    opening = asyncio.ensure_future(live.service.open_upstream(CHANNEL))
    await until(lambda: len(camera.invites) == 1)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    await asyncio.wait_for(camera.bye_received.wait(), 3)
    await until(lambda: len(camera.acks) == 1)
    assert camera.byes[0].call_id == camera.invites[0].call_id
    await released(live)
