"""``PlatformRecordSource``: search, play and export sightline's own recordings.

The :class:`~sightline.media.playback.RecordSource` behind ``source=platform``. Search reads
the index and merges segments that touch (a gap under ``merge_gap_s``) into one
RecordSegment, keeping the exact first start and last end. Export remuxes the frames of
[start, end) into a standard MP4 with :class:`~sightline.media.mp4_writer.Mp4Writer` (PyAV,
no re-encoding), starting at the key frame at or before ``start``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sightline.media.mp4_writer import Mp4Writer
from sightline.media.playback import RecordSegment, RecordSourceName
from sightline.media.recording.errors import ExportCancelledError, NoRecordingError
from sightline.media.recording.index import SegmentIndex, SegmentRow
from sightline.media.recording.mp4_reader import unit_from_bytes
from sightline.media.recording.player import SegmentPlayback, keyframe_at_or_before
from sightline.media.recording.segment_file import SegmentFile

__all__ = ["PlatformRecordSource", "merge_segments"]

log = logging.getLogger(__name__)


def merge_segments(
    channel_id: str, rows: Sequence[SegmentRow], gap: timedelta
) -> list[RecordSegment]:
    """Contiguous runs of rows of one kind (oldest first) as RecordSegments, exact bounds."""
    out: list[RecordSegment] = []
    for row in sorted(rows, key=lambda r: r.start):
        last = out[-1] if out else None
        if last is not None and row.kind == last.kind and row.start - last.end <= gap:
            out[-1] = RecordSegment(
                channel_id,
                last.start,
                max(last.end, row.end),
                RecordSourceName.PLATFORM,
                (last.size_bytes or 0) + row.size_bytes,
                row.kind,
            )
        else:
            out.append(
                RecordSegment(
                    channel_id,
                    row.start,
                    row.end,
                    RecordSourceName.PLATFORM,
                    row.size_bytes,
                    row.kind,
                )
            )
    return out


class PlatformRecordSource:
    """Recordings kept by sightline itself; see the module docstring."""

    name = RecordSourceName.PLATFORM

    def __init__(self, root: Path, index: SegmentIndex, *, merge_gap_s: float = 1.0) -> None:
        self.root = root
        self._index = index
        self._gap = timedelta(seconds=merge_gap_s)

    async def search(self, channel_id: str, start: datetime, end: datetime) -> list[RecordSegment]:
        """The recorded stretches of ``channel_id`` overlapping [start, end), oldest first."""
        if end <= start:
            raise ValueError("the search end must be after its start")
        rows = await self._index.segments_between(channel_id, start, end)
        return merge_segments(channel_id, rows, self._gap)

    async def _rows(self, channel_id: str, start: datetime, end: datetime) -> list[SegmentRow]:
        if end <= start:
            raise ValueError("the end must be after the start")
        rows = sorted(
            await self._index.segments_between(channel_id, start, end), key=lambda r: r.start
        )
        if not rows:
            raise NoRecordingError(
                f"channel {channel_id}: nothing recorded between {start.isoformat()} "
                f"and {end.isoformat()}"
            )
        return rows

    async def open_playback(
        self, channel_id: str, start: datetime, end: datetime
    ) -> SegmentPlayback:
        """A paced playback session from ``start`` until ``end``."""
        rows = await self._rows(channel_id, start, end)
        return SegmentPlayback(self.root, rows, start, end)

    async def export(
        self,
        channel_id: str,
        start: datetime,
        end: datetime,
        destination: Path,
        progress: Callable[[float], None],
    ) -> Path:
        """Write [start, end) as a standard MP4 file; ``progress`` gets 0.0…1.0 on the loop."""
        rows = await self._rows(channel_id, start, end)
        loop = asyncio.get_running_loop()

        def report(fraction: float) -> None:
            loop.call_soon_threadsafe(progress, min(1.0, max(0.0, fraction)))

        stop = threading.Event()
        try:
            path = await asyncio.to_thread(
                self._export, rows, start, end, destination, report, stop=stop
            )
        except asyncio.CancelledError:
            stop.set()  # the worker thread drops the partial file at its next sample
            raise
        progress(1.0)
        return path

    def _export(
        self,
        rows: Sequence[SegmentRow],
        start: datetime,
        end: datetime,
        destination: Path,
        report: Callable[[float], None],
        *,
        stop: threading.Event,
    ) -> Path:
        export = _Export(Mp4Writer(destination), start, end, stop)
        span = (end - start).total_seconds()
        try:
            for row in rows:
                if stop.is_set():
                    raise ExportCancelledError(f"export to {destination.name} cancelled")
                with SegmentFile(self.root / row.path) as file:
                    export.add(file, row)
                report((min(row.end, end) - start).total_seconds() / span)
            return export.writer.close()
        except BaseException:
            export.writer.discard()
            raise


class _Export:
    """Frames in [start, end) from segment after segment into one MP4 file (blocking)."""

    def __init__(
        self, writer: Mp4Writer, start: datetime, end: datetime, stop: threading.Event
    ) -> None:
        self.writer = writer
        self.start, self.end = start, end
        self.stop = stop
        self.first_t: datetime | None = None

    def add(self, file: SegmentFile, row: SegmentRow) -> None:
        """Append the segment's frames in range, read a batch at a time."""
        parsed = file.parsed
        index = 0
        if self.first_t is None:
            offset = max(0, round((self.start - row.start).total_seconds() * parsed.timescale))
            index = keyframe_at_or_before(parsed, offset)
        while index < len(parsed.samples):
            batch = file.batch(index)
            samples = parsed.samples[batch.start : batch.stop]
            for sample, raw in zip(samples, file.read(batch), strict=True):
                t = row.start + timedelta(microseconds=sample.dts * 1_000_000 // parsed.timescale)
                if t >= self.end:
                    return
                if self.stop.is_set():
                    raise ExportCancelledError(f"export to {self.writer.path.name} cancelled")
                self.first_t = self.first_t or t
                dts = round((t - self.first_t).total_seconds() * 90000)
                self.writer.write(unit_from_bytes(raw, sample, parsed.codec, parsed.timescale, dts))
            index = batch.stop
