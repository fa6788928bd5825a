"""The H.264 variant of a live stream: shared transcode, source errors, clean leave."""

from __future__ import annotations

import av

from sightline.media.errors import MediaError
from sightline.media.hub import StreamHub, StreamKey, Upstream
from sightline.media.ps_format import Codec
from sightline.media.variants import H264Upstream, h264_key, h264_opener
from tests.media.test_rtsp_support import LoopingUpstream, until

CHANNEL = "34020000001320000003"


class DeviceGone(MediaError):
    """Stands for the GB layer's 'device offline' raised by the source opener."""


async def test_h265_source_is_transcoded_once_for_all_h264_viewers() -> None:
    hub = StreamHub(grace_s=0.05)
    sources: list[LoopingUpstream] = []

    async def live() -> Upstream:
        sources.append(LoopingUpstream("libx265"))
        return sources[-1]

    opener = h264_opener(hub, StreamKey(CHANNEL), live)
    async with hub.view(h264_key(CHANNEL), opener) as a, hub.view(h264_key(CHANNEL), opener) as b:
        units = [await anext(a) for _ in range(20)]
        assert (await anext(b)).keyframe
        assert {u.codec for u in units} == {Codec.H264} and units[0].keyframe
        kinds = {s.key.kind: s.viewers for s in hub.snapshot()}
        assert kinds == {"live": 1, "h264": 2}
        decoder = av.CodecContext.create("h264", "r")
        frames = [f for u in units for f in decoder.decode(av.Packet(u.data))]
        frames += decoder.decode(None)
        assert len(frames) == 20 and (frames[0].width, frames[0].height) == (320, 240)
    await until(lambda: hub.snapshot() == [])
    assert len(sources) == 1 and sources[0].closed.is_set()
    await hub.close()


async def test_h264_source_passes_through() -> None:
    hub = StreamHub(grace_s=0.05)
    source = LoopingUpstream("libx264")

    async def live() -> Upstream:
        return source

    async with hub.view(h264_key(CHANNEL), h264_opener(hub, StreamKey(CHANNEL), live)) as v:
        got = [await anext(v) for _ in range(5)]
    assert [u.data for u in got] == [f.data for f in source.clip[:5]]
    await hub.close()


async def test_the_source_openers_error_reaches_the_variants_viewers() -> None:
    hub = StreamHub(grace_s=0.05)

    async def offline() -> Upstream:
        raise DeviceGone("device 34020000001110000001 is offline")

    opener = h264_opener(hub, StreamKey(CHANNEL), offline)
    for _ in range(2):  # the failed variant is forgotten: a retry fails the same way
        try:
            await hub.join(h264_key(CHANNEL), opener)
        except DeviceGone as exc:
            assert "offline" in str(exc)
        else:
            raise AssertionError("joined a stream whose source failed")
    assert hub.snapshot() == []
    await hub.close()


async def test_closing_before_reading_leaves_the_source() -> None:
    hub = StreamHub(grace_s=0.01)
    source = LoopingUpstream("libx264")

    async def live() -> Upstream:
        return source

    viewer = await hub.join(StreamKey(CHANNEL), live)
    upstream = H264Upstream(hub, viewer)
    await upstream.close()
    await until(lambda: hub.snapshot() == [] and source.closed.is_set())  # no second grace
    await hub.close()
