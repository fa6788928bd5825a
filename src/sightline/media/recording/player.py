"""Playing platform recordings: segment files → paced access units with VCR controls.

:class:`SegmentPlayback` is a :class:`~sightline.media.playback.PlaybackUpstream`: the API
hands it to the same fMP4 delivery as live video. It starts at the key frame at or before the
requested time, reads one segment file at a time (off the loop: its index, then its frames in
batches of ``BATCH_BYTES``, never the whole file), and paces frames by their media timestamps on
the loop clock. ``set_scale`` changes the pace; at 8× only key frames are
sent. ``seek`` jumps to any offset from the session start (again from the key frame before it);
``pause`` holds frames until ``resume``.

Decode times handed out are the *played* timeline: they start at 0, always increase, and
advance by media time / scale, so a player shows the right speed and never sees time go back
after a seek. :attr:`position` is the recording time of the last frame sent.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sightline.media.playback import SCALES
from sightline.media.ps_frames import AccessUnit
from sightline.media.recording.index import SegmentRow
from sightline.media.recording.mp4_reader import ParsedSegment, unit_from_bytes
from sightline.media.recording.segment_file import SegmentFile

__all__ = ["KEYFRAMES_ONLY_SCALE", "SegmentPlayback", "keyframe_at_or_before"]

KEYFRAMES_ONLY_SCALE = 8.0
_TICKS = 90000
_GAP = timedelta(seconds=1)


def keyframe_at_or_before(parsed: ParsedSegment, offset_ticks: int) -> int:
    """Index of the last key frame at or before ``offset_ticks`` (the first sample if none)."""
    dts = [s.dts for s in parsed.samples]
    i = max(0, bisect.bisect_right(dts, offset_ticks) - 1)
    while i > 0 and not parsed.samples[i].keyframe:
        i -= 1
    return i


class SegmentPlayback:
    """One playback session over recorded segments; see the module docstring."""

    def __init__(
        self,
        root: Path,
        segments: Sequence[SegmentRow],
        start: datetime,
        end: datetime,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.root = root
        self.segments = sorted(segments, key=lambda s: s.start)
        self.start, self.end = start, end
        self.scale = 1.0
        self.position: datetime = start
        self.closed = False
        self._clock = clock or asyncio.get_running_loop().time
        self._sleep = sleep
        self._running = asyncio.Event()
        self._running.set()
        self._seek_to: datetime | None = None
        self._reanchor = True

    async def pause(self) -> None:
        """Hold frames until :meth:`resume`."""
        self._running.clear()

    async def resume(self) -> None:
        """Continue after :meth:`pause`."""
        self._reanchor = True
        self._running.set()

    async def seek(self, offset_s: float) -> None:
        """Jump to ``offset_s`` after the session start (ValueError outside the session)."""
        target = self.start + timedelta(seconds=offset_s)
        if not self.start <= target < self.end:
            raise ValueError(f"seek offset {offset_s:g} s is outside the session")
        self._seek_to = target

    async def set_scale(self, scale: float) -> None:
        """Play at ``scale`` × real time (one of SCALES)."""
        if scale not in SCALES:
            raise ValueError(f"scale {scale:g} is not one of {', '.join(f'{s:g}' for s in SCALES)}")
        self.scale = scale
        self._reanchor = True

    async def close(self) -> None:
        """End the session; ``frames`` stops at its next frame."""
        self.closed = True
        self._running.set()

    async def frames(self) -> AsyncIterator[AccessUnit]:
        """The recorded frames from the start time, paced; ends at the end time."""
        position, out_dts, last_t = self.start, 0, None
        step, sent = 3600, False
        anchor: tuple[float, datetime] = (self._clock(), position)
        while not self.closed:
            segment = next((s for s in self.segments if s.end > position), None)
            if segment is None or segment.start >= self.end:
                return
            file = await asyncio.to_thread(SegmentFile, self.root / segment.path)
            try:
                parsed = file.parsed
                offset = round((position - segment.start).total_seconds() * parsed.timescale)
                first = keyframe_at_or_before(parsed, max(0, offset))
                if last_t is None or segment.start - last_t > _GAP:
                    # a gap in the recording is skipped, not waited for, nor left in the timeline
                    self._reanchor, last_t = True, None
                next_position = segment.end
                loaded = range(0)
                raws: list[bytes] = []
                for index in range(first, len(parsed.samples)):
                    sample = parsed.samples[index]
                    t = segment.start + timedelta(
                        microseconds=sample.dts * 1_000_000 // parsed.timescale
                    )
                    if t >= self.end or self.closed:
                        return
                    if self._seek_to is not None:
                        next_position, self._seek_to, last_t = self._seek_to, None, None
                        break
                    if self.scale >= KEYFRAMES_ONLY_SCALE and not sample.keyframe:
                        continue
                    if index not in loaded:
                        loaded = file.batch(index)
                        raws = await asyncio.to_thread(file.read, loaded)
                    anchor = await self._pace(anchor, t)
                    if self.closed:
                        return
                    if last_t is not None:
                        step = max(1, round((t - last_t).total_seconds() * _TICKS / self.scale))
                        out_dts += step
                    elif sent:
                        out_dts += step  # after a seek: one frame on, never back
                    last_t, sent = t, True
                    self.position = t
                    raw = raws[index - loaded.start]
                    yield unit_from_bytes(raw, sample, parsed.codec, parsed.timescale, out_dts)
            finally:
                file.close()
            position = next_position

    async def _pace(self, anchor: tuple[float, datetime], t: datetime) -> tuple[float, datetime]:
        if not self._running.is_set():
            await self._running.wait()
            self._reanchor = True
        if self._reanchor:
            self._reanchor = False
            return (self._clock(), t)
        wall0, t0 = anchor
        due = wall0 + (t - t0).total_seconds() / self.scale
        delay = due - self._clock()
        if delay > 0:
            await self._sleep(delay)
        return anchor
