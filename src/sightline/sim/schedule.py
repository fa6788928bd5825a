"""One timer structure and one rate limiter for a whole fleet (sans-IO).

A fleet of 100,000 devices must not own 100,000 sleeping tasks: every device's next deadline
(keepalive, registration refresh, retry) lives in one :class:`TimerHeap`, and every REGISTER
start passes one :class:`TokenBucket`, so a restart of the platform meets a paced storm instead
of a burst. Rescheduling never searches the heap: the caller keeps the due time it wants on the
item and drops popped entries whose time no longer matches (lazy deletion).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, TypeVar

__all__ = ["TimerHeap", "TokenBucket", "spread_phase"]

T = TypeVar("T")


class TimerHeap(Generic[T]):
    """A min-heap of (due time, item); equal times pop in insertion order."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: float, item: T) -> None:
        """Add ``item`` due at ``due``."""
        heapq.heappush(self._heap, (due, next(self._seq), item))

    def next_deadline(self) -> float | None:
        """The earliest due time, None when empty."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float, limit: int | None = None) -> list[tuple[float, T]]:
        """Remove and return the entries due at ``now`` (at most ``limit``), earliest first."""
        out: list[tuple[float, T]] = []
        heap = self._heap
        while heap and heap[0][0] <= now and (limit is None or len(out) < limit):
            due, _, item = heapq.heappop(heap)
            out.append((due, item))
        return out


class TokenBucket:
    """``rate`` events per second on average, at most ``burst`` at once."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def next_token_at(self, now: float) -> float:
        """When the next token will be available."""
        self._refill(now)
        return now if self._tokens >= 1.0 else now + (1.0 - self._tokens) / self._rate


def spread_phase(index: int, count: int, interval: float, origin: float, after: float) -> float:
    """The first time after ``after`` in slot ``index`` of ``count`` evenly spaced slots.

    Slots repeat every ``interval`` from ``origin``; a fleet whose devices keep alive in their
    own slots sends a steady ``count / interval`` messages per second instead of bursts.
    """
    phase = origin + interval * (index % max(count, 1)) / max(count, 1)
    if phase > after:
        return phase
    periods = int((after - phase) // interval) + 1
    return phase + periods * interval
