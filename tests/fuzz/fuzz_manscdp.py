"""Fuzz target for the MANSCDP decoder.

Run standalone, e.g. ``python -m tests.fuzz.fuzz_manscdp --seconds 60 --seed 1`` (a seeded
random mutator over valid seed bodies plus random bytes, no extra packages), or with atheris if
it is installed: ``python -m tests.fuzz.fuzz_manscdp -atheris``.
The property: any input either decodes to a model that encodes and decodes back to itself, or
raises ManscdpError; any other exception or a slow input (over 2 s) is a finding.
"""

from __future__ import annotations

import random
import sys

from sightline.gb28181.manscdp import ManscdpError, ManscdpMessage, decode, encode
from tests.fuzz.runner import fuzz_loop, fuzz_main, mutate, within_time

SEEDS = [
    b'<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Keepalive</CmdType><SN>1</SN>'
    b"<DeviceID>34020000001320000001</DeviceID><Status>OK</Status></Notify>",
    b"<Response><CmdType>Catalog</CmdType><SN>2</SN><DeviceID>1</DeviceID><SumNum>1</SumNum>"
    b"<DeviceList Num=1><Item><DeviceID>2</DeviceID><Name>A&B</Name><Info><PTZType>1</PTZType>"
    b"</Info></Item></DeviceList></Response>",
    b"<Control><CmdType>DeviceControl</CmdType><SN>3</SN><DeviceID>1</DeviceID>"
    b"<PTZCmd>A50F010180000036</PTZCmd><IFameCmd>Send</IFameCmd></Control>",
    b"<Query><CmdType>RecordInfo</CmdType><SN>4</SN><DeviceID>1</DeviceID>"
    b"<StartTime>2024-05-01T00:00:00</StartTime><EndTime>2024-05-01 12:00:00</EndTime></Query>",
]


def check_one(data: bytes) -> None:
    """The fuzzed property for one input."""
    decoded: list[ManscdpMessage | None] = []

    def one() -> None:
        try:
            decoded.append(decode(data))
        except ManscdpError:
            decoded.append(None)

    within_time(2.0, one, f"decoding {len(data)} bytes")
    msg = decoded[-1]
    if msg is None:
        return
    again = decode(encode(msg, "UTF-8"), "UTF-8")
    if again != msg:
        raise AssertionError(f"re-encoding changed the message: {msg!r} -> {again!r}")


def generate(rng: random.Random) -> bytes:
    """One fuzz input: random bytes or a mutated seed."""
    if rng.random() < 0.2:
        return rng.randbytes(rng.randint(0, 4096))
    return mutate(rng, rng.choice(SEEDS), b"<>&=/\"'\x00\xff \xe4\xb8")


def run(seconds: float, seed: int) -> int:
    """Fuzz until ``seconds`` have passed; return the number of inputs tried."""
    return fuzz_loop(generate, check_one, seconds, seed)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return fuzz_main("fuzz_manscdp", __doc__, run, check_one, argv)


if __name__ == "__main__":
    sys.exit(main())
