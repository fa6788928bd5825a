"""Mutation fuzzer for the SIP codec, seeded with the RFC 4475 torture messages.

Run standalone: ``python tests/fuzz/fuzz_sip_parser.py --iterations 100000 [--seed N]``.
Each iteration mutates a seed message and checks that parse_message, error_response and
StreamFramer.feed raise nothing but SipParseError, and that whatever parses round-trips.
Exit status 1 and the offending input on the first failure.
"""

from __future__ import annotations

import argparse
import random
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from sightline.sip.errors import SipParseError
from sightline.sip.framing import StreamFramer
from sightline.sip.message import Request, Response
from sightline.sip.parser import error_response, parse_message, serialize

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "rfc4475"
FALLBACK_SEED = (
    b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1371463273\r\n"
    b"From: <sip:34020000001320000001@3402000000>;tag=2043466181\r\n"
    b"To: <sip:34020000001320000001@3402000000>\r\n"
    b"Call-ID: 1011047669\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
)
_INTERESTING = [
    b"\r\n",
    b"\r\n\r\n",
    b" ",
    b"\t",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b'"',
    b"\\",
    b"%",
    b"%00",
    b"@",
    b"[",
    b"]",
    b"\x00",
    b"\xff",
    b"\xe5\xad\x97",
    b"-1",
    b"99999999999999999999",
    b"SIP/3.0",
    b"l: 5\r\n",
    b"Content-Length: 0\r\n",
    b"\r\n ",
]

Mutation = Callable[[random.Random, bytearray, list[bytes]], None]


def _flip(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    if data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _insert(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    at = rng.randrange(len(data) + 1)
    data[at:at] = (
        rng.choice(_INTERESTING) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 8))
    )


def _delete(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    if data:
        at = rng.randrange(len(data))
        del data[at : at + rng.randint(1, 16)]


def _replace(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    if data:
        at = rng.randrange(len(data))
        data[at : at + rng.randint(1, 4)] = rng.choice(_INTERESTING)


def _shuffle_lines(rng: random.Random, data: bytearray, _: list[bytes]) -> None:
    lines = bytes(data).split(b"\r\n")
    if len(lines) > 2:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        if rng.random() < 0.5:
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(j, lines[i])
        data[:] = b"\r\n".join(lines)


def _splice(rng: random.Random, data: bytearray, seeds: list[bytes]) -> None:
    other = rng.choice(seeds)
    data[rng.randrange(len(data) + 1) :] = other[rng.randrange(len(other) + 1) :]


_MUTATIONS: list[Mutation] = [_flip, _insert, _delete, _replace, _shuffle_lines, _splice]


def load_seeds() -> list[bytes]:
    """The RFC 4475 messages, or one built-in REGISTER when the corpus is not there."""
    seeds = [p.read_bytes() for p in sorted(CORPUS.glob("*.dat"))] if CORPUS.is_dir() else []
    return seeds or [FALLBACK_SEED]


def mutate(rng: random.Random, seed: bytes, seeds: list[bytes]) -> bytes:
    """Apply one to four random mutations to a copy of seed."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        rng.choice(_MUTATIONS)(rng, data, seeds)
    return bytes(data)


def check(data: bytes, rng: random.Random) -> None:
    """Raise AssertionError (or the unexpected exception) when the codec misbehaves."""
    try:
        message = parse_message(data)
    except SipParseError as exc:
        response = error_response(data, exc)
        assert response is None or response.status == exc.status
    else:
        assert parse_message(serialize(message)) == message, "round trip changed the message"
    framer = StreamFramer()
    items: list[Request | Response | SipParseError] = []
    stream = data + data
    pos = 0
    while pos < len(stream):
        step = rng.randint(1, 64)
        items += framer.feed(stream[pos : pos + step])
        pos += step
    assert all(isinstance(i, Request | Response | SipParseError) for i in items)


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz for --iterations rounds; 0 when nothing misbehaved."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=10_000)
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
            print(f"failure at iteration {i} (seed {seed}) on input:\n{data!r}", file=sys.stderr)
            traceback.print_exc()
            return 1
    print(f"{args.iterations} iterations, {len(seeds)} seeds, seed {seed}: no failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
