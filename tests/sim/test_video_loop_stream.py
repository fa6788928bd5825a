"""Loop-mode channels over RTP: what they send decodes; a PTZ command brings the live picture."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from sightline.gb28181.invite import MediaTransport
from sightline.gb28181.manscdp import DeviceControl
from sightline.gb28181.ptz import PtzCommand
from sightline.sim import SimHost
from sightline.sim.config import VideoSource
from sightline.sim.video import VideoSettings, read_ptz, read_time_ms
from sightline.sim.video_feed import LoopViewer
from tests.sim.conftest import ConfigFactory
from tests.sim.media_peer import LiveCall, bye, decode, invite
from tests.sim.platform import LoopbackPlatform

VIDEO = VideoSettings(width=320, height=180, bitrate_kbps=256)


@pytest.fixture
async def fleet(platform: LoopbackPlatform, sim_config: ConfigFactory) -> AsyncIterator[SimHost]:
    """Two IPCs that send the pre-encoded loop."""
    host = SimHost(
        sim_config(devices=2, video=VIDEO, video_source=VideoSource.LOOP, keepalive_s=30.0)
    )
    await host.start()
    assert await host.wait_registered(2, timeout_s=5)
    yield host
    await host.stop()


def _ipcs(host: SimHost) -> list[tuple[str, str]]:
    return [(d.device_id, d.channel_id(0)) for d in host.devices.values()]


def _marker_stamps(call: LiveCall) -> list[int]:
    return [a.packet.timestamp for a in call.receiver.sink.arrivals if a.packet.marker]


@pytest.mark.parametrize("mode", [MediaTransport.UDP, MediaTransport.TCP_PASSIVE])
async def test_two_channels_share_the_loop_and_both_decode(
    platform: LoopbackPlatform, fleet: SimHost, mode: MediaTransport
) -> None:
    (dev_a, chan_a), (dev_b, chan_b) = _ipcs(fleet)
    first = await invite(platform, dev_a, chan_a, mode, ssrc="0200000001")
    await first.receiver.sink.wait_packets(1)
    await asyncio.sleep(0.5)
    second = await invite(platform, dev_b, chan_b, mode, ssrc="0200000002")  # joins late
    await second.receiver.sink.wait_packets(1)
    await asyncio.sleep(1.0)
    hub = fleet.calls.hub
    assert hub.loop is not None and hub.loop.subscribers == 2
    assert not hub.feeds  # no encoder per channel
    for device_id, call in ((dev_a, first), (dev_b, second)):
        assert (await bye(platform, device_id, call)).status == 200
        units = call.receiver.sink.access_units()
        assert units[0].keyframe
        pictures = decode(units)
        assert len(pictures) == len(units) >= 10
        assert {read_time_ms(p) for p in pictures} == {None}  # a loop has no clock
        readings = {read_ptz(p) for p in pictures}
        assert {(r.pan, r.tilt, r.zoom) for r in readings if r is not None} == {(0.0, 0.0, 1.0)}
        steps = {(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(_marker_stamps(call))}
        assert steps == {3600}
        call.receiver.close()
    assert hub.loop.subscribers == 0


async def test_a_ptz_command_turns_a_loop_channel_live_and_the_picture_follows_the_head(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    (dev_a, chan_a), (dev_b, chan_b) = _ipcs(fleet)
    moving = await invite(platform, dev_a, chan_a, ssrc="0200000011")
    still = await invite(platform, dev_b, chan_b, ssrc="0200000012")
    await moving.receiver.sink.wait_packets(1)
    await asyncio.sleep(0.5)
    move = DeviceControl.for_ptz(7, chan_a, PtzCommand.move(pan=1, tilt=0, speed=0x40))
    assert (await platform.send(dev_a, move)).status == 200
    await asyncio.sleep(1.0)
    stop = DeviceControl.for_ptz(8, chan_a, PtzCommand.stop())
    assert (await platform.send(dev_a, stop)).status == 200
    await asyncio.sleep(0.3)
    hub = fleet.calls.hub
    assert [c for c, _ in hub.feeds] == [chan_a]  # one live encoder: the channel that moved
    assert hub.loop is not None and hub.loop.subscribers == 1  # the other stays on the loop
    viewers = {v.channel_id: v for v in hub.viewers}
    assert isinstance(viewers[chan_a], LoopViewer) and viewers[chan_a].live is not None
    for device_id, call in ((dev_a, moving), (dev_b, still)):
        assert (await bye(platform, device_id, call)).status == 200
    pictures = decode(moving.receiver.sink.access_units())
    clocks = [read_time_ms(p) for p in pictures]
    live_from = next(i for i, c in enumerate(clocks) if c is not None)
    assert live_from > 0 and None not in clocks[live_from:]  # loop first, then live for good
    pans = [r.pan for p in pictures[live_from:] if (r := read_ptz(p)) is not None]
    assert len(pans) == len(pictures) - live_from
    assert pans[-1] > pans[0] + 5.0 and pans == sorted(pans)  # the head turned right
    assert pans[-1] == pytest.approx(fleet.ptz_position(chan_a).pan, abs=0.1)
    stamps = _marker_stamps(moving)
    steps = [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(stamps)]
    # no jump back at the switch (it would read as ~2**32 here), only the time it took
    assert all(0 < s < 5 * 90000 and s % 3600 == 0 for s in steps)
    assert {read_time_ms(p) for p in decode(still.receiver.sink.access_units())} == {None}
    moving.receiver.close()
    still.receiver.close()
    assert not hub.feeds and not hub.viewers
