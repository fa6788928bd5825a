"""Reading back the fragmented MP4 segments the recorder writes (``media.fmp4`` layout).

    ftyp  moov(… stsd ─ avc1|hvc1 …, mdhd timescale)   (moof ─ traf ─ tfdt, trun)  mdat  …

:func:`parse_segment` returns the samples with their decode times (ticks of the track's
timescale, counted from the segment's first frame) and where the last *complete* fragment
ends, so a ``.part`` file cut by a crash can be truncated to what is whole. It reads only the
boxes this package writes; anything else, or a truncated ``moov``, raises Mp4FormatError, and
no other exception escapes on any input (see the property tests).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from sightline.media.errors import EsError
from sightline.media.es import length_prefixed_to_annexb
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.recording.errors import Mp4FormatError

__all__ = [
    "Box",
    "ParsedSegment",
    "Sample",
    "iter_boxes",
    "parse_segment",
    "read_moov",
    "read_traf",
    "sample_unit",
    "unit_from_bytes",
]

_CODECS = {b"avc1": Codec.H264, b"hvc1": Codec.H265}
_KEY_FLAGS = 0x02000000
_NON_SYNC = 0x00010000
_VIDEO_STREAM_ID = 0xE0


@dataclass(frozen=True, slots=True)
class Box:
    """One box: its type and where its body and the box end in the buffer."""

    kind: bytes
    body: int
    end: int


@dataclass(frozen=True, slots=True)
class Sample:
    """One video frame of a segment; times in timescale ticks from the segment's start."""

    dts: int
    cts_offset: int
    duration: int
    keyframe: bool
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class ParsedSegment:
    """What a segment holds: codec, timescale, samples, and the end of the last whole fragment."""

    codec: Codec
    timescale: int
    samples: tuple[Sample, ...]
    complete_bytes: int
    truncated: bool

    @property
    def duration_ticks(self) -> int:
        """From the first frame to the end of the last one."""
        if not self.samples:
            return 0
        last = self.samples[-1]
        return last.dts + last.duration

    @property
    def duration_s(self) -> float:
        """:attr:`duration_ticks` in seconds."""
        return self.duration_ticks / self.timescale


