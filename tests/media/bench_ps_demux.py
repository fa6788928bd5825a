"""Demux throughput on a 1080p 4 Mbit/s H.264 stream: ``python -m tests.media.bench_ps_demux``.

Not collected by pytest. Encodes 10 s of the test pattern with libx264 at 4 Mbit/s, muxes it
with PsMuxer, packetises it to RTP, then times (best of 5) the demuxer alone fed 1400-byte
payloads, and the whole receive path (parse_rtp → JitterBuffer → PsDemuxer).
"""

from __future__ import annotations

import timeit

from sightline.media.jitter import JitterBuffer
from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import Codec
from sightline.media.ps_mux import PsMuxer
from sightline.media.rtp import RtpPacketiser, parse_rtp
from tests.media.video import encode_pattern

SECONDS = 10


def main() -> None:
    """Print MB/s, frames/s and packets/s, and what they mean in 4 Mbit/s streams per core."""
    frames = encode_pattern(
        "libx264", 25 * SECONDS, width=1920, height=1080, bit_rate=4_000_000, gop=50
    )
    muxer = PsMuxer(Codec.H264)
    packetiser = RtpPacketiser(ssrc=1)
    datagrams = []
    for f in frames:
        pack = muxer.mux_frame(f.data, f.pts_90k, keyframe=f.keyframe)
        datagrams += [bytes(p) for p in packetiser.packetise(pack, f.pts_90k)]
    payloads = [(parse_rtp(d).payload, parse_rtp(d).marker) for d in datagrams]
    size = sum(len(p) for p, _ in payloads)

    def demux_only() -> None:
        d = PsDemuxer()
        n = sum(len(d.feed(p, end_of_frame=m)) for p, m in payloads) + len(d.flush())
        assert n == len(frames)

    def receive_path() -> None:
        d = PsDemuxer()
        buffer = JitterBuffer(startup_s=0.0)
        n = 0
        for i, datagram in enumerate(datagrams):
            for item in buffer.push(parse_rtp(datagram), i * 0.0001):
                n += len(d.feed(item.packet.payload, end_of_frame=item.packet.marker))
        assert n + len(d.flush()) == len(frames)

    print(
        f"stream: {len(frames)} frames, {size / 1e6:.1f} MB, {size * 8 / SECONDS / 1e6:.2f} Mbit/s,"
        f" {len(datagrams)} RTP packets"
    )
    for name, fn in (("demux only", demux_only), ("rtp+jitter+demux", receive_path)):
        best = min(timeit.repeat(fn, number=1, repeat=5))
        print(
            f"{name:>17}: {size / best / 1e6:7.1f} MB/s {len(frames) / best:8.0f} frames/s"
            f" {len(datagrams) / best:8.0f} packets/s = {SECONDS / best:5.0f} realtime streams/core"
        )


if __name__ == "__main__":
    main()
