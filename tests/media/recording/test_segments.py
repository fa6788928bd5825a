"""SegmentAssembler cuts and SegmentFiles: real H.264 in, fMP4 segment files out."""

from __future__ import annotations

import asyncio
import errno
import os
from datetime import timedelta
from pathlib import Path

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.media.recording.files import SegmentFiles
from sightline.media.recording.index import ClosedSegment, WriteFailure
from sightline.media.recording.layout import kind_of, segment_path, start_of
from sightline.media.recording.mp4_reader import parse_segment
from sightline.media.recording.segments import (
    AppendFragment,
    CloseSegment,
    OpenSegment,
    SegmentAssembler,
    SegmentOp,
)
from tests.media.recording.conftest import T0, h264_units

CHANNEL = "34020000001310000001"


def _run(assembler: SegmentAssembler, seconds: float, gop: int = 25) -> list[SegmentOp]:
    ops: list[SegmentOp] = []
    for i, unit in enumerate(h264_units(seconds, gop=gop)):
        ops += assembler.push(unit, T0 + timedelta(milliseconds=40 * i))
    return ops + assembler.close()


def test_segments_are_cut_at_the_first_key_frame_after_segment_s() -> None:
    ops = _run(SegmentAssembler(segment_s=2.5, fragment_s=1.0), 8.0, gop=25)
    opens = [op for op in ops if isinstance(op, OpenSegment)]
    closes = [op for op in ops if isinstance(op, CloseSegment)]
    # key frames every 1 s: cuts at 3 s and 6 s, the rest closes at the end
    assert [c.start - T0 for c in closes] == [
        timedelta(0),
        timedelta(seconds=3),
        timedelta(seconds=6),
    ]
    assert [o.start for o in opens] == [c.start for c in closes]
    # consecutive segments touch exactly; the last ends one frame after its last frame
    assert closes[0].end == closes[1].start and closes[1].end == closes[2].start
    assert closes[2].end == T0 + timedelta(seconds=8)
    assert all(c.codec.startswith("avc1.") for c in closes)


def test_fragments_start_at_key_frames_and_last_at_most_fragment_s() -> None:
    ops = _run(SegmentAssembler(segment_s=60, fragment_s=0.5), 4.0, gop=50)
    data = b"".join(
        op.init if isinstance(op, OpenSegment) else op.data
        for op in ops
        if not isinstance(op, CloseSegment)
    )
    parsed = parse_segment(data)
    assert len(parsed.samples) == 100 and not parsed.truncated
    assert parsed.duration_s == pytest.approx(4.0)
    fragments = [op for op in ops if isinstance(op, AppendFragment)]
    assert len(fragments) == 8  # 0.5 s each
    assert [s.keyframe for s in parsed.samples].count(True) == 2


def test_units_before_the_first_key_frame_are_skipped_and_audio_ignored() -> None:
    units = h264_units(2.0, gop=25)
    assembler = SegmentAssembler(segment_s=60)
    ops: list[SegmentOp] = []
    for i, unit in enumerate(units[5:]):
        ops += assembler.push(unit, T0 + timedelta(milliseconds=40 * i))
    assert assembler.skipped == 20
    assert isinstance(ops[0], OpenSegment)
    from dataclasses import replace

    assert assembler.push(replace(units[30], stream_id=0xC0), T0) == []


def test_segment_path_encodes_the_start_time() -> None:
    path = segment_path(CHANNEL, T0 + timedelta(milliseconds=345))
    assert str(path) == f"{CHANNEL}/2026-11-25/20261125T080000.345Z.mp4"
    assert start_of(path) == T0 + timedelta(milliseconds=345)
    assert start_of(Path(str(path) + ".part")) == T0 + timedelta(milliseconds=345)
    assert start_of(Path("notes.txt")) is None
    alarm = segment_path(CHANNEL, T0, "alarm")
    assert alarm.name == "20261125T080000.000Z.alarm.mp4"
    assert start_of(alarm) == T0 and kind_of(alarm) == "alarm" and kind_of(path) == "time"


