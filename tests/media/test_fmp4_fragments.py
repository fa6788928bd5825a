"""Fmp4Writer fragments packed in one struct call equal the box-by-box reference, byte for byte."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.media.es import annexb_to_length_prefixed
from sightline.media.fmp4 import Fmp4Writer, stream_info_of
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from tests.media.test_fmp4 import units_of

_UNITS = units_of(Codec.H264, 12)
_INFO = stream_info_of(_UNITS[0])


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack("!I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack("!I", (version << 24) | flags), *parts)


def reference_fragment(
    units: list[AccessUnit], sequence: int, base: int, duration: int, next_dts: int | None
) -> bytes:
    """moof + mdat written box by box, as ISO/IEC 14496-12 lays them out."""
    datas = [annexb_to_length_prefixed(u.data) for u in units]
    entries = b""
    for i, (u, data) in enumerate(zip(units, datas, strict=True)):
        after = units[i + 1].dts_90k if i + 1 < len(units) else next_dts
        length = after - u.dts_90k if after is not None else duration
        if i + 1 < len(units) and 0 < length <= 90000:
            duration = length
        flags = 0x02000000 if u.keyframe else 0x01010000
        entries += struct.pack(
            "!4I", max(0, length), len(data), flags, max(0, u.pts_90k - u.dts_90k)
        )
    offset = 8 + 16 + 8 + 16 + 20 + 20 + len(entries) + 8
    moof = _box(
        b"moof",
        _full_box(b"mfhd", 0, 0, struct.pack("!I", sequence)),
        _box(
            b"traf",
            _full_box(b"tfhd", 0, 0x020000, struct.pack("!I", 1)),
            _full_box(b"tfdt", 1, 0, struct.pack("!Q", max(0, units[0].dts_90k - base))),
            _full_box(b"trun", 0, 0x000F01, struct.pack("!Ii", len(units), offset), entries),
        ),
    )
    body = b"".join(datas)
    return moof + struct.pack("!I4s", 8 + len(body), b"mdat") + body


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 4), min_size=1, max_size=6),
    shift=st.integers(0, 2**32),
    ends=st.lists(st.one_of(st.none(), st.integers(1, 9000)), min_size=6, max_size=6),
)
def test_fragments_equal_the_box_by_box_reference(
    cuts: list[int], shift: int, ends: list[int | None]
) -> None:
    assert _INFO is not None
    writer = Fmp4Writer(_INFO)
    units = [
        AccessUnit(u.codec, u.stream_id, u.pts_90k + shift, u.dts_90k + shift, u.data, u.keyframe)
        for u in _UNITS
    ]
    at, duration, base = 0, 3600, units[0].dts_90k
    last: int | None = None
    for number, (count, end) in enumerate(zip(cuts, ends, strict=False), start=1):
        group = units[at : at + count] or units[-1:]
        at += count
        next_dts = None if end is None else group[-1].dts_90k + end
        if last is not None and 0 < group[0].dts_90k - last <= 90000:
            duration = group[0].dts_90k - last
        expected = reference_fragment(group, number, base, duration, next_dts)
        assert writer.fragment(group, next_dts_90k=next_dts) == expected
        for i in range(len(group) - 1):  # what the reference learns from a group's own spacing
            step = group[i + 1].dts_90k - group[i].dts_90k
            if 0 < step <= 90000:
                duration = step
        last = group[-1].dts_90k
