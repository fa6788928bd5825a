"""Where segment files live: ``<root>/<channel>/<YYYY-MM-DD>/<start>.mp4`` (UTC).

The file name is the segment's start time to the millisecond (``20261125T170812.345Z.mp4``),
so a file found without its index row (a crash between rename and insert) can be indexed again;
the open segment is ``<start>.mp4.part`` until it is closed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

__all__ = ["PART_SUFFIX", "channel_of", "kind_of", "relative_path", "segment_path", "start_of"]

PART_SUFFIX = ".part"
TIME = "time"
_NAME = re.compile(r"^([0-9]{8}T[0-9]{6}\.[0-9]{3})Z(?:\.(alarm|manual))?\.mp4\Z")
_FORMAT = "%Y%m%dT%H%M%S.%f"


def segment_path(channel_id: str, start: datetime, kind: str = TIME) -> PurePosixPath:
    """The closed segment's path relative to the recordings root (``.alarm`` for alarms)."""
    utc = start.astimezone(UTC)
    tag = "" if kind == TIME else f".{kind}"
    day = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"  # %Y is not zero-padded below 1000
    clock = f"{utc.hour:02d}{utc.minute:02d}{utc.second:02d}.{utc.microsecond // 1000:03d}"
    name = f"{day.replace('-', '')}T{clock}Z{tag}.mp4"
    return PurePosixPath(channel_id, day, name)


def relative_path(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` with ``/`` separators, as stored in the index."""
    return path.relative_to(root).as_posix()


def start_of(path: Path | PurePosixPath) -> datetime | None:
    """The start time encoded in a segment's file name (``.part`` allowed), else None."""
    name = path.name.removesuffix(PART_SUFFIX)
    match = _NAME.match(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1) + "000", _FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def kind_of(path: Path | PurePosixPath) -> str:
    """The record kind a segment's file name says: ``time`` (default), ``alarm``, ``manual``."""
    match = _NAME.match(path.name.removesuffix(PART_SUFFIX))
    return (match.group(2) if match is not None else None) or TIME


def channel_of(relative: str) -> str:
    """The channel directory of a stored relative path."""
    return relative.split("/", 1)[0]
