"""Keepalive deadlines for many devices (§9.6): one heap, no task or timer per device. Sans-IO.

A device is offline once ``timeout_s`` (keepalive interval × missed count) passes without a
keepalive. Keepalives arrive far more often than deadlines fall due, so :meth:`touch` only
writes the new deadline into a dict; the heap keeps exactly one entry per device, holding a
deadline that may be *older* than the real one. When that entry reaches the top, the real
deadline is checked and the entry is pushed back if it moved ("lazy extension"). A device
therefore costs one heap entry plus two dict slots whatever its keepalive rate, and one
keepalive costs a dict store.

``_scheduled`` remembers which heap entry is the device's live one, so an entry left behind by
:meth:`remove` followed by a new :meth:`touch` is recognised as stale and dropped.
:meth:`next_deadline` may report a time earlier than any real expiry (a lazily extended
entry); waking up early is harmless, :meth:`expired` then returns nothing.
"""

from __future__ import annotations

import heapq

__all__ = ["KeepaliveTracker"]


class KeepaliveTracker:
    """Deadlines by device ID; ``expired(now)`` returns (and forgets) the devices past theirs."""

    def __init__(self, timeout_s: float) -> None:
        if not timeout_s > 0:
            raise ValueError(f"keepalive timeout must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self._deadline: dict[str, float] = {}
        self._scheduled: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._deadline)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._deadline

    def touch(self, device_id: str, now: float, timeout_s: float | None = None) -> None:
        """A keepalive (or registration) from ``device_id`` at ``now``."""
        deadline = now + (self.timeout_s if timeout_s is None else timeout_s)
        self._deadline[device_id] = deadline
        if device_id not in self._scheduled:
            self._schedule(device_id, deadline)
        elif deadline < self._scheduled[device_id]:
            # a shorter timeout than before: the live entry would fire too late
            self._schedule(device_id, deadline)

    def remove(self, device_id: str) -> None:
        """Stop tracking ``device_id`` (unregistered); its heap entry is dropped lazily."""
        self._deadline.pop(device_id, None)

    def deadline(self, device_id: str) -> float | None:
        """The current deadline of ``device_id``."""
        return self._deadline.get(device_id)

    def next_deadline(self) -> float | None:
        """When :meth:`expired` should next be called (possibly early, never late)."""
        return self._heap[0][0] if self._heap else None

    def expired(self, now: float) -> list[str]:
        """Devices whose deadline is at or before ``now``; they are no longer tracked."""
        heap = self._heap
        out: list[str] = []
        while heap and heap[0][0] <= now:
            at, device_id = heapq.heappop(heap)
            if self._scheduled.get(device_id) != at:
                continue  # superseded entry
            real = self._deadline.get(device_id)
            if real is None:
                del self._scheduled[device_id]
            elif real > now:
                self._schedule(device_id, real)
            else:
                del self._scheduled[device_id]
                del self._deadline[device_id]
                out.append(device_id)
        return out

    def _schedule(self, device_id: str, deadline: float) -> None:
        self._scheduled[device_id] = deadline
        heapq.heappush(self._heap, (deadline, device_id))
