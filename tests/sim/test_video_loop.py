"""The pre-encoded video loop: clip, timestamps across wraps, key-frame joins, PTZ to live."""

from __future__ import annotations

import argparse
import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.cli.sim import add_parser, config_from_args
from sightline.sim import DeviceGroup, SimConfig, SimConfigError
from sightline.sim.config import VideoSource
from sightline.sim.ptz_state import PtzPosition
from sightline.sim.video import VideoCodec, VideoSettings, read_ptz, read_time_ms
from sightline.sim.video_codec import EncodedFrame
from sightline.sim.video_feed import LiveFeed, LoopViewer, VideoHub, at_home
from sightline.sim.video_loop import LoopClip, LoopPlayer, VideoLoop, clip_for, loop_frames

SMALL = VideoSettings(width=320, height=180, bitrate_kbps=256)
HOME = PtzPosition(0.0, 0.0, 1.0, moving=False)
FRAME = 90000 // SMALL.fps


@pytest.fixture(scope="module")
def clip() -> LoopClip:
    """The 320x180 clip (encoded once per process)."""
    return clip_for(SMALL)


def _decode(codec: VideoCodec, units: list[bytes]) -> list[np.ndarray]:
    ctx = av.CodecContext.create("h264" if codec is VideoCodec.H264 else "hevc", "r")
    out = []
    for data in [*units, None]:
        packet = None if data is None else av.Packet(data)
        out += [f.to_ndarray(format="gray") for f in ctx.decode(packet)]
    return out


def test_the_clip_is_whole_gops_starting_on_a_key_frame(clip: LoopClip) -> None:
    gop, count = loop_frames(SMALL)
    assert (gop, count) == (50, 150)  # 2 s GOPs, at least 6 s
    assert len(clip.frames) == count
    assert clip.keys == (0, 50, 100)
    assert clip.seconds == 6.0
    # the bit rate is near what was asked, as for a live channel
    assert 0.5 * SMALL.bitrate_kbps <= clip.size * 8 / clip.seconds / 1000 <= 1.5 * 256
    assert clip_for(SMALL) is clip


@pytest.mark.parametrize("codec", list(VideoCodec))
def test_the_loop_picture_has_no_clock_and_shows_home(codec: VideoCodec) -> None:
    video = VideoSettings(codec=codec, width=320, height=180, bitrate_kbps=256)
    pictures = _decode(codec, [f.data for f in clip_for(video).frames])
    assert len(pictures) == 150
    for luma in (pictures[0], pictures[77], pictures[-1]):
        assert read_time_ms(luma) is None
        assert read_ptz(luma) is not None and at_home_reading(luma)
    # something moves: the pictures of one pass are not all the same
    assert np.abs(pictures[10].astype(int) - pictures[60].astype(int)).mean() > 1


def at_home_reading(luma: np.ndarray) -> bool:
    """The PTZ row reads pan 0, tilt 0, zoom 1."""
    reading = read_ptz(luma)
    return reading is not None and (reading.pan, reading.tilt, reading.zoom) == (0.0, 0.0, 1.0)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_a_subscriber_joining_at_any_tick_starts_on_a_key_frame(tick: int) -> None:
    player = LoopPlayer(clip_for(SMALL))
    phase = player.join(tick)
    first = player.frame(tick, phase)
    assert first.keyframe
    assert first.pts_90k == tick * FRAME
    # and it does not wait for the next GOP: the key frame is that of the GOP the loop is in
    position = tick % 150
    assert (position + phase) % 150 == position // 50 * 50


def test_timestamps_rise_at_the_frame_rate_across_wraps_and_the_stream_decodes(
    clip: LoopClip,
) -> None:
    player = LoopPlayer(clip)
    start = 137  # late in the first pass: the subscriber wraps soon
    phase = player.join(start)
    frames = [player.frame(tick, phase) for tick in range(start, start + 3 * 150 + 7)]
    steps = {b.pts_90k - a.pts_90k for a, b in itertools.pairwise(frames)}
    assert steps == {FRAME}
    assert frames[0].keyframe
    assert sum(f.keyframe for f in frames) == 1 + (len(frames) - 1) // 50
    pictures = _decode(VideoCodec.H264, [f.data for f in frames])
    assert len(pictures) == len(frames)  # every frame across the wraps decodes


def test_late_subscribers_of_one_loop_get_their_own_phase(clip: LoopClip) -> None:
    player = LoopPlayer(clip)
    early, late = player.join(0), player.join(75)
    assert player.frame(75, late).keyframe and not player.frame(75, early).keyframe
    # same clock for both
    assert player.frame(80, early).pts_90k == player.frame(80, late).pts_90k


class _Frames(list[EncodedFrame]):
    def __init__(self, done: asyncio.Event, count: int) -> None:
        super().__init__()
        self._done, self._count = done, count

    def append(self, frame: EncodedFrame) -> None:
        super().append(frame)
        if len(self) >= self._count:
            self._done.set()


def _collector(count: int) -> tuple[_Frames, asyncio.Event]:
    done = asyncio.Event()
    return _Frames(done, count), done


