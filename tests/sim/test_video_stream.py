"""What an invited channel sends, decoded: the clock, the frame rate, the PTZ head, H.265 too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from sightline.gb28181.invite import MediaTransport
from sightline.media.ps_format import Codec
from sightline.sim import SimHost
from sightline.sim.video import Layout, VideoCodec, VideoSettings, read_ptz, read_time_ms
from tests.sim.conftest import ConfigFactory
from tests.sim.media_peer import Luma, bye, decode, invite
from tests.sim.platform import LoopbackPlatform


@pytest.fixture(params=list(VideoCodec))
async def camera(
    request: pytest.FixtureRequest, platform: LoopbackPlatform, sim_config: ConfigFactory
) -> AsyncIterator[SimHost]:
    """One IPC at the default 640x360, 25 fps, in H.264 and in H.265."""
    host = SimHost(sim_config(video=VideoSettings(codec=request.param), keepalive_s=30.0))
    await host.start()
    assert await host.wait_registered(1, timeout_s=5)
    yield host
    await host.stop()


def _ids(host: SimHost) -> tuple[str, str]:
    device = next(iter(host.devices.values()))
    return device.device_id, device.channel_id(0)


async def test_the_clock_in_the_picture_is_now_and_the_rate_is_as_configured(
    platform: LoopbackPlatform, camera: SimHost
) -> None:
    device_id, channel_id = _ids(camera)
    call = await invite(platform, device_id, channel_id, MediaTransport.TCP_PASSIVE)
    await call.receiver.sink.wait_packets(1)
    await asyncio.sleep(2.0)
    assert (await bye(platform, device_id, call)).status == 200
    arrivals = call.receiver.sink.arrivals
    arrived = {a.packet.timestamp: a.wall for a in arrivals if a.packet.marker}
    units = call.receiver.sink.access_units()
    codec = Codec.H264 if camera.config.video.codec is VideoCodec.H264 else Codec.H265
    assert {u.codec for u in units} == {codec}
    pictures = decode(units)
    assert len(pictures) == len(units) >= 30  # 2 s at 25 fps, less what a loaded machine skips
    stamps = [read_time_ms(p) for p in pictures]
    assert None not in stamps
    for unit, stamp in zip(units, stamps, strict=True):
        assert stamp is not None
        assert abs(arrived[unit.pts_90k] * 1000 - stamp) < 1000  # drawn when it was sent
    steps = np.diff([u.pts_90k for u in units])
    assert np.all(steps % 3600 == 0) and np.median(steps) == 3600
    seconds = (stamps[-1] - stamps[0]) / 1000  # type: ignore[operator]
    # frames are skipped, never queued, when the machine is loaded: the rate can only drop
    assert 25 * 0.6 <= (len(pictures) - 1) / seconds <= 25 * 1.1
    call.receiver.close()


def _pan_shift(before: Luma, after: Luma, layout: Layout, period: int) -> int:
    top, stop = layout.pan_band
    a = before[top:stop].mean(axis=0) - before[top:stop].mean()
    b = after[top:stop].mean(axis=0) - after[top:stop].mean()
    return int(np.argmax([float(np.dot(np.roll(a, -s), b)) for s in range(period)]))


async def test_moving_the_head_moves_the_picture(
    platform: LoopbackPlatform, camera: SimHost
) -> None:
    device_id, channel_id = _ids(camera)
    call = await invite(platform, device_id, channel_id)
    await call.receiver.sink.wait_packets(1)
    await asyncio.sleep(0.5)
    camera.set_ptz(channel_id, 30.0, -10.0, 1.0)
    await asyncio.sleep(0.5)
    assert (await bye(platform, device_id, call)).status == 200
    pictures = decode(call.receiver.sink.access_units())
    readings = [read_ptz(p) for p in pictures]
    assert None not in readings
    positions = [(r.pan, r.tilt, r.zoom) for r in readings if r is not None]
    assert positions[0] == (0.0, 0.0, 1.0) and positions[-1] == (30.0, -10.0, 1.0)
    moved = positions.index((30.0, -10.0, 1.0))
    assert set(positions[moved:]) == {(30.0, -10.0, 1.0)}
    video = camera.config.video
    layout = Layout.for_size(video.width, video.height)
    period = layout.stripe_period(1.0)
    expected = round(30.0 * layout.pixels_per_degree) % period
    shift = _pan_shift(pictures[moved - 1], pictures[moved], layout, period)
    assert min(abs(shift - expected), period - abs(shift - expected)) <= 1
    assert camera.ptz_position(channel_id).pan == 30.0
    call.receiver.close()
