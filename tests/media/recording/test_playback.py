"""PlatformRecordSource: search, paced playback with VCR controls, MP4 export."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import av
import pytest

from sightline.media.playback import RecordSourceName
from sightline.media.recording import NoRecordingError, PlatformRecordSource, SegmentPlayback
from sightline.media.recording.files import SegmentFiles
from sightline.media.recording.index import ClosedSegment
from sightline.media.recording.segment_file import SegmentFile
from sightline.media.recording.segments import SegmentAssembler, SegmentOp
from sightline.store.repositories.recording import RecordingStore
from tests.media.recording.conftest import T0, h264_units

CHANNEL = "34020000001310000001"


async def _record(root: Path, store: RecordingStore, seconds: float, start_s: float = 0) -> None:
    assembler = SegmentAssembler(segment_s=2.0)
    ops: list[SegmentOp] = []
    for i, unit in enumerate(h264_units(seconds)):
        ops += assembler.push(unit, T0 + timedelta(seconds=start_s, milliseconds=40 * i))
    ops += assembler.close()
    closed: list[ClosedSegment] = []
    files = SegmentFiles(root, on_closed=closed.append, on_error=lambda f: None, fsync=False)
    files.start()
    files.submit(CHANNEL, ops)
    await files.barrier()
    await files.stop()
    await store.add_segments(closed)


class FakeTime:
    """The player's loop clock; ``sleep`` advances it and records the delay."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


@pytest.fixture
async def source(tmp_path: Path, store: RecordingStore) -> PlatformRecordSource:
    await _record(tmp_path, store, 6.0)  # 0-2, 2-4, 4-6
    await _record(tmp_path, store, 2.0, start_s=10)  # after a gap: 10-12
    return PlatformRecordSource(tmp_path, store)


async def test_search_merges_touching_segments_and_keeps_exact_times(
    source: PlatformRecordSource,
) -> None:
    found = await source.search(CHANNEL, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [(s.start - T0, s.end - T0) for s in found] == [
        (timedelta(0), timedelta(seconds=6)),
        (timedelta(seconds=10), timedelta(seconds=12)),
    ]
    assert all(s.source is RecordSourceName.PLATFORM and s.size_bytes for s in found)
    assert await source.search(CHANNEL, T0 + timedelta(seconds=7), T0 + timedelta(seconds=9)) == []
    assert await source.search("34020000001310000099", T0, T0 + timedelta(hours=1)) == []
    with pytest.raises(ValueError):
        await source.search(CHANNEL, T0, T0)


async def _open(
    source: PlatformRecordSource,
    store: RecordingStore,
    start_s: float,
    end_s: float,
    time: FakeTime,
) -> SegmentPlayback:
    start, end = T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s)
    rows = await store.segments_between(CHANNEL, start, end)
    return SegmentPlayback(source.root, rows, start, end, clock=time.clock, sleep=time.sleep)


async def test_playback_starts_at_the_key_frame_before_and_is_paced(
    source: PlatformRecordSource, store: RecordingStore
) -> None:
    time = FakeTime()
    player = await _open(source, store, 2.5, 4.5, time)
    units = [u async for u in player.frames()]
    # from the key frame at 2.0 (GOP 1 s) up to, not including, 4.5
    assert len(units) == 63 and units[0].keyframe
    assert [u.dts_90k for u in units[:3]] == [0, 3600, 7200]
    assert time.now - 100.0 == pytest.approx(62 * 0.04)
    assert player.position == T0 + timedelta(seconds=4.48)


async def test_scale_pause_and_seek(source: PlatformRecordSource, store: RecordingStore) -> None:
    time = FakeTime()
    player = await _open(source, store, 0, 6, time)
    frames = player.frames()
    first = await anext(frames)
    assert first.keyframe
    await player.set_scale(2.0)
    await anext(frames)
    await anext(frames)
    assert time.sleeps[-1] == pytest.approx(0.02)  # 40 ms of video in 20 ms
    await player.set_scale(8.0)
    keys = [await anext(frames) for _ in range(3)]
    assert all(u.keyframe for u in keys)  # 8x: key frames only
    with pytest.raises(ValueError):
        await player.set_scale(3.0)
    await player.set_scale(1.0)
    await player.seek(1.5)  # back to the key frame at 1.0
    after_seek = await anext(frames)
    assert after_seek.keyframe and player.position == T0 + timedelta(seconds=1)
    assert after_seek.dts_90k > keys[-1].dts_90k  # the played timeline never goes back
    await player.pause()
    waiting = asyncio.ensure_future(anext(frames))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await player.resume()
    assert not (await waiting).keyframe
    with pytest.raises(ValueError):
        await player.seek(60)
    await player.close()
    assert [u async for u in frames] == []


async def test_playback_skips_the_gap_between_recordings(
    source: PlatformRecordSource, store: RecordingStore
) -> None:
    time = FakeTime()
    player = await _open(source, store, 5, 11, time)
    units = [u async for u in player.frames()]
    assert len(units) == 25 + 25  # 5-6, then 10-11
    assert player.position == T0 + timedelta(seconds=10.96)


async def test_open_playback_of_nothing_says_so(source: PlatformRecordSource) -> None:
    with pytest.raises(NoRecordingError):
        await source.open_playback(CHANNEL, T0 + timedelta(seconds=7), T0 + timedelta(seconds=9))
    player = await source.open_playback(CHANNEL, T0, T0 + timedelta(seconds=1))
    assert player.start == T0
    await player.close()


async def test_export_writes_an_mp4_of_the_range(
    source: PlatformRecordSource, tmp_path: Path
) -> None:
    progress: list[float] = []
    out = await source.export(
        CHANNEL,
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=5),
        tmp_path / "clip.mp4",
        progress.append,
    )
    await asyncio.sleep(0)
    assert out == tmp_path / "clip.mp4"
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(video=0))
        assert container.format.name.startswith("mov")
        assert stream.duration is not None and stream.time_base is not None
        duration_s = float(stream.duration * stream.time_base)
    assert len(frames) == 100  # 1.0 (a key frame) to 5.0
    assert duration_s == pytest.approx(4.0, abs=0.05)
    assert progress[-1] == 1.0 and progress == sorted(progress)
    with pytest.raises(NoRecordingError):
        await source.export(
            CHANNEL,
            T0 + timedelta(seconds=7),
            T0 + timedelta(seconds=8),
            tmp_path / "none.mp4",
            progress.append,
        )


def _leftovers(root: Path) -> list[Path]:
    return list(root.glob("cancelled.mp4*"))


async def test_a_cancelled_export_stops_writing_and_leaves_no_file(
    source: PlatformRecordSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    loaded: list[str] = []
    second = asyncio.Event()
    gate = threading.Event()

    class SlowSegmentFile(SegmentFile):
        def __init__(self, path: Path) -> None:
            loaded.append(path.name)
            if len(loaded) == 2:
                loop.call_soon_threadsafe(second.set)
                gate.wait(10)  # the second segment is read only once the export was cancelled
            super().__init__(path)

    monkeypatch.setattr("sightline.media.recording.source.SegmentFile", SlowSegmentFile)
    out = tmp_path / "cancelled.mp4"
    task = asyncio.ensure_future(
        source.export(CHANNEL, T0, T0 + timedelta(seconds=12), out, lambda f: None)
    )
    await asyncio.wait_for(second.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    for _ in range(500):  # the worker thread notices at its next sample and drops the file
        if not _leftovers(tmp_path):
            break
        await asyncio.sleep(0.01)
    assert not _leftovers(tmp_path)
    assert len(loaded) == 2  # no segment read after the cancel
