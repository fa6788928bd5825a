"""Segment files read in pieces: the index from box headers, frames in bounded batches.

A one-minute segment of a 4 Mbit/s camera is 30 MB, and every playback and export used to
read its whole file into memory. :class:`SegmentFile` reads only the small boxes (``ftyp``,
``moov``, each fragment's ``moof``) to build the same :class:`ParsedSegment` that
:func:`~sightline.media.recording.mp4_reader.parse_segment` builds from the whole file, and
then reads the frames' bytes a batch at a time (``read``: one ``pread`` per run of samples that
lie together, as a fragment's do). Memory per open segment is one batch (``BATCH_BYTES``).

Both readers give the same index on every input, cut or hostile (see the tests); a file that
changes under a reader is not expected (segments are immutable once indexed, and Linux keeps an
open file's data after retention deletes it).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from sightline.media.ps_format import Codec
from sightline.media.recording.errors import Mp4FormatError
from sightline.media.recording.mp4_reader import (
    Box,
    ParsedSegment,
    Sample,
    read_moov,
    read_traf,
)

__all__ = ["BATCH_BYTES", "SegmentFile", "parse_segment_file"]

BATCH_BYTES = 2 * 1024 * 1024  # one read's worth of frames: ~4 s of a 4 Mbit/s camera
_BOX_BODIES = (b"moov", b"moof")  # the only boxes whose bodies the index needs
_MAX_INDEX_BOX = 64 * 1024 * 1024  # a moov or moof larger than this is not the recorder's


def _header(file: BinaryIO, pos: int, end: int) -> tuple[bytes, int, int]:
    """The box at ``pos``: (kind, header length, size); Mp4FormatError when cut or bad."""
    if pos + 8 > end:
        raise Mp4FormatError(f"truncated box header at byte {pos}")
    head = os.pread(file.fileno(), 16, pos)
    size, kind = struct.unpack_from("!I4s", head)
    header = 8
    if size == 1:
        if pos + 16 > end or len(head) < 16:
            raise Mp4FormatError(f"truncated large box header at byte {pos}")
        (size,) = struct.unpack_from("!Q", head, 8)
        header = 16
    if size < header or pos + size > end:
        raise Mp4FormatError(f"box {kind!r} at byte {pos} runs past the end ({size} bytes)")
    return bytes(kind), header, size


def _body(file: BinaryIO, pos: int, size: int, kind: bytes) -> bytes:
    if size > _MAX_INDEX_BOX:
        raise Mp4FormatError(f"{kind.decode('latin-1')} box of {size} bytes is too large")
    data = os.pread(file.fileno(), size, pos)
    if len(data) != size:
        raise Mp4FormatError(f"{kind.decode('latin-1')} box at byte {pos} could not be read")
    return data


def parse_segment_file(file: BinaryIO) -> ParsedSegment:
    """``parse_segment`` over an open file, reading only the boxes the index needs."""
    end = os.fstat(file.fileno()).st_size
    codec: Codec | None = None
    timescale = 0
    samples: list[Sample] = []
    complete = 0
    pending: tuple[int, bytes, int] | None = None  # moof: file position, bytes, header length
    truncated = False
    pos = 0
    while pos < end:
        try:
            kind, header, size = _header(file, pos, end)
        except Mp4FormatError:
            truncated = True
            break
        if kind == b"moov":
            data = _body(file, pos, size, kind)
            codec, timescale = read_moov(data, Box(kind, header, size))
            complete = pos + size
        elif kind == b"moof":
            pending = (pos, _body(file, pos, size, kind), header)
        elif kind == b"mdat" and pending is not None:
            if codec is None:
                raise Mp4FormatError("a fragment comes before the moov box")
            moof_at, moof, moof_header = pending
            # positions relative to the moof, as if the file were read from there
            mdat = Box(kind, pos + header - moof_at, pos + size - moof_at)
            found = read_traf(moof, Box(b"moof", moof_header, len(moof)), mdat)
            samples += [
                Sample(s.dts, s.cts_offset, s.duration, s.keyframe, s.offset + moof_at, s.size)
                for s in found
            ]
            pending, complete = None, pos + size
        elif kind == b"ftyp":
            complete = pos + size
        pos += size
    if codec is None:
        raise Mp4FormatError("no moov box: not a recorder segment, or cut before its header")
    return ParsedSegment(
        codec, timescale, tuple(samples), complete, truncated or pending is not None
    )


class SegmentFile:
    """One open segment: its index (``parsed``) and its frames' bytes on demand.

    Blocking: open, index and read it in a worker thread. Use as a context manager.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("rb")
        try:
            self.parsed = parse_segment_file(self._file)
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> SegmentFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def batch(self, first: int, max_bytes: int = BATCH_BYTES) -> range:
        """Sample indexes from ``first`` whose bytes add up to ``max_bytes`` (at least one)."""
        samples = self.parsed.samples
        total, stop = 0, first
        while stop < len(samples) and (stop == first or total + samples[stop].size <= max_bytes):
            total += samples[stop].size
            stop += 1
        return range(first, stop)

    def read(self, indexes: range) -> list[bytes]:
        """The bytes of the samples at ``indexes``, one read per run of adjacent samples."""
        samples = self.parsed.samples[indexes.start : indexes.stop]
        out: list[bytes] = []
        run: list[Sample] = []
        for sample in samples:
            if run and sample.offset != run[-1].offset + run[-1].size and not _near(run, sample):
                out += self._read_run(run)
                run = []
            run.append(sample)
        if run:
            out += self._read_run(run)
        return out

    def _read_run(self, run: Sequence[Sample]) -> list[bytes]:
        start = run[0].offset
        stop = run[-1].offset + run[-1].size
        data = os.pread(self._file.fileno(), stop - start, start)
        if len(data) != stop - start:
            raise Mp4FormatError(f"{self.path.name}: frames at byte {start} could not be read")
        view = memoryview(data)
        return [bytes(view[s.offset - start : s.offset - start + s.size]) for s in run]


def _near(run: Sequence[Sample], sample: Sample) -> bool:
    """The next fragment's first frame: after the previous one, past a small moof/mdat gap."""
    gap = sample.offset - (run[-1].offset + run[-1].size)
    return 0 <= gap <= 4096
