"""Encoded video through the whole receive path: PS mux → RTP → network → jitter → demux."""

from __future__ import annotations

import random

import pytest

from sightline.media.jitter import JitterBuffer
from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.ps_mux import PsMuxer
from sightline.media.rtp import Rfc4571Deframer, RtpPacketiser, frame_rfc4571, parse_rtp
from tests.media.pstools import assert_monotonic
from tests.media.video import encode_pattern

SSRC = 200000001


def send(encoder: str, codec: Codec) -> tuple[list[tuple[int, bytes]], list[bytes], list[int]]:
    """(frame index, RTP datagram) pairs, the frames, their PTS; sequence numbers wrap."""
    frames = encode_pattern(encoder, 75, bframes=2)
    muxer = PsMuxer(codec)
    packetiser = RtpPacketiser(ssrc=SSRC, sequence=65_400)
    datagrams = []
    for i, f in enumerate(frames):
        pack = muxer.mux_frame(f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe)
        datagrams += [(i, bytes(p)) for p in packetiser.packetise(pack, f.pts_90k)]
    return datagrams, [f.data for f in frames], [f.pts_90k for f in frames]


def network(
    datagrams: list[tuple[int, bytes]], rng: random.Random
) -> tuple[list[tuple[int, bytes]], set[int], int]:
    """Drop ~1%, duplicate ~2% and move ~10% of packets up to 8 places later."""
    out = []
    dropped: set[int] = set()
    duplicates = 0
    for item in datagrams:
        if rng.random() < 0.01:
            dropped.add(item[0])
            continue
        out.append(item)
        if rng.random() < 0.02:
            out.append(item)
            duplicates += 1
    for i in range(len(out) - 9):
        if rng.random() < 0.1:
            j = i + rng.randint(1, 8)
            out[i], out[j] = out[j], out[i]
    return out, dropped, duplicates


def receive(arrivals: list[bytes], buffer: JitterBuffer, demuxer: PsDemuxer) -> list[AccessUnit]:
    """The receive path as the server runs it, one millisecond between datagrams."""
    units: list[AccessUnit] = []
    released = []
    for n, datagram in enumerate(arrivals):
        released += buffer.push(parse_rtp(datagram), now=n / 1000)
    released += buffer.flush()
    for item in released:
        if item.lost:
            units += demuxer.reset()
        units += demuxer.feed(item.packet.payload, end_of_frame=item.packet.marker)
    return units + demuxer.flush()


@pytest.mark.parametrize(("encoder", "codec"), [("libx264", Codec.H264), ("libx265", Codec.H265)])
@pytest.mark.parametrize("seed", [1, 2])
def test_udp_path_with_loss_reordering_and_duplicates(
    encoder: str, codec: Codec, seed: int
) -> None:
    datagrams, frames, pts = send(encoder, codec)
    arrivals, damaged, duplicates = network(datagrams, random.Random(seed))
    buffer = JitterBuffer(window=64, max_delay_s=0.2)
    units = receive([d for _, d in arrivals], buffer, PsDemuxer())
    assert buffer.stats.lost == len(datagrams) - len(arrivals) + duplicates
    assert buffer.stats.duplicates == duplicates
    assert buffer.stats.reordered > 0
    assert_monotonic(units)
    by_pts = {u.pts_90k: u.data for u in units}
    intact = [i for i in range(len(frames)) if i not in damaged]
    assert [by_pts.get(pts[i]) for i in intact] == [frames[i] for i in intact]
    assert len(units) <= len(frames)


def test_tcp_path_survives_garbage_between_frames() -> None:
    datagrams, frames, _ = send("libx264", Codec.H264)
    rng = random.Random(3)
    stream = bytearray()
    garbage = 0
    for n, (_, d) in enumerate(datagrams):
        stream += frame_rfc4571(d)
        if n % 40 == 39:
            junk = rng.randbytes(rng.randint(1, 300))
            garbage += len(junk)
            stream += junk
    deframer = Rfc4571Deframer()
    demuxer = PsDemuxer()
    units: list[AccessUnit] = []
    pos = 0
    while pos < len(stream):
        step = rng.randint(1, 3000)
        for packet in deframer.feed(bytes(stream[pos : pos + step])):
            rtp = parse_rtp(packet)
            units += demuxer.feed(rtp.payload, end_of_frame=rtp.marker)
        pos += step
    units += demuxer.flush()
    assert [u.data for u in units] == frames
    assert deframer.discarded_bytes == garbage
    assert deframer.buffered_bytes == 0
