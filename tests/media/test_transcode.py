"""H.265 → H.264: real streams through PyAV, the hub wrapper, and a responsive event loop."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import AsyncIterator

import av

from sightline.media.fmp4 import Fmp4Packager
from sightline.media.hub import StreamHub, StreamKey, Upstream
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.transcode import TranscodedUpstream, TranscodeOptions, Transcoder
from tests.media.test_rtsp_support import LoopingUpstream, until
from tests.media.video import encode_pattern

CHANNEL = "34020000001320000002"


def h265_clip(frames: int = 50, **size: int) -> list[AccessUnit]:
    clip = encode_pattern("libx265", frames, **size)
    return [AccessUnit(Codec.H265, 0xE0, f.pts_90k, f.dts_90k, f.data, f.keyframe) for f in clip]


def transcode_all(units: list[AccessUnit], options: TranscodeOptions) -> list[AccessUnit]:
    transcoder = Transcoder(options)
    out = [o for u in units for o in transcoder.push(u)]
    return out + transcoder.flush()


def decode(units: list[AccessUnit]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create("h264", "r")
    frames = []
    for unit in units:
        frames += decoder.decode(av.Packet(unit.data))
    return frames + decoder.decode(None)


def test_h265_in_h264_out_decodes_with_every_frame_and_timestamp() -> None:
    clip = h265_clip(50)
    out = transcode_all(clip, TranscodeOptions(gop_s=1.0))
    assert {u.codec for u in out} == {Codec.H264}
    assert [u.pts_90k for u in out] == [u.pts_90k for u in clip]  # input times kept
    assert all(u.dts_90k == u.pts_90k for u in out)  # no B-frames
    assert [i for i, u in enumerate(out) if u.keyframe] == [0, 25]  # a 1 s GOP at 25 fps
    frames = decode(out)
    assert len(frames) == 50 and {(f.width, f.height) for f in frames} == {(320, 240)}


def test_the_output_describes_itself_for_fmp4() -> None:
    transcoder = Transcoder()
    out = [o for u in h265_clip(10) for o in transcoder.push(u)]
    assert transcoder.info is not None and (transcoder.info.codec_string or "").startswith("avc1.")
    segments = [s for u in out for s in Fmp4Packager().push(u)][:1]
    assert segments[0].init and 'codecs="avc1.' in segments[0].mime_type


def test_size_and_bitrate_options() -> None:
    clip = h265_clip(25)
    small = decode(transcode_all(clip, TranscodeOptions(max_height=120)))
    assert {(f.width, f.height) for f in small} == {(160, 120)}
    low = transcode_all(clip, TranscodeOptions(bitrate_bps=100_000))
    high = transcode_all(clip, TranscodeOptions(bitrate_bps=2_000_000))
    assert sum(len(u.data) for u in low) * 2 < sum(len(u.data) for u in high)


def test_damaged_input_is_skipped_and_the_next_key_frame_recovers() -> None:
    clip = h265_clip(50)
    damaged = [clip[0], AccessUnit(Codec.H265, 0xE0, 1, 1, b"\x00\x00\x01\xff\xff", False)]
    damaged += clip[25:]  # the next GOP, after a gap
    transcoder = Transcoder()
    out = [o for u in damaged for o in transcoder.push(u)] + transcoder.flush()
    assert len(decode(out)) == len(out) >= 26
    pts = [u.pts_90k for u in out]
    assert pts == sorted(set(pts))


async def test_one_transcode_is_shared_and_started_only_for_h264_viewers() -> None:
    hub = StreamHub(grace_s=0.05)
    sources: list[LoopingUpstream] = []

    async def live() -> Upstream:
        sources.append(LoopingUpstream("libx265"))
        return sources[-1]

    async def h264() -> Upstream:
        return TranscodedUpstream(hub.view(StreamKey(CHANNEL), live))

    key = StreamKey(CHANNEL, "live-h264")
    assert hub.snapshot() == []
    async with hub.view(key, h264) as a, hub.view(key, h264) as b:
        firsts = [await anext(a), await anext(b)]
        assert all(u.codec is Codec.H264 and u.keyframe for u in firsts)
        kinds = {s.key.kind: s.viewers for s in hub.snapshot()}
        assert kinds == {"live": 1, "live-h264": 2}  # one transcode for two viewers
        got = [await anext(a) for _ in range(30)]
        assert all(x.dts_90k < y.dts_90k for x, y in itertools.pairwise(got))
    await until(lambda: hub.snapshot() == [])  # both closed after their grace period
    assert sources[0].closed.is_set()
    await hub.close()


async def test_h264_sources_pass_through_untouched() -> None:
    clip = [
        AccessUnit(Codec.H264, 0xE0, f.pts_90k, f.dts_90k, f.data, f.keyframe)
        for f in encode_pattern("libx264", 10)
    ]

    class Source:
        async def __aenter__(self) -> AsyncIterator[AccessUnit]:
            async def units() -> AsyncIterator[AccessUnit]:
                for u in clip:
                    yield u

            return units()

        async def __aexit__(self, *exc: object) -> None:
            return None

    upstream = TranscodedUpstream(Source())
    assert [u async for u in upstream.frames()] == clip
    assert upstream.transcoder.frames_in == 0


async def test_the_event_loop_stays_responsive_while_transcoding() -> None:
    clip = h265_clip(40, width=1280, height=720)
    transcoder = Transcoder()
    transcoder.push(clip[0])  # opens the encoder, outside the timing
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.002)
            lags.append(loop.time() - before - 0.002)

    class Source:
        async def __aenter__(self) -> AsyncIterator[AccessUnit]:
            async def units() -> AsyncIterator[AccessUnit]:
                for u in clip[1:]:
                    yield u

            return units()

        async def __aexit__(self, *exc: object) -> None:
            return None

    upstream = TranscodedUpstream(Source())
    upstream.transcoder = transcoder
    task = asyncio.create_task(probe())
    started = time.perf_counter()
    out = [u async for u in upstream.frames()]
    per_frame = (time.perf_counter() - started) / len(out)
    done.set()
    await task
    assert len(out) == len(clip) - 1
    # Blocking the loop would show as lags of a whole frame's transcode time or more.
    assert statistics.median(lags) < per_frame / 2, (statistics.median(lags), per_frame)
    assert max(lags) < 3 * per_frame, (max(lags), per_frame)
