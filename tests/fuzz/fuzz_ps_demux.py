"""Mutation fuzzer for the PS demuxer (and the RFC 4571 deframer in front of it).

Run standalone: ``python tests/fuzz/fuzz_ps_demux.py --iterations 20000 [--seed N]``.
Seeds are PS streams muxed from real H.264/H.265 (PyAV) plus a synthetic one. Each iteration
mutates a seed (bit flips, start codes inserted, slices deleted, duplicated or spliced,
lengths rewritten), feeds it in random chunks with random marker bits, and checks that
nothing is raised, memory stays under the configured bound and DTS keeps increasing.
Exit status 1 and the offending input on the first failure.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import traceback
from collections.abc import Callable, Sequence

from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import Codec, pack_header, pes_header
from sightline.media.ps_mux import PsMuxer
from sightline.media.rtp import Rfc4571Deframer, frame_rfc4571

MAX_BUFFERED = 1 << 20
_INTERESTING = [
    b"\x00\x00\x01\xba",
    b"\x00\x00\x01\xbc",
    b"\x00\x00\x01\xbd\xff\xff",
    b"\x00\x00\x01\xe0\x00\x00",
    b"\x00\x00\x01\xe0\xff\xff\x80\xc0\x0a",
    b"\x00\x00\x01\xc0\x00\x05",
    b"\x00\x00\x01\x67",
    b"\x00\x00\x01\x40\x01",
    b"\x00\x00\x01",
    b"\x00\x00",
    b"\xff" * 8,
]

Mutation = Callable[[random.Random, bytearray, list[bytes]], None]


def _flip(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    if data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _insert(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    at = rng.randrange(len(data) + 1)
    data[at:at] = rng.choice(_INTERESTING) if rng.random() < 0.7 else rng.randbytes(64)


def _delete(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    if data:
        at = rng.randrange(len(data))
        del data[at : at + rng.randint(1, 2000)]


def _duplicate(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    if data:
        at = rng.randrange(len(data))
        piece = data[at : at + rng.randint(1, 3000)]
        to = rng.randrange(len(data) + 1)
        data[to:to] = piece


def _length(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    at = data.find(b"\x00\x00\x01", rng.randrange(len(data) + 1))
    if at >= 0 and at + 6 <= len(data):
        data[at + 4 : at + 6] = rng.choice([0, 1, 0xFFFF, rng.randrange(0x10000)]).to_bytes(2)


def _splice(rng: random.Random, data: bytearray, seeds: list[bytes]) -> None:
    other = rng.choice(seeds)
    data[rng.randrange(len(data) + 1) :] = other[rng.randrange(len(other) + 1) :]


_MUTATIONS: list[Mutation] = [_flip, _insert, _delete, _duplicate, _length, _splice]


def _synthetic_seed() -> bytes:
    out = bytearray()
    for i in range(20):
        body = bytes((0x65 if i % 10 == 0 else 0x41, 0x88)) + bytes(range(4, 250))
        au = b"\x00\x00\x00\x01\x09\xf0\x00\x00\x01" + body
        out += pack_header(i * 3600) + pes_header(0xE0, len(au), i * 3600, None, True) + au
    return bytes(out)


def load_seeds() -> list[bytes]:
    """PS from real encoders when PyAV is installed, and always one synthetic stream."""
    seeds = [_synthetic_seed()]
    try:
        from tests.media.video import encode_pattern
    except ImportError:  # PyAV or numpy missing: the synthetic seed still exercises the parser
        return seeds
    for encoder, codec, pes in (("libx264", Codec.H264, 1500), ("libx265", Codec.H265, 65_000)):
        muxer = PsMuxer(codec, Codec.G711A, max_pes_payload=pes)
        seeds.append(
            b"".join(
                muxer.mux_frame(f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe)
                + muxer.mux_audio(bytes(160), f.pts_90k)
                for f in encode_pattern(encoder, 20, bframes=2)
            )
        )
    return seeds


def mutate(rng: random.Random, seed: bytes, seeds: list[bytes]) -> bytes:
    """Apply one to six random mutations to a copy of seed."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 6)):
        rng.choice(_MUTATIONS)(rng, data, seeds)
    return bytes(data)


def check(data: bytes, rng: random.Random) -> None:
    """Raise AssertionError (or the unexpected exception) when the demuxer misbehaves."""
    demuxer = PsDemuxer(max_frame_bytes=256 << 10, max_buffered_bytes=MAX_BUFFERED)
    units = []
    pos = 0
    while pos < len(data):
        step = rng.choice([1, 7, 188, 1400, 5000])
        units += demuxer.feed(data[pos : pos + step], end_of_frame=rng.random() < 0.05)
        assert demuxer.buffered_bytes <= MAX_BUFFERED, demuxer.buffered_bytes
        pos += step
        if rng.random() < 0.002:
            units += demuxer.reset()
    units += demuxer.flush()
    last: dict[int, int] = {}
    for u in units:
        assert u.dts_90k > last.get(u.stream_id, -(1 << 62)) and u.pts_90k >= u.dts_90k, u
        last[u.stream_id] = u.dts_90k
    deframer = Rfc4571Deframer()
    for i in range(0, len(data), 1000):
        for packet in deframer.feed(frame_rfc4571(data[i : i + 1000]) + data[i : i + 13]):
            assert len(packet) >= 12
        assert deframer.buffered_bytes <= 65_537


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz for --iterations rounds; 0 when nothing misbehaved."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    seeds = load_seeds()
    for i in range(args.iterations):
        data = mutate(rng, rng.choice(seeds), seeds)
        try:
            check(data, rng)
        except Exception:  # a fuzz harness reports whatever escapes, then stops
            print(f"failure at iteration {i} (seed {seed}), {len(data)} bytes:", file=sys.stderr)
            print(data.hex(), file=sys.stderr)
            traceback.print_exc()
            return 1
    print(f"{args.iterations} iterations, {len(seeds)} seeds, seed {seed}: no failures")
    return 0


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # the demuxer warns about every damaged stream
    sys.exit(main())
