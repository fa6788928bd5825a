"""What the mutation-based fuzz targets share: the byte mutator, the time-boxed loop and the
command line (``--seconds``, ``--seed``, ``-atheris``)."""

from __future__ import annotations

import argparse
import importlib
import random
import sys
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["fuzz_loop", "fuzz_main", "mutate", "within_time"]

T = TypeVar("T")


def mutate(rng: random.Random, seed: bytes, alphabet: bytes, max_repeat: int = 50) -> bytes:
    """Overwrite, insert (from ``alphabet``), delete or duplicate (up to ``max_repeat`` times)
    a few bytes of a seed."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        if not data:
            break
        pos = rng.randrange(len(data))
        op = rng.randrange(4)
        if op == 0:
            data[pos] = rng.randrange(256)
        elif op == 1:
            data.insert(pos, rng.choice(alphabet))
        elif op == 2:
            del data[pos : pos + rng.randint(1, 16)]
        else:
            chunk = data[pos : pos + rng.randint(1, 64)]
            data[pos:pos] = chunk * rng.randint(1, max_repeat)
    return bytes(data)


def within_time(limit_s: float, work: Callable[[], object], what: str) -> None:
    """Run ``work``; over ``limit_s`` it runs once more and is a finding only if slow again.

    A parser that is slow on an input is slow every time; a stall of the machine (another
    process, a collection of the test runner's heap) is not, and made CI fail on a 3 kB SDP
    that parses in 2 ms (1.65 s once, on a loaded 2-core machine).
    """
    took: list[float] = []
    for _ in range(2):
        started = time.perf_counter()
        work()
        took.append(time.perf_counter() - started)
        if took[-1] <= limit_s:
            return
    raise AssertionError(f"{what} took {took[0]:.2f} s, and {took[1]:.2f} s again")


def fuzz_loop(
    generate: Callable[[random.Random], T],
    check: Callable[[T], None],
    seconds: float,
    seed: int,
) -> int:
    """Check generated inputs until ``seconds`` have passed; return how many were tried."""
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        case = generate(rng)
        count += 1
        try:
            check(case)
        except Exception:
            print(f"finding after {count} inputs (seed {seed}): {case!r}", file=sys.stderr)
            raise
    return count


def fuzz_main(
    name: str,
    doc: str | None,
    run: Callable[[float, int], int],
    atheris_check: Callable[[bytes], None],
    argv: list[str] | None = None,
) -> int:
    """The command line of a fuzz target."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-atheris", action="store_true", help="use atheris instead")
    args, rest = parser.parse_known_args(argv)
    if args.atheris:
        atheris = importlib.import_module("atheris")  # optional; not a project dependency

        atheris.Setup([sys.argv[0], *rest], atheris_check)
        atheris.Fuzz()
        return 0
    tried = run(args.seconds, args.seed)
    print(f"{name}: {tried} inputs, no findings")
    return 0
