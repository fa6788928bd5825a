"""Helpers for PS tests: feeding a demuxer in chunks and hand-building odd PS streams."""

from __future__ import annotations

from collections.abc import Iterable

from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import pack_header, pes_header
from sightline.media.ps_frames import AccessUnit
from tests.media.video import EncodedFrame

__all__ = ["assert_monotonic", "demux_all", "escape", "pes", "private", "split_packs"]


def demux_all(
    ps: bytes | Iterable[bytes], chunk: int = 1400, demuxer: PsDemuxer | None = None
) -> list[AccessUnit]:
    """Feed ``ps`` (or the given pieces) in ``chunk``-byte pieces, then flush."""
    d = demuxer or PsDemuxer()
    pieces = [ps[i : i + chunk] for i in range(0, len(ps), chunk)] if isinstance(ps, bytes) else ps
    out: list[AccessUnit] = []
    for piece in pieces:
        out += d.feed(piece)
    return out + d.flush()


def pes(stream_id: int, payload: bytes, pts: int | None, dts: int | None = None) -> bytes:
    """One MPEG-2 PES packet."""
    return pes_header(stream_id, len(payload), pts, dts, pts is not None) + payload


def private(payload: bytes, stream_id: int = 0xBD) -> bytes:
    """A private-stream packet (Hikvision puts these between video PES)."""
    return b"\x00\x00\x01" + bytes((stream_id,)) + len(payload).to_bytes(2, "big") + payload


def plain_pack(frame: EncodedFrame, *, with_pts: bool = True) -> bytes:
    """A pack with one PES and no system header or PSM."""
    pts = frame.pts_90k if with_pts else None
    return pack_header(frame.dts_90k) + pes(0xE0, frame.data, pts, frame.dts_90k)


def split_packs(ps: bytes) -> list[bytes]:
    """Cut a PS stream at its pack headers."""
    marks = []
    at = ps.find(b"\x00\x00\x01\xba")
    while at >= 0:
        marks.append(at)
        at = ps.find(b"\x00\x00\x01\xba", at + 4)
    return [ps[a:b] for a, b in zip(marks, [*marks[1:], len(ps)], strict=True)]


def assert_monotonic(units: list[AccessUnit]) -> None:
    """DTS strictly increases per stream and PTS is never before DTS."""
    last: dict[int, int] = {}
    for u in units:
        assert u.dts_90k > last.get(u.stream_id, -(1 << 62)), u
        assert u.pts_90k >= u.dts_90k
        last[u.stream_id] = u.dts_90k


def escape(body: bytes) -> bytes:
    """Insert emulation-prevention bytes so the body holds no start code, ending non-zero."""
    out = bytearray()
    zeros = 0
    for b in body:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out) + b"\x80"