def iter_boxes(data: bytes | memoryview, start: int, end: int) -> Iterator[Box]:
    """The boxes in ``data[start:end]``; raises Mp4FormatError at a truncated or bad header."""
    pos = start
    while pos < end:
        if pos + 8 > end:
            raise Mp4FormatError(f"truncated box header at byte {pos}")
        size, kind = struct.unpack_from("!I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise Mp4FormatError(f"truncated large box header at byte {pos}")
            (size,) = struct.unpack_from("!Q", data, pos + 8)
            header = 16
        if size < header or pos + size > end:
            raise Mp4FormatError(f"box {kind!r} at byte {pos} runs past the end ({size} bytes)")
        yield Box(bytes(kind), pos + header, pos + size)
        pos += size


def _child(data: bytes | memoryview, box: Box, path: tuple[bytes, ...]) -> Box:
    current = box
    for kind in path:
        found = next(
            (b for b in iter_boxes(data, current.body, current.end) if b.kind == kind), None
        )
        if found is None:
            raise Mp4FormatError(f"no {kind.decode('latin-1')} box in {current.kind!r}")
        current = found
    return current


def read_moov(data: bytes | memoryview, moov: Box) -> tuple[Codec, int]:
    """Codec and timescale from the ``moov`` box at ``moov`` in ``data``."""
    mdia = _child(data, moov, (b"trak", b"mdia"))
    mdhd = _child(data, mdia, (b"mdhd",))
    version = data[mdhd.body] if mdhd.body < mdhd.end else 0
    offset = mdhd.body + (20 if version == 1 else 12)
    if offset + 4 > mdhd.end:
        raise Mp4FormatError("mdhd too short")
    (timescale,) = struct.unpack_from("!I", data, offset)
    stsd = _child(data, mdia, (b"minf", b"stbl", b"stsd"))
    entries = list(iter_boxes(data, stsd.body + 8, stsd.end)) if stsd.body + 8 <= stsd.end else []
    codec = next((_CODECS[e.kind] for e in entries if e.kind in _CODECS), None)
    if codec is None or timescale == 0:
        raise Mp4FormatError("the track is not H.264/H.265 video with a timescale")
    return codec, timescale


def read_traf(data: bytes | memoryview, moof: Box, mdat: Box) -> list[Sample]:
    """The samples a fragment lists (``moof``), checked to lie inside its ``mdat``."""
    traf = _child(data, moof, (b"traf",))
    tfdt = _child(data, traf, (b"tfdt",))
    trun = _child(data, traf, (b"trun",))
    version = data[tfdt.body] if tfdt.body < tfdt.end else 0
    if tfdt.end - tfdt.body < (12 if version == 1 else 8) or trun.end - trun.body < 12:
        raise Mp4FormatError("tfdt or trun too short")
    base = struct.unpack_from("!Q" if version == 1 else "!I", data, tfdt.body + 4)[0]
    flags = int.from_bytes(bytes(data[trun.body + 1 : trun.body + 4]), "big")
    if flags & 0xF01 != 0xF01:
        raise Mp4FormatError(f"trun flags 0x{flags:06X} are not the recorder's")
    count, data_offset = struct.unpack_from("!Ii", data, trun.body + 4)
    if trun.body + 12 + 16 * count > trun.end:
        raise Mp4FormatError("trun lists more samples than it holds")
    offset, dts, samples = moof.body - 8 + data_offset, base, []
    for i in range(count):
        duration, size, sample_flags, cts = struct.unpack_from("!4I", data, trun.body + 12 + 16 * i)
        key = bool(sample_flags & _KEY_FLAGS) and not sample_flags & _NON_SYNC
        samples.append(Sample(dts, cts, duration, key, offset, size))
        offset += size
        dts += duration
    if samples and (samples[0].offset < mdat.body or offset > mdat.end):
        raise Mp4FormatError("trun data lies outside its mdat")
    return samples


def parse_segment(data: bytes | memoryview) -> ParsedSegment:
    """Parse a segment (possibly a crash-truncated ``.part``); see the module docstring."""
    codec: Codec | None = None
    timescale = 0
    samples: list[Sample] = []
    complete = 0
    pending: Box | None = None
    truncated = False
    boxes = iter_boxes(data, 0, len(data))
    while True:
        try:
            box = next(boxes)
        except StopIteration:
            break
        except Mp4FormatError:
            truncated = True
            break
        if box.kind == b"moov":
            codec, timescale = read_moov(data, box)
            complete = box.end
        elif box.kind == b"moof":
            pending = box
        elif box.kind == b"mdat" and pending is not None:
            if codec is None:
                raise Mp4FormatError("a fragment comes before the moov box")
            samples += read_traf(data, pending, box)
            pending, complete = None, box.end
        elif box.kind == b"ftyp":
            complete = box.end
    if codec is None:
        raise Mp4FormatError("no moov box: not a recorder segment, or cut before its header")
    return ParsedSegment(
        codec, timescale, tuple(samples), complete, truncated or pending is not None
    )


def sample_unit(
    data: bytes | memoryview, sample: Sample, codec: Codec, timescale: int, dts_90k: int
) -> AccessUnit:
    """The sample as an Annex-B access unit with ``dts_90k`` (its pts follows the cts offset)."""
    return unit_from_bytes(
        bytes(data[sample.offset : sample.offset + sample.size]), sample, codec, timescale, dts_90k
    )


def unit_from_bytes(
    raw: bytes, sample: Sample, codec: Codec, timescale: int, dts_90k: int
) -> AccessUnit:
    """``sample_unit`` for a sample whose bytes (``raw``) were read on their own."""
    try:
        annexb = length_prefixed_to_annexb(raw)
    except EsError as exc:
        raise Mp4FormatError(f"sample at byte {sample.offset}: {exc}") from None
    cts = sample.cts_offset * 90000 // timescale
    return AccessUnit(codec, _VIDEO_STREAM_ID, dts_90k + cts, dts_90k, annexb, sample.keyframe)
