"""Fuzz target for what crosses between the main process and its media workers: the control
packets (``live_channel.decode``) and the relay records (``unit_wire``).

Run standalone, e.g. ``python -m tests.fuzz.fuzz_worker_channel --seconds 60 --seed 1`` (a
seeded random mutator over valid packets and records plus random bytes), or with atheris if it
is installed: ``python -m tests.fuzz.fuzz_worker_channel -atheris``.
The property: a control packet either decodes to a message that encodes back to the same
message, or raises ChannelError; a relay record either parses (head and payload) or raises
UnitWireError; anything else, or a slow input (over 2 s), is a finding.
"""

from __future__ import annotations

import random
import sys

from sightline.gb28181.live_channel import (
    Admit,
    Failure,
    HangUp,
    Invite,
    Invited,
    LiveMessage,
    RelayOpen,
    Streams,
    decode,
    encode,
)
from sightline.gb28181.packet_channel import ChannelError
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.unit_wire import (
    HEAD,
    UnitWireError,
    decode_end,
    decode_unit,
    encode_end,
    encode_unit,
    parse_head,
)
from tests.fuzz.runner import fuzz_loop, fuzz_main, mutate, within_time

_CHANNEL = "34020000001310000001"
CONTROL_SEEDS = [
    encode(Invite(1, _CHANNEL, 30500, "udp")),
    encode(Invited(1, "call@h", 200, "v=0\r\n", "34020000001320000001", "0200000001")),
    encode(Invited(2, failure=Failure("rejected", "486 Busy Here", 486))),
    encode(HangUp("call@h")),
    encode(Admit(3, {"user_id": 1, "token_id": "t", "channel_id": _CHANNEL})),
    encode(RelayOpen(4, _CHANNEL)),
    encode(Streams([[_CHANNEL, "live", "live", None, 1, 0.1, 0.2, 3, 1, 100, 2e6, 0, 25, 0.04]])),
]
RELAY_SEEDS = [
    encode_unit(7, AccessUnit(Codec.H264, 0xE0, 3600, 3600, b"\x00\x00\x00\x01\x65abc", True)),
    encode_end(7, {"kind": "offline", "text": "device is offline", "status": None}),
]
SEEDS = [b"C" + s for s in CONTROL_SEEDS] + [b"R" + s for s in RELAY_SEEDS]


def _control(packet: bytes) -> None:
    try:
        message: LiveMessage = decode(packet)
    except ChannelError:
        return
    again = decode(encode(message))
    if again != message:
        raise AssertionError(f"re-encoding changed the message: {message!r} -> {again!r}")


def _relay(record: bytes) -> None:
    try:
        head = parse_head(record[: HEAD.size]) if len(record) >= HEAD.size else None
        if head is None:
            return
        payload = record[HEAD.size : HEAD.size + head.length]
        if len(payload) < head.length:
            return  # a reader would wait for the rest
        if head.end:
            decode_end(payload)
        else:
            unit = decode_unit(head, payload)
            if encode_unit(head.relay_id, unit) != record[: HEAD.size + head.length]:
                raise AssertionError("re-encoding changed the record")
    except UnitWireError:
        return


def check_one(data: bytes) -> None:
    """The fuzzed property for one input: its first byte says which decoder gets the rest."""
    target = _relay if data[:1] == b"R" else _control
    within_time(2.0, lambda: target(data[1:]), f"decoding {len(data)} bytes")


def generate(rng: random.Random) -> bytes:
    """One fuzz input: random bytes or a mutated seed."""
    if rng.random() < 0.2:
        return rng.choice((b"C", b"R")) + rng.randbytes(rng.randint(0, 512))
    return mutate(rng, rng.choice(SEEDS), b'{}[]":,\x00\xff0123456789')


def run(seconds: float, seed: int) -> int:
    """Fuzz until ``seconds`` have passed; return the number of inputs tried."""
    return fuzz_loop(generate, check_one, seconds, seed)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return fuzz_main("fuzz_worker_channel", __doc__, run, check_one, argv)


if __name__ == "__main__":
    sys.exit(main())
