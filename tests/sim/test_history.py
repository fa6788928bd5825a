"""The simulator's recording history, its RecordInfo pages, the playback clock, and a
history feed's pictures carrying the recorded instant (``sightline.sim.history*``)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.gb28181.manscdp import RecordInfoQuery, RecordInfoResponse
from sightline.sim.answers import react
from sightline.sim.config import DeviceGroup, SimConfig
from sightline.sim.history import (
    RETENTION_DAYS,
    SIM_ZONE,
    PlaybackClock,
    record_info_pages,
    recordings,
)
from sightline.sim.history_feed import HistoryFeed
from sightline.sim.host import SimHost
from sightline.sim.ptz_state import PtzPosition
from sightline.sim.video import Layout, TestPattern, VideoSettings, read_time_ms
from sightline.sim.video_feed import EncodedFrame

CHANNEL = "34020000001310000001"
OTHER = "34020000001310000002"
NOW = 1_795_000_000.0  # 2026-11-18, a fixed "now" for pure tests
HOUR = 3600


def test_history_is_hourly_with_a_few_gaps_and_the_same_every_time() -> None:
    day_end = (int(NOW) // HOUR - 1) * HOUR
    files = recordings(CHANNEL, day_end - 24 * HOUR, day_end, NOW)
    assert len(files) == 24
    assert files == recordings(CHANNEL, day_end - 24 * HOUR, day_end, NOW)
    assert all(f.start % HOUR == 0 and f.end - f.start in (1200, 1800, 2400, 3600) for f in files)
    assert 1 <= sum(f.end - f.start < HOUR for f in files) <= 12
    assert recordings(OTHER, day_end - 24 * HOUR, day_end, NOW) != files


def test_history_stops_at_now_and_at_the_retention() -> None:
    files = recordings(CHANNEL, NOW - 2 * HOUR, NOW + 5 * HOUR, NOW)
    assert files[-1].end <= NOW
    old = recordings(CHANNEL, NOW - 90 * 86400, NOW - 60 * 86400, NOW)
    assert old == []
    assert recordings(CHANNEL, NOW - RETENTION_DAYS * 86400 - HOUR, NOW, NOW)[0].start >= (
        NOW - RETENTION_DAYS * 86400 - HOUR
    )


def test_record_info_is_split_into_pages_with_the_total_and_local_times() -> None:
    start = (int(NOW) // HOUR - 30) * HOUR
    files = recordings(CHANNEL, start, start + 20 * HOUR, NOW)
    pages = record_info_pages(7, CHANNEL, files, SIM_ZONE, 8)
    assert [len(p.items) for p in pages] == [8, 8, 4]
    assert {p.sum_num for p in pages} == {20} and {p.sn for p in pages} == {7}
    first = pages[0].items[0]
    assert first.start_time == datetime.fromtimestamp(files[0].start, SIM_ZONE).replace(tzinfo=None)
    empty = record_info_pages(8, CHANNEL, [], SIM_ZONE, 8)
    assert len(empty) == 1 and empty[0].sum_num == 0


def test_the_device_answers_record_info_from_its_history() -> None:
    config = SimConfig(
        server_host="127.0.0.1",
        server_id="34020000002000000001",
        groups=(DeviceGroup(count=1, channels=4),),
    )
    device = next(iter(SimHost(config).devices.values()))
    channel = device.channel_id(1)
    local_now = datetime.fromtimestamp(NOW, SIM_ZONE).replace(tzinfo=None)
    query = RecordInfoQuery(
        sn=3,
        device_id=channel,
        start_time=local_now - timedelta(hours=20),
        end_time=local_now - timedelta(hours=1),
    )
    replies = react(device, query, 0.0, local_now).replies
    expected = recordings(channel, NOW - 20 * HOUR, NOW - HOUR, NOW)
    assert all(isinstance(r, RecordInfoResponse) for r in replies)
    items = [i for r in replies if isinstance(r, RecordInfoResponse) for i in r.items]
    assert [(i.start_time, i.end_time) for i in items] == [
        (
            datetime.fromtimestamp(f.start, SIM_ZONE).replace(tzinfo=None),
            datetime.fromtimestamp(f.end, SIM_ZONE).replace(tzinfo=None),
        )
        for f in expected
    ]
    assert len(replies) == 3  # 20 files, 8 per message
    unknown = RecordInfoQuery(
        sn=4, device_id="34020000001310099999", start_time=query.start_time, end_time=query.end_time
    )
    (none,) = react(device, unknown, 0.0, local_now).replies
    assert isinstance(none, RecordInfoResponse) and none.sum_num == 0


def test_the_clock_advances_a_frame_period_times_the_scale_and_skips_gaps() -> None:
    day_end = (int(NOW) // HOUR - 1) * HOUR
    files = recordings(CHANNEL, day_end - 24 * HOUR, day_end, NOW)
    gapped = next(f for f in files if f.end - f.start < HOUR)
    clock = PlaybackClock(CHANNEL, gapped.end - 1, gapped.start + HOUR + 10, fps=10, now=NOW)
    shown = [clock.next_frame() for _ in range(10)]
    assert shown[0] == gapped.end - 1
    assert shown[9] == pytest.approx(gapped.end - 0.1)
    assert clock.next_frame() == gapped.start + HOUR  # over the gap, to the next file
    clock.set_scale(4.0)
    a, b = clock.next_frame(), clock.next_frame()
    assert a is not None and b is not None and b - a == pytest.approx(0.4)
    with pytest.raises(ValueError):
        clock.set_scale(3.0)


def test_pause_seek_and_the_end() -> None:
    start = (int(NOW) // HOUR - 5) * HOUR + 60.0
    clock = PlaybackClock(CHANNEL, start, start + 2, fps=5, now=NOW, speed=4)
    assert clock.frame_interval_s == pytest.approx(0.05)
    clock.pause()
    assert clock.next_frame() is None and not clock.finished
    clock.resume()
    clock.seek(1.0)
    assert clock.next_frame() == start + 1.0
    while clock.next_frame() is not None:
        pass
    assert clock.finished and clock.position >= start + 2
    with pytest.raises(ValueError):
        clock.seek(-1)
    with pytest.raises(ValueError):
        PlaybackClock(CHANNEL, start, start, fps=5, now=NOW)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=(1 << 44) - 1))
def test_the_time_row_reads_back_what_was_drawn(unix_ms: int) -> None:
    pattern = TestPattern(320, 180, label=CHANNEL)
    picture = pattern.render(unix_ms=unix_ms, ptz=PtzPosition(0, 0, 1, False), frame_index=0)
    assert read_time_ms(picture[:180]) == unix_ms
    assert Layout.for_size(320, 180).cell >= 5


async def test_a_history_feed_sends_pictures_of_the_recorded_time_and_obeys_pause() -> None:
    start = (int(NOW) // HOUR - 5) * HOUR + 120.0
    video = VideoSettings(width=320, height=180, fps=10, bitrate_kbps=200)
    clock = PlaybackClock(CHANNEL, start, start + 1.5, fps=10, now=NOW, speed=4)
    finished = asyncio.Event()
    feed = HistoryFeed(clock, video, None, on_finished=finished.set)
    got: list[EncodedFrame] = []
    detach = feed.attach(got.append)
    await asyncio.sleep(0.1)
    feed.pause()
    await asyncio.sleep(0.2)
    during_pause = len(got)
    await asyncio.sleep(0.2)
    assert len(got) == during_pause
    feed.seek(0.5)
    async with asyncio.timeout(5):
        await finished.wait()
    detach()
    decoder = av.CodecContext.create("h264", "r")
    shown = []
    for frame in got:
        for picture in decoder.decode(av.Packet(frame.data)):
            assert isinstance(picture, av.VideoFrame)
            value = read_time_ms(picture.to_ndarray(format="gray"))
            assert value is not None
            shown.append(value / 1000)
    assert shown[0] == start
    assert start + 0.5 in shown  # the seek
    assert shown[-1] == pytest.approx(start + 1.4)
    assert got[0].keyframe
    assert [f.pts_90k for f in got] == [k * 9000 for k in range(len(got))]
    seek_at = shown.index(start + 0.5)
    assert all(b > a for a, b in itertools.pairwise(shown[seek_at:]))
