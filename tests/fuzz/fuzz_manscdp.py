"""Fuzz target for the MANSCDP decoder.

Run standalone, e.g. ``python -m tests.fuzz.fuzz_manscdp --seconds 60 --seed 1`` (a seeded
random mutator over valid seed bodies plus random bytes, no extra packages), or with atheris if
it is installed: ``python -m tests.fuzz.fuzz_manscdp -atheris``.
The property: any input either decodes to a model that encodes and decodes back to itself, or
raises ManscdpError; any other exception or a slow input (over 2 s) is a finding.
"""

from __future__ import annotations

import argparse
import importlib
import random
import sys
import time

from sightline.gb28181.manscdp import ManscdpError, decode, encode

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
    started = time.perf_counter()
    try:
        msg = decode(data)
    except ManscdpError:
        return
    finally:
        elapsed = time.perf_counter() - started
        if elapsed > 2.0:
            raise AssertionError(f"decoding {len(data)} bytes took {elapsed:.1f} s")
    again = decode(encode(msg, "UTF-8"), "UTF-8")
    if again != msg:
        raise AssertionError(f"re-encoding changed the message: {msg!r} -> {again!r}")


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    """Overwrite, insert, delete or duplicate a few bytes of a valid seed."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        if not data:
            break
        pos = rng.randrange(len(data))
        op = rng.randrange(4)
        if op == 0:
            data[pos] = rng.randrange(256)
        elif op == 1:
            data.insert(pos, rng.choice(b"<>&=/\"'\x00\xff \xe4\xb8"))
        elif op == 2:
            del data[pos : pos + rng.randint(1, 16)]
        else:
            chunk = data[pos : pos + rng.randint(1, 64)]
            data[pos:pos] = chunk * rng.randint(1, 50)
    return bytes(data)


def generate(rng: random.Random) -> bytes:
    """One fuzz input: random bytes or a mutated seed."""
    if rng.random() < 0.2:
        return rng.randbytes(rng.randint(0, 4096))
    return _mutate(rng, rng.choice(SEEDS))


def run(seconds: float, seed: int) -> int:
    """Fuzz until ``seconds`` have passed; return the number of inputs tried."""
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        data = generate(rng)
        count += 1
        try:
            check_one(data)
        except Exception:
            print(f"finding after {count} inputs (seed {seed}): {data!r}", file=sys.stderr)
            raise
    return count


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-atheris", action="store_true", help="use atheris instead of hypothesis")
    args, rest = parser.parse_known_args(argv)
    if args.atheris:
        atheris = importlib.import_module("atheris")  # optional; not a project dependency

        atheris.Setup([sys.argv[0], *rest], check_one)
        atheris.Fuzz()
        return 0
    tried = run(args.seconds, args.seed)
    print(f"fuzz_manscdp: {tried} inputs, no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
