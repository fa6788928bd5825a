"""MANSCDP sequence numbers (``SN``)."""

from __future__ import annotations

import random

__all__ = ["SN_MAX", "SnCounter"]

SN_MAX = 2**31 - 1


class SnCounter:
    """Hands out SNs 1..2**31-1 in order, wrapping back to 1. Not thread-safe.

    Without ``start`` the counter begins at a random value in the lower half of the range, so
    answers still in flight for SNs used before a restart are unlikely to match new requests
    (responses are correlated by device and SN). Pass ``start`` (or a seeded ``rng``) for tests.
    Keep one counter per direction: SNs sent upstream and downstream are separate spaces.
    """

    def __init__(self, start: int | None = None, *, rng: random.Random | None = None) -> None:
        if start is None:
            start = (rng or random.SystemRandom()).randint(1, SN_MAX // 2)
        if not 1 <= start <= SN_MAX:
            raise ValueError(f"SN start must be in 1..{SN_MAX}, got {start}")
        self._next = start

    def peek(self) -> int:
        """The SN the next call to :meth:`next` returns."""
        return self._next

    def next(self) -> int:
        """Return an SN and advance."""
        value = self._next
        self._next = 1 if value >= SN_MAX else value + 1
        return value
