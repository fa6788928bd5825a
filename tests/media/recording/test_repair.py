"""Start-up repair: .part files salvaged or deleted, index rows and files reconciled."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import av
import pytest

from sightline.media.recording import RecordingOptions, RecordingService
from sightline.media.recording.files import SegmentFiles
from sightline.media.recording.index import ClosedSegment
from sightline.media.recording.layout import PART_SUFFIX
from sightline.media.recording.mp4_reader import parse_segment
from sightline.media.recording.repair import salvage_part, scan
from sightline.media.recording.segments import SegmentAssembler, SegmentOp
from sightline.store.repositories.recording import RecordingStore
from tests.media.recording.conftest import T0, h264_units

CHANNEL = "34020000001310000001"
FAR = T0 + timedelta(days=1)


async def _record(root: Path, seconds: float, *, close: bool) -> list[ClosedSegment]:
    """Write ``seconds`` of 2 s segments; with ``close`` False the last one stays ``.part``."""
    assembler = SegmentAssembler(segment_s=2.0, fragment_s=0.5)
    ops: list[SegmentOp] = []
    for i, unit in enumerate(h264_units(seconds)):
        ops += assembler.push(unit, T0 + timedelta(milliseconds=40 * i))
    if close:
        ops += assembler.close()
    closed: list[ClosedSegment] = []
    files = SegmentFiles(root, on_closed=closed.append, on_error=lambda f: None, fsync=False)
    files.start()
    files.submit(CHANNEL, ops)
    await files.barrier()
    await files.stop()
    return closed


def _parts(root: Path) -> list[Path]:
    return list(root.rglob(f"*{PART_SUFFIX}"))


def _part(root: Path) -> Path:
    (part,) = root.rglob(f"*{PART_SUFFIX}")
    return part


def _cut(path: Path, drop: int = 0, keep: int | None = None) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(keep if keep is not None else size - drop)


def _write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return len(list(container.decode(video=0)))


async def test_a_part_cut_mid_fragment_keeps_its_whole_fragments(tmp_path: Path) -> None:
    await _record(tmp_path, 5.6, close=False)  # fragments 4.0-4.5, 4.5-5.0, 5.0-5.5 written
    part = _part(tmp_path)
    _cut(part, drop=1000)  # the crash cut the last fragment short
    salvaged = salvage_part(tmp_path, part)
    assert salvaged is not None and not part.exists()
    final = tmp_path / salvaged.path
    assert salvaged.start == T0 + timedelta(seconds=4)
    # the third fragment is cut: two whole ones (1 s) are kept
    assert salvaged.end - salvaged.start == timedelta(seconds=1)
    assert _decoded_frames(final) == 25
    assert parse_segment(final.read_bytes()).truncated is False


async def test_a_part_without_a_whole_fragment_is_deleted(tmp_path: Path) -> None:
    await _record(tmp_path, 5.0, close=False)
    part = _part(tmp_path)
    _cut(part, keep=1500)
    assert salvage_part(tmp_path, part) is None
    assert not part.exists()
    garbage = part.with_name("20261125T090000.000Z.mp4" + PART_SUFFIX)
    _write_bytes(garbage, b"\x00\x00\x00\x10junkjunk")
    found = scan(tmp_path)
    assert found.deleted_parts == 1 and not garbage.exists()


async def test_start_repairs_the_disk_and_the_index(tmp_path: Path, store: RecordingStore) -> None:
    root = tmp_path / "recordings"
    closed = await _record(root, 7.0, close=False)  # 0-2, 2-4, 4-6 closed, 6-7 open
    assert len(closed) == 3
    # the index knew the first two only (a crash before the third row was written) ...
    await store.add_segments(closed[:2])
    # ... and a row whose file is gone
    ghost = ClosedSegment(
        CHANNEL, T0 - timedelta(hours=1), T0, f"{CHANNEL}/2026-11-25/x.mp4", 1, "avc1"
    )
    await store.add_segments([ghost])

    async def never(channel_id: str) -> object:
        raise AssertionError("no plan: nothing joins")

    service = RecordingService(
        root,
        index=store,
        plans=store,
        join=never,  # type: ignore[arg-type]
        leave=lambda viewer: None,
        options=RecordingOptions(disk_ceiling_percent=None, fsync=False),
    )
    found = await service.start()
    await service.stop()
    assert len(found.salvaged) == 1 and found.deleted_parts == 0
    rows = await store.segments_between(CHANNEL, T0 - timedelta(hours=2), FAR)
    assert [r.start - T0 for r in rows] == [timedelta(seconds=s) for s in (0, 2, 4, 6)]
    assert rows[2].end - rows[2].start == timedelta(seconds=2)  # indexed again from its file
    # the salvaged .part: its whole fragment (the open one was never written) is kept
    assert rows[3].end - rows[3].start == timedelta(seconds=0.52)
    assert ghost.path not in await store.all_paths()
    for row in rows:
        assert _decoded_frames(root / row.path) == round((row.end - row.start).total_seconds() * 25)
    assert not _parts(root)


def test_scan_ignores_what_is_not_a_segment(tmp_path: Path) -> None:
    (tmp_path / CHANNEL / "2026-11-25").mkdir(parents=True)
    (tmp_path / CHANNEL / "2026-11-25" / "notes.txt").write_text("hello")
    assert scan(tmp_path).files == frozenset()
    shutil.rmtree(tmp_path / CHANNEL)
    assert scan(tmp_path).files == frozenset()


@pytest.mark.parametrize("size", [0, 8, 40])
def test_tiny_parts_are_deleted(tmp_path: Path, size: int) -> None:
    part = tmp_path / CHANNEL / "2026-11-25" / ("20261125T080000.000Z.mp4" + PART_SUFFIX)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\x00" * size)
    assert salvage_part(tmp_path, part) is None and not part.exists()
