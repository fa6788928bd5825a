"""Segment files read in pieces give what reading them whole gives, without reading them whole."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sightline.media.recording.errors import Mp4FormatError
from sightline.media.recording.mp4_reader import (
    ParsedSegment,
    parse_segment,
    sample_unit,
    unit_from_bytes,
)
from sightline.media.recording.segment_file import SegmentFile, parse_segment_file
from tests.media.recording.test_mp4_reader import FRAGMENT_ENDS, SEGMENT

# each example writes its own file under the one tmp_path, so sharing the fixture is fine
FILES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _write(tmp_path: Path, data: bytes, name: str = "seg.mp4") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _from_file(path: Path) -> ParsedSegment:
    with path.open("rb") as f:
        return parse_segment_file(f)


def _outcome(parse: Callable[[], ParsedSegment]) -> ParsedSegment | str:
    """The parsed segment, or the typed error (its byte offsets count from different places)."""
    try:
        return parse()
    except Mp4FormatError:
        return "Mp4FormatError"


def test_the_index_is_the_whole_file_parse(tmp_path: Path) -> None:
    path = _write(tmp_path, SEGMENT)
    assert _from_file(path) == parse_segment(SEGMENT)


def test_every_sample_reads_back_the_same_bytes_in_batches(tmp_path: Path) -> None:
    path = _write(tmp_path, SEGMENT)
    parsed = parse_segment(SEGMENT)
    with SegmentFile(path) as file:
        index, seen = 0, 0
        while index < len(file.parsed.samples):
            batch = file.batch(index, max_bytes=20_000)  # several fragments, several batches
            assert len(batch) >= 1
            raws = file.read(batch)
            for i, raw in zip(batch, raws, strict=True):
                sample = parsed.samples[i]
                assert raw == SEGMENT[sample.offset : sample.offset + sample.size]
                whole = sample_unit(SEGMENT, sample, parsed.codec, parsed.timescale, 1234)
                assert unit_from_bytes(raw, sample, parsed.codec, parsed.timescale, 1234) == whole
                seen += 1
            index = batch.stop
    assert seen == len(parsed.samples)


def test_a_batch_is_bounded_but_never_empty(tmp_path: Path) -> None:
    with SegmentFile(_write(tmp_path, SEGMENT)) as file:
        sizes = [s.size for s in file.parsed.samples]
        tiny = file.batch(0, max_bytes=1)
        assert list(tiny) == [0]  # one frame larger than the bound still comes alone
        batch = file.batch(3, max_bytes=sum(sizes[3:8]))
        assert list(batch) == [3, 4, 5, 6, 7]
        assert not file.batch(len(sizes))


def test_only_the_index_boxes_are_read_to_open_a_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, SEGMENT)
    read: list[int] = []
    real_pread = os.pread

    def counting_pread(fd: int, n: int, offset: int) -> bytes:
        data = real_pread(fd, n, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr("sightline.media.recording.segment_file.os.pread", counting_pread)
    with SegmentFile(path) as file:
        assert len(file.parsed.samples) == 75
        assert sum(read) < len(SEGMENT) // 10  # headers and moofs, not the frames
        read.clear()
        file.read(file.batch(0, max_bytes=10_000))
        assert 0 < sum(read) <= 10_000 + 4096 * len(read)


@pytest.mark.parametrize("cut", [1, 100, 5000, -1])
def test_a_truncated_file_agrees_with_the_whole_file_parse(tmp_path: Path, cut: int) -> None:
    end = FRAGMENT_ENDS[1] + cut if cut > 0 else len(SEGMENT) + cut
    data = SEGMENT[:end]
    parsed = _from_file(_write(tmp_path, data))
    assert parsed == parse_segment(data)
    assert parsed.truncated


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0, max_value=len(SEGMENT)))
def test_any_cut_gives_the_same_outcome(tmp_path: Path, cut: int) -> None:
    data = SEGMENT[:cut]
    path = _write(tmp_path, data, f"cut{cut}.mp4")
    assert _outcome(lambda: _from_file(path)) == _outcome(lambda: parse_segment(data))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    at=st.integers(min_value=0, max_value=len(SEGMENT) - 1),
    junk=st.binary(min_size=1, max_size=16),
)
def test_corrupted_bytes_give_the_same_outcome(tmp_path: Path, at: int, junk: bytes) -> None:
    data = SEGMENT[:at] + junk + SEGMENT[at + len(junk) :]
    path = _write(tmp_path, data, "corrupt.mp4")
    assert _outcome(lambda: _from_file(path)) == _outcome(lambda: parse_segment(data))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_the_typed_error(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, data, "junk.mp4")
    with contextlib.suppress(Mp4FormatError), SegmentFile(path) as file:
        for _ in file.read(file.batch(0)) if file.parsed.samples else ():
            pass
