"""Fuzz target for the RTSP reader, the server session and the H.264/H.265 depacketiser.

Run standalone, e.g. ``python -m tests.fuzz.fuzz_rtsp --seconds 60 --seed 1`` (a seeded random
mutator over client-style seed requests plus random bytes, no extra packages), or with atheris
if it is installed: ``python -m tests.fuzz.fuzz_rtsp -atheris``.
The property: any input, fed in random pieces, yields requests and interleaved frames or raises
RtspParseError with a status the server can answer; every request yields a response or a Step
from the session; the reader never holds more than its limits; the depacketiser raises only
RtpError. Anything else, or an input that takes over 1 s, is a finding.
"""

from __future__ import annotations

import random
import sys

from sightline.media.errors import RtpError
from sightline.media.ps_format import Codec
from sightline.media.rtp import RtpPacket
from sightline.media.rtp_h26x import H26xDepacketiser
from sightline.media.rtsp import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    REASONS,
    InterleavedFrame,
    RtspParseError,
    RtspReader,
    RtspRequest,
    RtspResponse,
)
from sightline.media.rtsp_session import RtspSession, Step
from tests.fuzz.runner import fuzz_loop, fuzz_main, mutate, within_time

_URL = b"rtsp://127.0.0.1:8554/live/34020000001320000001"
SEEDS = [
    b"OPTIONS " + _URL + b" RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf61.7.100\r\n\r\n",
    b"DESCRIBE " + _URL + b"?token=abc RTSP/1.0\r\nAccept: application/sdp\r\nCSeq: 2\r\n\r\n",
    b"SETUP " + _URL + b"/trackID=0 RTSP/1.0\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1"
    b"\r\nCSeq: 3\r\n\r\n",
    b"PLAY " + _URL + b"/ RTSP/1.0\r\nRange: npt=0.000-\r\nCSeq: 4\r\nSession: 0123abcd\r\n\r\n",
    b"GET_PARAMETER " + _URL + b"/ RTSP/1.0\r\nCSeq: 5\r\nSession: 0123abcd\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"SET_PARAMETER " + _URL + b" RTSP/1.0\r\nCSeq: 6\r\nContent-Length: 10\r\n\r\nparam: x\r\n",
    b"$\x01\x00\x20\x81\xc9\x00\x07" + bytes(28) + b"TEARDOWN " + _URL + b" RTSP/1.0\r\nCSeq: 7"
    b"\r\nSession: 0123abcd\r\n\r\n",
]
_SLOW_S = 1.0
_LIMIT = MAX_HEAD_BYTES + MAX_BODY_BYTES + 65540


def _check_stream(data: bytes, cuts: list[int]) -> None:
    reader, session = RtspReader(), RtspSession("0123abcd", 0.0)
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    try:
        for piece in pieces:
            for item in reader.feed(piece):
                if isinstance(item, RtspRequest):
                    outcome = session.receive(item, 0.0)
                    if not isinstance(outcome, RtspResponse | Step):
                        raise AssertionError(f"session returned {outcome!r}")
                elif not isinstance(item, InterleavedFrame):
                    raise AssertionError(f"reader returned {item!r}")
            if reader.buffered_bytes > _LIMIT:
                raise AssertionError(f"reader holds {reader.buffered_bytes} bytes")
    except RtspParseError as exc:
        if exc.status not in REASONS:
            raise AssertionError(f"parse error with status {exc.status}") from exc


def _check_depacketiser(data: bytes) -> None:
    for codec in (Codec.H264, Codec.H265):
        depacketiser = H26xDepacketiser(codec)
        for seq, start in enumerate(range(0, len(data), 97)):
            packet = RtpPacket(96, seq, seq // 4, 1, data[start : start + 97], marker=seq % 3 == 0)
            try:
                depacketiser.push(packet)
            except RtpError:
                continue


def check_one(data: bytes, cuts: list[int] | None = None) -> None:
    """The fuzzed property for one input."""
    at = sorted({c % (len(data) + 1) for c in cuts or []})

    def both() -> None:
        _check_stream(data, at)
        _check_depacketiser(data)

    within_time(_SLOW_S, both, f"{len(data)} bytes")


def generate(rng: random.Random) -> tuple[bytes, list[int]]:
    """One fuzz input and where to cut it: random bytes or mutated seeds back to back."""
    if rng.random() < 0.2:
        data = rng.randbytes(rng.randint(0, 4096))
    else:
        data = b"".join(
            mutate(rng, rng.choice(SEEDS), b"$:;=/-?% \r\n\x00\xff0123456789", 200)
            for _ in range(rng.randint(1, 4))
        )
    return data, [rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 6))]


def run(seconds: float, seed: int) -> int:
    """Fuzz until ``seconds`` have passed; return the number of inputs tried."""
    return fuzz_loop(generate, lambda case: check_one(*case), seconds, seed)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return fuzz_main("fuzz_rtsp", __doc__, run, check_one, argv)


if __name__ == "__main__":
    sys.exit(main())
