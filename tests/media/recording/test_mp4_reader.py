"""Reading segments back: round trip with the writer, truncation, hostile bytes."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.media.es import split_annexb
from sightline.media.ps_format import Codec
from sightline.media.recording.errors import Mp4FormatError
from sightline.media.recording.mp4_reader import parse_segment, sample_unit
from sightline.media.recording.segments import (
    AppendFragment,
    OpenSegment,
    SegmentAssembler,
)
from tests.media.recording.conftest import T0, h264_units


def _segment_bytes(seconds: float = 3.0) -> tuple[bytes, list[int]]:
    assembler = SegmentAssembler(segment_s=60, fragment_s=1.0)
    out = bytearray()
    ends = []
    units = h264_units(seconds)
    ops = []
    for i, unit in enumerate(units):
        ops += assembler.push(unit, T0 + timedelta(milliseconds=40 * i))
    ops += assembler.close()
    for op in ops:
        if isinstance(op, OpenSegment):
            out += op.init
        elif isinstance(op, AppendFragment):
            out += op.data
            ends.append(len(out))
    return bytes(out), ends


SEGMENT, FRAGMENT_ENDS = _segment_bytes()


def test_samples_round_trip_to_the_units_written() -> None:
    parsed = parse_segment(SEGMENT)
    units = h264_units(3.0)
    assert parsed.codec is Codec.H264 and parsed.timescale == 90000
    assert len(parsed.samples) == len(units)
    assert parsed.complete_bytes == len(SEGMENT) and not parsed.truncated
    for sample, unit in zip(parsed.samples, units, strict=True):
        back = sample_unit(SEGMENT, sample, parsed.codec, parsed.timescale, unit.dts_90k)
        assert split_annexb(back.data) == split_annexb(unit.data)  # start codes may differ
        assert back.keyframe == unit.keyframe
        assert sample.dts == unit.dts_90k - units[0].dts_90k
    assert parsed.duration_s == pytest.approx(3.0)


@pytest.mark.parametrize("cut", [1, 100, 5000, -1])
def test_a_truncated_file_keeps_its_whole_fragments(cut: int) -> None:
    end = FRAGMENT_ENDS[1] + cut if cut > 0 else len(SEGMENT) + cut
    parsed = parse_segment(SEGMENT[:end])
    assert parsed.truncated
    whole = max(e for e in [0, *FRAGMENT_ENDS] if e <= end)
    assert parsed.complete_bytes == whole
    assert len(parsed.samples) == 25 * FRAGMENT_ENDS.index(whole) + 25


def test_a_file_cut_inside_its_header_is_refused() -> None:
    with pytest.raises(Mp4FormatError):
        parse_segment(SEGMENT[:200])
    with pytest.raises(Mp4FormatError):
        parse_segment(b"")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_the_typed_error(data: bytes) -> None:
    with contextlib.suppress(Mp4FormatError):
        parse_segment(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(SEGMENT) - 1), st.integers(0, 255))
def test_a_corrupted_byte_raises_only_the_typed_error(position: int, value: int) -> None:
    data = bytearray(SEGMENT)
    data[position] = value
    try:
        parsed = parse_segment(bytes(data))
        for sample in parsed.samples[:3]:
            sample_unit(bytes(data), sample, parsed.codec, parsed.timescale, 0)
    except Mp4FormatError:
        pass
