"""Fragmented MP4: what we write must open in FFmpeg (PyAV) with every frame and timestamp."""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from fractions import Fraction

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.media.es import iter_nal_units
from sightline.media.fmp4 import Fmp4Error, Fmp4Packager, Fmp4Writer, stream_info_of
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit, StreamInfo
from tests.e2e.browser import chromium, require_browser
from tests.media.video import encode_pattern

ENCODERS = {Codec.H264: "libx264", Codec.H265: "libx265"}


def units_of(
    codec: Codec, frames: int = 60, *, width: int = 320, height: int = 240
) -> list[AccessUnit]:
    """A real encoded stream with B-frames as the demuxer would hand it out."""
    encoded = encode_pattern(ENCODERS[codec], frames, bframes=2, width=width, height=height)
    return [AccessUnit(codec, 0xE0, f.pts_90k, f.dts_90k, f.data, f.keyframe) for f in encoded]


def gops(units: list[AccessUnit]) -> list[list[AccessUnit]]:
    out: list[list[AccessUnit]] = []
    for u in units:
        if u.keyframe or not out:
            out.append([])
        out[-1].append(u)
    return out


def boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of each box at this level; checks that sizes tile the buffer exactly."""
    pos = 0
    while pos < len(data):
        size, kind = struct.unpack_from("!I4s", data, pos)
        assert size >= 8 and pos + size <= len(data), (kind, size)
        yield kind, data[pos + 8 : pos + size]
        pos += size
    assert pos == len(data)


def child(body: bytes, kind: bytes) -> bytes:
    found = [b for k, b in boxes(body) if k == kind]
    assert len(found) == 1, kind
    return found[0]


def read_back(data: bytes) -> tuple[list[tuple[int, int]], list[int], tuple[int, int]]:
    """(pts, dts) of the demuxed packets, decoded frame PTS, and the frame size."""
    packets: list[tuple[int, int]] = []
    with av.open(io.BytesIO(data), "r", format="mp4") as container:
        stream = container.streams.video[0]
        assert stream.time_base == Fraction(1, 90000)
        for p in container.demux(stream):
            if p.size:
                assert p.pts is not None and p.dts is not None
                packets.append((p.pts, p.dts))
    with av.open(io.BytesIO(data), "r", format="mp4") as container:
        decoded = list(container.decode(video=0))
    frame_pts = [f.pts for f in decoded if f.pts is not None]
    return packets, frame_pts, (decoded[0].width, decoded[0].height)


@pytest.mark.parametrize("codec", [Codec.H264, Codec.H265])
@pytest.mark.parametrize("per_gop", [False, True])
def test_init_and_fragments_decode_with_every_frame_and_timestamp(
    codec: Codec, per_gop: bool
) -> None:
    units = units_of(codec)
    info = stream_info_of(units[0])
    assert info is not None
    writer = Fmp4Writer(info)
    chunks = gops(units) if per_gop else [[u] for u in units]
    data = writer.init_segment() + b"".join(writer.fragment(c) for c in chunks)
    packets, frame_pts, size = read_back(data)
    base = units[0].dts_90k
    assert packets == [(u.pts_90k - base, u.dts_90k - base) for u in units]
    assert frame_pts == sorted(u.pts_90k - base for u in units)
    assert size == (320, 240)


def test_fragment_layout() -> None:
    units = units_of(Codec.H264, 10)
    info = stream_info_of(units[0])
    assert info is not None
    writer = Fmp4Writer(info)
    init = writer.init_segment()
    assert [k for k, _ in boxes(init)] == [b"ftyp", b"moov"]
    moov = child(init, b"moov")
    assert [k for k, _ in boxes(moov)] == [b"mvhd", b"trak", b"mvex"]
    stbl = child(child(child(child(moov, b"trak"), b"mdia"), b"minf"), b"stbl")
    stsd = child(stbl, b"stsd")
    entry = stsd[8:]
    assert entry[4:8] == b"avc1"
    assert struct.unpack_from("!HH", entry, 8 + 24) == (320, 240)
    for n, chunk in enumerate((units[:3], units[3:])):
        fragment = writer.fragment(chunk)
        (moof_kind, moof), (mdat_kind, mdat) = boxes(fragment)
        assert (moof_kind, mdat_kind) == (b"moof", b"mdat")
        assert struct.unpack("!I", child(moof, b"mfhd")[4:]) == (n + 1,)
        traf = child(moof, b"traf")
        (decode_time,) = struct.unpack("!Q", child(traf, b"tfdt")[4:])
        assert decode_time == chunk[0].dts_90k - units[0].dts_90k
        count, offset = struct.unpack_from("!Ii", child(traf, b"trun"), 4)
        assert count == len(chunk)
        assert offset == len(moof) + 8 + 8  # moof box, then the mdat header
        sizes = [
            struct.unpack_from("!4I", child(traf, b"trun"), 12 + 16 * i)[1] for i in range(count)
        ]
        assert sum(sizes) == len(mdat)


def avc_codec_string(unit: AccessUnit) -> str:
    """The RFC 6381 string read straight from the SPS bytes, independently of es_sps."""
    sps = next(n for n in iter_nal_units(unit.data) if n[0] & 0x1F == 7)
    return "avc1." + sps[1:4].hex().upper()


def test_h264_mime_type() -> None:
    units = units_of(Codec.H264, 5)
    info = stream_info_of(units[0])
    assert info is not None
    mime = Fmp4Writer(info).mime_type
    assert re.fullmatch(r'video/mp4; codecs="avc1\.[0-9A-F]{6}"', mime)
    assert mime == f'video/mp4; codecs="{avc_codec_string(units[0])}"'


def test_h265_mime_type() -> None:
    units = units_of(Codec.H265, 5)
    info = stream_info_of(units[0])
    assert info is not None
    assert re.fullmatch(
        r'video/mp4; codecs="hvc1\.[AB C]?\d+\.[0-9A-F]+\.[LH]\d+(\.[0-9A-F]{1,2})*"',
        Fmp4Writer(info).mime_type,
    )


def test_chromium_supports_the_h264_type() -> None:
    require_browser()  # Debian's Chromium, driven by Playwright; skips with the reason
    units = units_of(Codec.H264, 5)
    info = stream_info_of(units[0])
    assert info is not None
    with chromium() as browser:
        page = browser.new_page()
        mime = Fmp4Writer(info).mime_type
        assert page.evaluate("t => MediaSource.isTypeSupported(t)", mime) is True


def test_packager_starts_at_a_key_frame_with_the_init_segment() -> None:
    units = units_of(Codec.H264, 60)
    start = next(i for i, u in enumerate(units) if u.keyframe and i > 0)
    packager = Fmp4Packager()
    assert packager.push(units[start - 1]) == []  # mid-GOP: nothing to decode from yet
    segments = [s for u in units[start:] for s in packager.push(u)]
    assert [s.init for s in segments] == [True] + [False] * (len(units) - start)
    assert packager.mime_type == segments[0].mime_type
    packets, frame_pts, _ = read_back(b"".join(s.data for s in segments))
    assert len(packets) == len(frame_pts) == len(units) - start


def test_packager_writes_a_new_init_segment_when_the_stream_changes() -> None:
    big, small = units_of(Codec.H264, 30), units_of(Codec.H264, 30, width=160, height=96)
    shift = big[-1].dts_90k + 3600 - small[0].dts_90k
    small = [
        AccessUnit(u.codec, u.stream_id, u.pts_90k + shift, u.dts_90k + shift, u.data, u.keyframe)
        for u in small
    ]
    packager = Fmp4Packager()
    segments = [(n, s) for n, u in enumerate(big + small) for s in packager.push(u)]
    inits = [n for n, s in segments if s.init]
    assert inits == [0, len(big)]
    second = b"".join(s.data for n, s in segments if n >= len(big))
    packets, frame_pts, size = read_back(second)
    assert size == (160, 96) and len(frame_pts) == len(small)
    assert packets[0][1] == small[0].dts_90k - big[0].dts_90k  # decode time runs on


def test_packager_uses_given_parameters_when_key_frames_carry_none() -> None:
    units = units_of(Codec.H264, 5)
    info = stream_info_of(units[0])
    bare = [n for n in iter_nal_units(units[0].data) if n[0] & 0x1F not in (7, 8)]
    key = AccessUnit(Codec.H264, 0xE0, units[0].pts_90k, units[0].dts_90k,
                     b"".join(b"\x00\x00\x00\x01" + n for n in bare), True)  # fmt: skip
    assert Fmp4Packager().push(key) == []
    segments = Fmp4Packager(info).push(key)
    assert [s.init for s in segments] == [True, False]


def test_audio_is_not_packaged() -> None:
    audio = AccessUnit(Codec.G711A, 0xC0, 0, 0, bytes(160), True)
    assert Fmp4Packager().push(audio) == []


def test_writer_refuses_what_it_cannot_write() -> None:
    with pytest.raises(Fmp4Error, match="no SPS"):
        Fmp4Writer(StreamInfo(0xE0, Codec.H264))
    units = units_of(Codec.H264, 5)
    info = stream_info_of(units[0])
    assert info is not None
    writer = Fmp4Writer(info)
    with pytest.raises(Fmp4Error, match="at least one video"):
        writer.fragment([AccessUnit(Codec.G711A, 0xC0, 0, 0, bytes(160), True)])
    broken = StreamInfo(0xE0, Codec.H264, sps=info.sps, pps=(), sps_info=info.sps_info)
    with pytest.raises(Fmp4Error, match="PPS"):
        Fmp4Writer(broken)


@given(st.binary(max_size=400), st.sampled_from([Codec.H264, Codec.H265, Codec.G711A]))
def test_stream_info_of_arbitrary_bytes_never_raises(data: bytes, codec: Codec) -> None:
    info = stream_info_of(AccessUnit(codec, 0xE0, 0, 0, data, True))
    assert info is None or (info.sps and info.pps and info.codec_string)


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=6), st.booleans())
def test_stream_info_of_nal_soup_never_raises(nals: list[bytes], h265: bool) -> None:
    """Parameter-set headers with random bodies: the SPS parser must fail only softly."""
    codec = Codec.H265 if h265 else Codec.H264
    heads = [b"\x40\x01", b"\x42\x01", b"\x44\x01"] if h265 else [b"\x67", b"\x68"]
    data = b"".join(b"\x00\x00\x01" + heads[i % len(heads)] + n for i, n in enumerate(nals))
    info = stream_info_of(AccessUnit(codec, 0xE0, 0, 0, data, True))
    assert info is None or info.codec is codec