async def test_one_loop_timer_feeds_every_subscriber_from_a_key_frame() -> None:
    with ThreadPoolExecutor(1) as pool:
        loop = VideoLoop(SMALL, pool)
        first, first_done = _collector(20)
        second, second_done = _collector(20)
        loop.subscribe(first.append)
        await asyncio.wait_for(first_done.wait(), 10)
        loop.subscribe(second.append)
        await asyncio.wait_for(second_done.wait(), 10)
        ticks = loop.frames
        loop.unsubscribe(first.append)
        loop.unsubscribe(second.append)
        assert loop.subscribers == 0
        await loop.close()
    for frames in (first, second):
        assert frames[0].keyframe
        steps = {b.pts_90k - a.pts_90k for a, b in itertools.pairwise(frames)}
        assert steps == {FRAME}  # the clock slips when late; frames are never skipped
    assert second[0].pts_90k > first[0].pts_90k
    # one tick served both: the first key frame of the second subscriber came between ticks
    assert len(first) <= ticks + 1


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _frame(pts: int, key: bool, data: bytes = b"x") -> EncodedFrame:
    return EncodedFrame(data, pts, key, 0)


def test_a_viewer_goes_live_when_the_head_moves_and_keeps_its_timestamps() -> None:
    clock = _FakeClock()
    head = [HOME]
    out: list[EncodedFrame] = []
    moved: list[LoopViewer] = []
    viewer = LoopViewer(
        "34020000001320000001",
        out.append,
        lambda: head[0],
        fps=25,
        tint=0,
        on_moved=moved.append,
        clock=clock,
    )
    for tick in range(1000, 1012):
        clock.now += 0.04
        viewer.from_loop(_frame(tick * FRAME, tick == 1000, b"loop"))
    assert len(out) == 12 and not moved
    head[0] = PtzPosition(12.5, 0.0, 1.0, moving=True)
    for tick in range(1012, 1020):
        clock.now += 0.04
        viewer.from_loop(_frame(tick * FRAME, False, b"loop"))
    assert moved == [viewer]  # noticed within a quarter of a second
    seen = len(out)
    assert 12 <= seen <= 12 + 6
    clock.now += 0.1  # the live encoder takes a moment to start
    viewer.from_live(_frame(7 * FRAME, False, b"live"))  # before the live key frame: dropped
    viewer.from_live(_frame(8 * FRAME, True, b"live"))
    viewer.from_live(_frame(9 * FRAME, False, b"live"))
    viewer.from_loop(_frame(2000 * FRAME, False, b"loop"))  # the loop is left for good
    assert [f.data for f in out[seen:]] == [b"live", b"live"]
    stamps = [f.pts_90k for f in out]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    gap = stamps[seen] - stamps[seen - 1]
    assert gap % FRAME == 0 and gap >= FRAME
    assert stamps[seen + 1] - stamps[seen] == FRAME


def test_home_is_read_to_a_tenth() -> None:
    assert at_home(HOME)
    assert at_home(PtzPosition(359.97, 0.04, 1.02, moving=False))
    assert not at_home(PtzPosition(0.0, 0.0, 1.0, moving=True))
    assert not at_home(PtzPosition(0.0, -0.2, 1.0, moving=False))
    assert not at_home(PtzPosition(0.0, 0.0, 2.0, moving=False))


async def test_the_hub_serves_the_loop_at_home_and_a_live_feed_elsewhere() -> None:
    hub = VideoHub(SMALL, workers=1, loop_video=True)
    try:
        got: list[EncodedFrame] = []
        at = hub.subscribe("34020000001320000001", lambda: HOME, got.append)
        away = hub.subscribe(
            "34020000001320000002", lambda: PtzPosition(90.0, 0.0, 1.0, False), got.append
        )
        assert isinstance(at, LoopViewer) and isinstance(away, LiveFeed)
        assert hub.loop is not None and hub.loop.subscribers == 1
        assert list(hub.feeds) == [("34020000001320000002", VideoCodec.H264)]
        hub.unsubscribe(at, got.append)
        hub.unsubscribe(away, got.append)
        assert hub.loop.subscribers == 0 and not hub.feeds and not hub.viewers
    finally:
        await hub.close()


def _config(channels: int, **kw: object) -> SimConfig:
    return SimConfig(
        server_host="127.0.0.1",
        server_id="34020000002000000001",
        groups=(DeviceGroup(count=1, channels=channels),),
        **kw,  # type: ignore[arg-type]
    )


def test_auto_loops_above_the_threshold_and_the_choice_can_be_forced() -> None:
    assert not _config(64).loop_video
    assert _config(65).loop_video
    assert not _config(500, video_source=VideoSource.LIVE).loop_video
    assert _config(1, video_source=VideoSource.LOOP).loop_video
    assert _config(9, loop_above_channels=8).loop_video
    with pytest.raises(SimConfigError):
        _config(1, loop_above_channels=-1)


@pytest.mark.parametrize(
    ("argv", "loop"),
    [
        ([], False),
        (["--channels", "100"], True),
        (["--channels", "100", "--video-source", "live"], False),
        (["--video-source", "loop"], True),
        (["--channels", "8", "--loop-above-channels", "4"], True),
    ],
)
def test_the_sim_command_line_chooses_the_source(argv: list[str], loop: bool) -> None:
    parser = argparse.ArgumentParser(prog="sightline")
    add_parser(parser.add_subparsers(dest="command", required=True))
    base = ["sim", "--server", "127.0.0.1:5060", "--server-id", "34020000002000000001"]
    assert config_from_args(parser.parse_args([*base, *argv])).loop_video is loop
