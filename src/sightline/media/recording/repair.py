"""Start-up repair: salvage ``.part`` files and make the index agree with the disk.

After a crash (``kill -9``, power loss) the open segment of each channel is a ``.part`` file
whose last fragment may be cut short. :func:`salvage_part` keeps every whole fragment: the file
is truncated after the last complete ``mdat`` and renamed to ``.mp4``; a file without one whole
fragment (or whose header is unreadable) is deleted. :func:`scan` then lists what is on disk, so
the service can drop index rows whose files are gone and index files that have no row (a crash
between the rename and the insert).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sightline.media.recording.errors import Mp4FormatError
from sightline.media.recording.index import ClosedSegment
from sightline.media.recording.layout import PART_SUFFIX, kind_of, start_of
from sightline.media.recording.mp4_reader import parse_segment

__all__ = ["DiskScan", "describe_file", "salvage_part", "scan"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DiskScan:
    """Closed segment files (relative paths) and what salvaging ``.part`` files did."""

    files: frozenset[str]
    salvaged: tuple[ClosedSegment, ...]
    deleted_parts: int


def describe_file(root: Path, path: Path) -> ClosedSegment | None:
    """Index data of a closed segment file read from disk; None when it is unusable."""
    start = start_of(path)
    if start is None or path.is_symlink() or not path.is_file():
        return None
    try:
        parsed = parse_segment(path.read_bytes())
    except (OSError, Mp4FormatError) as exc:
        log.warning("recording %s is unreadable: %s", path, exc)
        return None
    if not parsed.samples:
        return None
    end = start + timedelta(microseconds=parsed.duration_ticks * 1_000_000 // parsed.timescale)
    codec = "avc1" if parsed.codec.value == "h264" else "hvc1"
    rel = path.relative_to(root).as_posix()
    size = path.stat().st_size
    return ClosedSegment(rel.split("/", 1)[0], start, end, rel, size, codec, kind_of(path))


def salvage_part(root: Path, part: Path) -> ClosedSegment | None:
    """Keep the whole fragments of ``part`` as a closed segment, or delete it; see above."""
    final = part.with_name(part.name.removesuffix(PART_SUFFIX))
    if part.is_symlink() or not part.is_file():
        log.warning("recording %s is not a regular file; removed", part)
        with contextlib.suppress(OSError):
            part.unlink()
        return None
    try:
        data = part.read_bytes()
        parsed = parse_segment(data)
    except (OSError, Mp4FormatError) as exc:
        log.warning("recording %s cannot be salvaged (%s); deleted", part, exc)
        with contextlib.suppress(OSError):
            part.unlink()
        return None
    if not parsed.samples:
        log.info("recording %s holds no whole fragment; deleted", part)
        with contextlib.suppress(OSError):
            part.unlink()
        return None
    with open(part, "r+b") as handle:
        handle.truncate(parsed.complete_bytes)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(part, final)
    log.info(
        "recording %s salvaged: %d frames, %.1f s (%d bytes cut)",
        final,
        len(parsed.samples),
        parsed.duration_s,
        len(data) - parsed.complete_bytes,
    )
    return describe_file(root, final)


def scan(root: Path) -> DiskScan:
    """Salvage every ``.part`` under ``root`` and list the closed segment files (blocking)."""
    salvaged: list[ClosedSegment] = []
    deleted = 0
    for part in sorted(root.glob(f"*/*/*.mp4{PART_SUFFIX}")):
        result = salvage_part(root, part)
        if result is None:
            deleted += 1
        else:
            salvaged.append(result)
    files = frozenset(p.relative_to(root).as_posix() for p in root.glob("*/*/*.mp4"))
    return DiskScan(files, tuple(salvaged), deleted)
