"""Access units in, segment file operations out: where segments and fragments are cut.

    push(unit, wall) ─▶ [OpenSegment(init)] [AppendFragment]* [CloseSegment] …

Sans-IO: :class:`SegmentAssembler` decides, a writer thread (``files``) does the I/O.

* A segment starts at a video key frame and is cut at the first key frame at least
  ``segment_s`` after its start, or at a key frame whose parameter sets changed (a new
  resolution needs a new ``moov``). Each segment is a self-contained fMP4 file.
* Inside a segment, a fragment (``moof``+``mdat``) is written at each key frame and at the
  first frame ``fragment_s`` after the fragment began, so a crash loses at most the open
  fragment of the open segment; the rest of a ``.part`` is salvaged at start.
* Wall-clock times come from the media clock: the first unit's arrival time anchors the
  session, later times are anchor + DTS difference, so consecutive segments touch exactly.
  When the two clocks drift more than ``max_drift_s`` apart (a stalled stream, a camera clock
  jump), the next segment is re-anchored on the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sightline.media.fmp4 import Fmp4Error, Fmp4Writer, stream_info_of
from sightline.media.hub import is_video_key
from sightline.media.ps_frames import AccessUnit, StreamInfo

__all__ = [
    "AppendFragment",
    "CloseSegment",
    "OpenSegment",
    "SegmentAssembler",
    "SegmentOp",
]

_TICKS = 90000


@dataclass(frozen=True, slots=True)
class OpenSegment:
    """Create segment ``seq`` (its ``.part`` file) starting at ``start`` with ``init``."""

    seq: int
    start: datetime
    codec: str
    init: bytes


@dataclass(frozen=True, slots=True)
class AppendFragment:
    """Append ``data`` (moof+mdat) to segment ``seq``."""

    seq: int
    data: bytes


@dataclass(frozen=True, slots=True)
class CloseSegment:
    """Segment ``seq`` is complete: [start, end) of wall-clock time."""

    seq: int
    start: datetime
    end: datetime
    codec: str


SegmentOp = OpenSegment | AppendFragment | CloseSegment


@dataclass(slots=True)
class _Open:
    seq: int
    start: datetime
    first_dts: int
    codec: str
    writer: Fmp4Writer


class SegmentAssembler:
    """One recording session of one channel; see the module docstring."""

    def __init__(
        self, *, segment_s: float, fragment_s: float = 1.0, max_drift_s: float = 2.0
    ) -> None:
        self.segment_ticks = round(segment_s * _TICKS)
        self.fragment_ticks = round(fragment_s * _TICKS)
        self.max_drift = timedelta(seconds=max_drift_s)
        self.skipped = 0  # video units before the first usable key frame
        self._anchor: tuple[datetime, int] | None = None
        self._open: _Open | None = None
        self._pending: list[AccessUnit] = []
        self._seq = 0
        self._last_duration = 3600
        self._last_end: datetime | None = None

    @property
    def recording(self) -> bool:
        """Whether a segment is open."""
        return self._open is not None

    def time_of(self, dts_90k: int) -> datetime:
        """The wall-clock time of a decode time of this session."""
        assert self._anchor is not None
        wall, dts = self._anchor
        return wall + timedelta(microseconds=(dts_90k - dts) * 1_000_000 // _TICKS)

    def push(self, unit: AccessUnit, wall: datetime) -> list[SegmentOp]:
        """Add one access unit that arrived at ``wall``; non-video units are ignored."""
        if unit.stream_id < 0xE0:
            return []
        ops: list[SegmentOp] = []
        if is_video_key(unit):
            info = stream_info_of(unit)
            if self._must_cut(unit, info):
                ops += self._close(unit.dts_90k)
            if self._open is None:
                ops += self._start(unit, info, wall)
        if self._open is None:
            self.skipped += 1
            return ops
        if self._pending and (
            is_video_key(unit) or unit.dts_90k - self._pending[0].dts_90k >= self.fragment_ticks
        ):
            ops += self._flush(unit.dts_90k)
        self._pending.append(unit)
        return ops

    def close(self) -> list[SegmentOp]:
        """End the session: flush and close the open segment, if any."""
        if self._open is None or not self._pending:
            return self._close(None)
        return self._close(self._pending[-1].dts_90k + self._last_duration)

    def _must_cut(self, unit: AccessUnit, info: StreamInfo | None) -> bool:
        seg = self._open
        if seg is None:
            return False
        if unit.dts_90k - seg.first_dts >= self.segment_ticks:
            return True
        old = seg.writer.info
        return info is not None and (old.codec, old.sps, old.pps, old.vps) != (
            info.codec,
            info.sps,
            info.pps,
            info.vps,
        )

    def _start(self, unit: AccessUnit, info: StreamInfo | None, wall: datetime) -> list[SegmentOp]:
        if info is None:
            return []
        try:
            writer = Fmp4Writer(info, base_dts_90k=unit.dts_90k)
        except Fmp4Error:
            return []
        if self._anchor is None or abs(self.time_of(unit.dts_90k) - wall) > self.max_drift:
            # never before the previous segment's end: a wall clock stepped back must not
            # make segments overlap (or reuse a file name)
            self._anchor = (max(wall, self._last_end or wall), unit.dts_90k)
        self._seq += 1
        start = self.time_of(unit.dts_90k)
        self._open = _Open(self._seq, start, unit.dts_90k, writer.codec_string, writer)
        return [OpenSegment(self._seq, start, writer.codec_string, writer.init_segment())]

    def _flush(self, next_dts: int) -> list[SegmentOp]:
        seg = self._open
        if seg is None or not self._pending:
            return []
        units, self._pending = self._pending, []
        if len(units) > 1:
            self._last_duration = max(1, (units[-1].dts_90k - units[0].dts_90k) // (len(units) - 1))
        return [AppendFragment(seg.seq, seg.writer.fragment(units, next_dts_90k=next_dts))]

    def _close(self, end_dts: int | None) -> list[SegmentOp]:
        seg = self._open
        if seg is None:
            return []
        ops = self._flush(end_dts) if end_dts is not None else []
        self._open = None
        end = self.time_of(end_dts) if end_dts is not None else seg.start
        self._last_end = end
        ops.append(CloseSegment(seg.seq, seg.start, end, seg.codec))
        return ops
