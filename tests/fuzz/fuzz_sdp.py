"""Fuzz target for the SDP parser, the ``f=`` codec, answer reading and the MANSRTSP parser.

Run standalone, e.g. ``python -m tests.fuzz.fuzz_sdp --seconds 60 --seed 1`` (a seeded random
mutator over device-style seed bodies plus random bytes, no extra packages), or with atheris if it
is installed: ``python -m tests.fuzz.fuzz_sdp -atheris``.
The property: any input either parses to a description that serialises and parses back to
itself, or raises SdpError (MansrtspError for MANSRTSP); anything else, or an input that takes
over 1 s, is a finding.
"""

from __future__ import annotations

import contextlib
import random
import sys

from sightline.gb28181 import mansrtsp
from sightline.gb28181.invite import parse_answer
from sightline.gb28181.mansrtsp import MansrtspError
from sightline.gb28181.sdp import SdpError, parse
from tests.fuzz.runner import fuzz_loop, fuzz_main, mutate, within_time

SDP_SEEDS = [
    b"v=0\r\no=34020000002000000001 0 0 IN IP4 10.0.0.5\r\ns=Play\r\nc=IN IP4 10.0.0.5\r\n"
    b"t=0 0\r\nm=video 30000 TCP/RTP/AVP 96 97 98\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n"
    b"a=rtpmap:97 MPEG4/90000\r\na=rtpmap:98 H264/90000\r\na=setup:passive\r\n"
    b"a=connection:new\r\ny=0200000001\r\nf=v/2/5/25/1/4096a///\r\n",
    b"v=0\no=34020000001320000001 0 0 IN IP4 192.168.1.108\ns=Playback\n"
    b"u=34020000001320000001:0\nc=IN IP4 192.168.1.108\nt=1714521600 1714525200\n"
    b"m=video 15060 RTP/AVP 96\na=sendonly\na=rtpmap:96 PS/90000\na=filesize:-1\ny=100000001",
    b"v=0\r\no=64010000041110000044 0 0 IN IP4 172.24.18.44\r\ns=EmbeddedNetDVR\r\n"
    b"c=IN IP4 172.24.18.44\r\nt=0 0\r\nm=video 8412 RTP/AVP 96 98\r\na=sendonly\r\n"
    b"a=rtpmap:96 PS/90000\r\na=rtpmap:98 H264/90000\r\na=username:64010000041110000044\r\n"
    b"a=password:12345678\r\ny=0100000001\r\nf=\r\n",
]
MANSRTSP_SEEDS = [
    b"PLAY RTSP/1.0\r\nCSeq: 5\r\nRange: npt=now-\r\n\r\n",
    b"PAUSE RTSP/1.0\r\nCSeq: 6\r\nPauseTime: now\r\n\r\n",
    b"PLAY MANSRTSP/1.0\r\nCSeq: 7\r\nScale: 2.0\r\nRange: npt=196-\r\n",
    b"RTSP/1.0 200 OK\r\nCSeq: 6\r\nRange: npt=100-\r\nRTP-Info: seq=18139;rtptime=3119600838\r\n",
]
SEEDS = SDP_SEEDS + MANSRTSP_SEEDS
_SLOW_S = 1.0


def _check_sdp(data: bytes) -> None:
    try:
        sdp = parse(data)
    except SdpError:
        return
    again = parse(bytes(sdp))
    if again != sdp:
        raise AssertionError(f"re-serialising changed the description: {sdp!r} -> {again!r}")
    with contextlib.suppress(SdpError):
        parse_answer(sdp)


def _check_mansrtsp(data: bytes) -> None:
    try:
        message = mansrtsp.parse(data)
    except MansrtspError:
        return
    again = mansrtsp.parse(bytes(message))
    if again != message:
        raise AssertionError(f"re-serialising changed the message: {message!r} -> {again!r}")


def check_one(data: bytes) -> None:
    """The fuzzed property for one input, fed to both parsers."""

    def both() -> None:
        _check_sdp(data)
        _check_mansrtsp(data)

    within_time(_SLOW_S, both, f"parsing {len(data)} bytes")


def generate(rng: random.Random) -> bytes:
    """One fuzz input: random bytes or a mutated seed."""
    if rng.random() < 0.2:
        return rng.randbytes(rng.randint(0, 2048))
    return mutate(rng, rng.choice(SEEDS), b"=:/- \r\n\x00\xff\xe4\xb8\x85ayfmtcs0123456789")


def run(seconds: float, seed: int) -> int:
    """Fuzz until ``seconds`` have passed; return the number of inputs tried."""
    return fuzz_loop(generate, check_one, seconds, seed)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return fuzz_main("fuzz_sdp", __doc__, run, check_one, argv)


if __name__ == "__main__":
    sys.exit(main())
