"""The simulator's test picture: the rows read back exactly, survive encoding, and move with PTZ."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.sim import SimConfigError
from sightline.sim.ptz_state import PtzPosition
from sightline.sim.video import (
    Layout,
    Plane,
    TestPattern,
    VideoCodec,
    VideoSettings,
    read_ptz,
    read_time_ms,
)
from sightline.sim.video_feed import EncodedFrame, FrameEncoder, LiveFeed

SIZES = [(320, 180), (640, 360), (704, 576), (1280, 720)]
HOME = PtzPosition(0.0, 0.0, 1.0, moving=False)


def _luma(frame: Plane) -> Plane:
    return frame[: frame.shape[0] * 2 // 3]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_time_and_ptz_rows_read_back_at_every_size(width: int, height: int) -> None:
    pattern = TestPattern(width, height, label="34020000001320000001", noise_rows=40)
    ptz = PtzPosition(123.4, -45.6, 7.8, moving=False)
    luma = _luma(pattern.render(unix_ms=1_767_225_600_123, ptz=ptz, frame_index=3))
    assert read_time_ms(luma) == 1_767_225_600_123
    reading = read_ptz(luma)
    assert reading is not None
    assert (reading.pan, reading.tilt, reading.zoom) == (123.4, -45.6, 7.8)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=(1 << 44) - 1),
    st.floats(min_value=0, max_value=359.9),
    st.floats(min_value=-90, max_value=30),
    st.floats(min_value=1, max_value=30),
)
def test_rows_round_trip(unix_ms: int, pan: float, tilt: float, zoom: float) -> None:
    pattern = _PATTERN
    luma = _luma(
        pattern.render(unix_ms=unix_ms, ptz=PtzPosition(pan, tilt, zoom, False), frame_index=0)
    )
    assert read_time_ms(luma) == unix_ms
    reading = read_ptz(luma)
    assert reading is not None
    # tenths of a unit on the wire: within half a step of the true value
    assert reading.pan == pytest.approx(pan, abs=0.0501)
    assert reading.tilt == pytest.approx(tilt, abs=0.0501)
    assert reading.zoom == pytest.approx(zoom, abs=0.0501)


_PATTERN = TestPattern(320, 180, label="1")


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=255), st.integers(min_value=0, max_value=255))
def test_pictures_without_the_rows_read_as_none(low: int, high: int) -> None:
    rng = np.random.default_rng(low * 256 + high)
    noise = rng.integers(min(low, high), max(low, high) + 1, size=(180, 320), dtype=np.uint8)
    assert read_time_ms(noise) is None
    assert read_ptz(noise) is None


def test_a_flipped_bit_is_caught_by_the_check() -> None:
    luma = _luma(_PATTERN.render(unix_ms=1_000_000, ptz=HOME, frame_index=0)).copy()
    layout = _PATTERN.layout
    x = (2 + 2 + 43) * layout.cell  # the last (least significant) time bit
    top = layout.time_top
    cell = luma[top : top + layout.cell, x : x + layout.cell]
    cell[:] = 235 if cell.mean() < 128 else 16
    assert read_time_ms(luma) is None


def test_frames_are_never_black_and_carry_the_label() -> None:
    pattern = TestPattern(640, 360, label="34020000001320000001", noise_rows=100)
    luma = _luma(pattern.render(unix_ms=0, ptz=HOME, frame_index=0))
    assert luma.mean() > 60
    assert luma.std() > 30


def _stripe_shift(before: Plane, after: Plane, layout: Layout, period: int) -> int:
    top, stop = layout.pan_band
    a = before[top:stop].mean(axis=0) - before[top:stop].mean()
    b = after[top:stop].mean(axis=0) - after[top:stop].mean()
    scores = [float(np.dot(np.roll(a, -shift), b)) for shift in range(period)]
    return int(np.argmax(scores))


def test_panning_shifts_the_scene_and_zoom_scales_it() -> None:
    pattern = TestPattern(640, 360, label="x")
    layout = pattern.layout
    period = layout.stripe_period(1.0)
    before = _luma(pattern.render(unix_ms=0, ptz=HOME, frame_index=0)).copy()
    after = _luma(pattern.render(unix_ms=0, ptz=PtzPosition(1.5, 0, 1, False), frame_index=0))
    expected = round(1.5 * layout.pixels_per_degree) % period
    assert _stripe_shift(before, after, layout, period) == expected
    zoomed = _luma(pattern.render(unix_ms=0, ptz=PtzPosition(0, 0, 3.0, False), frame_index=0))
    top = layout.pan_band[0]
    assert _edges(zoomed[top]) < _edges(before[top]) / 2


def _edges(row: Plane) -> int:
    return int(np.count_nonzero(np.diff(row.astype(int))))


@pytest.mark.parametrize(("width", "height"), [(318, 180), (320, 179), (160, 90)])
def test_sizes_that_cannot_carry_the_pattern_are_refused(width: int, height: int) -> None:
    with pytest.raises(SimConfigError):
        VideoSettings(width=width, height=height)


@pytest.mark.parametrize("field", [{"fps": 0}, {"bitrate_kbps": 1}, {"gop_s": 0}])
def test_bad_video_settings_are_refused(field: dict[str, float]) -> None:
    with pytest.raises(SimConfigError):
        VideoSettings(**field)  # type: ignore[arg-type]


@pytest.mark.parametrize("codec", list(VideoCodec))
def test_encoded_frames_decode_and_the_rows_survive_compression(codec: VideoCodec) -> None:
    video = VideoSettings(codec=codec, width=640, height=360, bitrate_kbps=512)
    pattern = TestPattern(640, 360, label="34020000001320000001", noise_rows=video.noise_rows)
    encoder = FrameEncoder(video)
    decoder = av.CodecContext.create("h264" if codec is VideoCodec.H264 else "hevc", "r")
    sent: list[tuple[int, float]] = []
    read: list[tuple[int | None, float | None]] = []
    keys: list[bool] = []
    for index in range(30):
        unix_ms = 1_767_225_600_000 + index * 40
        ptz = PtzPosition(index * 2.5, -5.0, 1.5, moving=True)
        sent.append((unix_ms, ptz.pan))
        picture = pattern.render(unix_ms=unix_ms, ptz=ptz, frame_index=index)
        for data, key in encoder.encode(picture, index, force_key=index == 17):
            keys.append(key)
            for frame in decoder.decode(av.Packet(data)):
                luma = np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
                reading = read_ptz(luma)
                read.append((read_time_ms(luma), None if reading is None else reading.pan))
    encoder.close()
    assert keys[0] and keys[17] and not any(keys[1:17])  # IDR first and where forced
    assert read and read == sent[: len(read)]


async def test_a_live_feed_paces_frames_and_forces_a_key_frame_per_subscriber() -> None:
    video = VideoSettings(width=320, height=180, fps=25, bitrate_kbps=256)
    with ThreadPoolExecutor(2) as pool:
        feed = LiveFeed("34020000001320000001", video, lambda: HOME, pool)
        first: list[tuple[float, EncodedFrame]] = []
        second: list[EncodedFrame] = []
        feed.subscribe(lambda f: first.append((time.monotonic(), f)))
        await asyncio.sleep(0.5)
        feed.subscribe(second.append)
        await asyncio.sleep(0.5)
        await feed.close()
    assert first[0][1].keyframe and second[0].keyframe
    assert sum(f.keyframe for _, f in first) == 2  # its own start and the second subscriber's
    span = first[-1][0] - first[0][0]
    assert 0.8 * 25 * span <= len(first) - 1 <= 1.2 * 25 * span + 1
    steps = [b.pts_90k - a.pts_90k for (_, a), (_, b) in itertools.pairwise(first)]
    assert all(step % 3600 == 0 for step in steps)  # frames skipped under load keep the clock
    assert steps.count(3600) >= 0.8 * len(steps)
    assert all(abs(f.unix_ms - time.time() * 1000) < 5000 for f in second)
