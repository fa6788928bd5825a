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

__all__ = ["fuzz_loop", "fuzz_main", "mutate"]

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