def _files(root: Path, pattern: str) -> list[Path]:
    return list(root.rglob(pattern))


def _full_disk_at(final: Path) -> bool:
    """Make the segment's .part path a link to /dev/full (writes fail with ENOSPC)."""
    if not os.path.exists("/dev/full"):
        return False
    final.parent.mkdir(parents=True)
    Path(str(final) + ".part").symlink_to("/dev/full")
    return True


@given(st.text(max_size=40))
def test_file_names_that_are_not_segments_give_no_start(name: str) -> None:
    path = (
        Path("x") / name.replace("/", "_").replace("\x00", "_") if name.strip("./") else Path("x")
    )
    start = start_of(path)
    if start is not None:
        assert segment_path(CHANNEL, start, kind_of(path)).name == path.name.removesuffix(".part")


@given(st.from_regex(r"\A[0-9]{8}T[0-9]{6}\.[0-9]{3}Z(\.alarm)?\.mp4(\.part)?\Z"))
def test_segment_names_round_trip_or_are_refused(name: str) -> None:
    start = start_of(Path(name))  # impossible dates (month 13) give None
    if start is not None:
        assert segment_path(CHANNEL, start, kind_of(Path(name))).name == name.removesuffix(".part")


async def _write(
    root: Path, ops: list[SegmentOp]
) -> tuple[list[ClosedSegment], list[WriteFailure]]:
    closed: list[ClosedSegment] = []
    failed: list[WriteFailure] = []
    files = SegmentFiles(root, on_closed=closed.append, on_error=failed.append)
    files.start()
    files.submit(CHANNEL, ops)
    await files.stop()
    await asyncio.sleep(0)
    return closed, failed


async def test_files_are_written_as_part_then_renamed_and_decode(tmp_path: Path) -> None:
    ops = _run(SegmentAssembler(segment_s=2.0), 6.0)
    closed, failed = await _write(tmp_path, ops)
    assert not failed and len(closed) == 3
    assert not _files(tmp_path, "*.part")
    for segment in closed:
        path = tmp_path / segment.path
        assert path.stat().st_size == segment.size_bytes
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        assert len(frames) == 50 and frames[0].width == 320


async def test_open_segment_stays_part_until_closed(tmp_path: Path) -> None:
    assembler = SegmentAssembler(segment_s=60)
    ops: list[SegmentOp] = []
    for i, unit in enumerate(h264_units(3.0)):
        ops += assembler.push(unit, T0 + timedelta(milliseconds=40 * i))
    closed, _ = await _write(tmp_path, ops)
    assert closed == []
    parts = _files(tmp_path, "*.mp4.part")
    assert len(parts) == 1
    assert parse_segment(parts[0].read_bytes()).duration_s == pytest.approx(2.0)


async def test_a_full_disk_stops_the_segment_and_reports_it(tmp_path: Path) -> None:
    """A real ENOSPC: the segment's .part path is a link to /dev/full."""
    if not _full_disk_at(tmp_path / segment_path(CHANNEL, T0)):
        pytest.skip("/dev/full is not available")
    ops = _run(SegmentAssembler(segment_s=60), 2.0)
    closed, failed = await _write(tmp_path, ops)
    assert closed == []
    assert len(failed) == 1 and failed[0].disk_full and failed[0].channel_id == CHANNEL
    assert str(errno.ENOSPC) in failed[0].error or "No space" in failed[0].error


async def test_writes_beyond_the_queue_bound_are_dropped_not_held(tmp_path: Path) -> None:
    closed: list[ClosedSegment] = []
    files = SegmentFiles(
        tmp_path, on_closed=closed.append, on_error=lambda f: None, max_queue_bytes=1
    )
    ops = _run(SegmentAssembler(segment_s=60), 3.0)
    files.submit(CHANNEL, ops)  # the thread is not started: nothing drains the queue
    fragments = sum(isinstance(op, AppendFragment) for op in ops)
    assert files.dropped[CHANNEL] == fragments
    assert files.queued_bytes == 0
