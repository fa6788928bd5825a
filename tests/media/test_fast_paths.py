"""The receive path's short cuts give exactly what the full path gives.

``JitterBuffer.take_next`` against ``push`` alone, ``RtpPipeline``'s plain-header path against
``parse_rtp`` (forced by a CSRC), and ``PsDemuxer``'s "still inside the same PES" skip against
feeding everything at once, on arbitrary orders, losses, chunkings and damage.
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.media.jitter import JitterBuffer, Ordered
from sightline.media.pipeline import RtpPipeline
from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import Codec
from sightline.media.ps_mux import PsMuxer
from sightline.media.rtp import RtpPacket
from tests.media.video import encode_pattern

HEADER = struct.Struct("!BBHII")


def pkt(seq: int) -> RtpPacket:
    return RtpPacket(96, seq & 0xFFFF, 0, 1, seq.to_bytes(4, "big", signed=True))


def drive(seqs: list[int], fast: bool) -> tuple[list[tuple[int, int]], object]:
    buffer = JitterBuffer(startup_s=0.002, max_delay_s=0.01)
    out: list[Ordered] = []
    for n, seq in enumerate(seqs):
        now = n * 0.001
        if fast and buffer.take_next(seq & 0xFFFF):
            out.append(Ordered(pkt(seq)))
        else:
            out += buffer.push(pkt(seq), now)
        out += buffer.handle_timeout(now)
    out += buffer.flush()
    return [(o.packet.sequence, o.lost) for o in out], buffer.stats


@settings(max_examples=300)
@given(
    st.integers(0, 0xFFFF),
    st.lists(st.sampled_from([1, 1, 1, 1, 2, 3, 0, -1, -2, 40, 5000]), max_size=150),
)
def test_take_next_releases_and_counts_like_push(start: int, steps: list[int]) -> None:
    seqs, seq = [], start
    for step in steps:
        seq += step
        seqs.append(seq)
    assert drive(seqs, fast=True) == drive(seqs, fast=False)


def test_take_next_refuses_while_starting_holding_or_out_of_order() -> None:
    buffer = JitterBuffer(startup_s=0.05)
    assert not buffer.take_next(7)  # nothing seen yet
    assert buffer.push(pkt(7), 0.0) == []
    assert not buffer.take_next(8)  # the start-up hold
    assert [o.packet.sequence for o in buffer.handle_timeout(0.06)] == [7]
    assert buffer.take_next(8) and not buffer.take_next(10)
    assert buffer.push(pkt(10), 0.07) == []
    assert not buffer.take_next(9)  # 10 is held: push must order them
    assert buffer.stats.received == 3 and buffer.stats.delivered == 2


def datagrams(csrc: bool) -> list[bytes]:
    muxer, out, seq = PsMuxer(Codec.H264), [], 0
    for f in encode_pattern("libx264", 30):
        pack = muxer.mux_frame(f.data, f.pts_90k, keyframe=f.keyframe)
        chunks = [pack[i : i + 1400] for i in range(0, len(pack), 1400)]
        for j, chunk in enumerate(chunks):
            marker = 0x80 if j == len(chunks) - 1 else 0
            first = 0x81 if csrc else 0x80
            extra = (1234).to_bytes(4, "big") if csrc else b""
            out.append(HEADER.pack(first, 96 | marker, seq, f.pts_90k, 42) + extra + chunk)
            seq = (seq + 1) & 0xFFFF
    return out


@given(st.lists(st.integers(0, 400), max_size=12))
@settings(max_examples=40, deadline=None)
def test_plain_headers_take_the_short_path_to_the_same_frames(drops: list[int]) -> None:
    results = []
    for csrc in (False, True):
        packets = datagrams(csrc)
        order = [p for i, p in enumerate(packets) if i not in drops]
        for i in range(0, len(order) - 1, 17):  # some neighbours swapped
            order[i], order[i + 1] = order[i + 1], order[i]
        pipeline = RtpPipeline(expected_ssrc=42)
        units = []
        for n, data in enumerate(order):
            units += pipeline.packet(data, n * 0.001)
            units += pipeline.handle_timeout(n * 0.001)
        units += pipeline.flush()
        j = pipeline.jitter.stats
        c = pipeline.counters
        results.append(([(u.data, u.pts_90k, u.keyframe) for u in units], j, c.packets, c.frames))
    assert results[0] == results[1]


@given(st.lists(st.integers(1, 3000), min_size=1, max_size=60), st.binary(max_size=40))
@settings(max_examples=60, deadline=None)
def test_skipping_inside_a_pes_changes_nothing(cuts: list[int], junk: bytes) -> None:
    muxer = PsMuxer(Codec.H264)
    frames = encode_pattern("libx264", 20)
    stream = b"".join(muxer.mux_frame(f.data, f.pts_90k, keyframe=f.keyframe) for f in frames)
    stream = stream[:5000] + junk + stream[5000:]
    whole = PsDemuxer()
    expected = whole.feed(stream) + whole.flush()
    pieces, at = [], 0
    for size in cuts * (len(stream) // sum(cuts) + 1):
        pieces.append(stream[at : at + size])
        at += size
    chunked = PsDemuxer()
    got = [u for piece in pieces for u in chunked.feed(piece)] + chunked.flush()
    assert [(u.data, u.pts_90k) for u in got] == [(u.data, u.pts_90k) for u in expected]
    assert chunked.stats.garbage_bytes == whole.stats.garbage_bytes
