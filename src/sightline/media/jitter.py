"""A per-stream reorder buffer for RTP: packets in any order in, in-order packets out.

Sequence numbers are 16 bits and wrap; the buffer works on extended (unwrapped) numbers,
placing each packet within ±32768 of the next one it expects. A packet is held until the
gap before it fills, or until the gap is given up on: when the buffer spans ``window``
sequence numbers, or when the oldest held packet has waited ``max_delay_s``. A packet that
arrives after its slot was given up on is counted ``late`` and dropped; a second copy of a
packet is counted ``duplicates``. A jump of more than ``max_dropout`` (or back by more than
``max_misorder``) is taken for a sender restart once two consecutive packets agree on it,
like RFC 3550 A.1 does. The first packet to arrive may not be the first one sent, so nothing
is released during the first ``startup_s`` and the start moves back to the earliest seen.
Time is an input: ``push(packet, now)`` and ``handle_timeout(now)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sightline.media.rtp import RtpPacket

__all__ = ["JitterBuffer", "JitterStats", "Ordered"]


@dataclass(frozen=True, slots=True)
class Ordered:
    """A packet released in order; ``lost`` packets were given up on just before it."""

    packet: RtpPacket
    lost: int = 0


@dataclass(slots=True)
class JitterStats:
    """Counters since the buffer was created."""

    received: int = 0
    delivered: int = 0
    lost: int = 0
    reordered: int = 0
    duplicates: int = 0
    late: int = 0
    restarts: int = 0


@dataclass(slots=True)
class JitterBuffer:
    """Reorder RTP packets of one SSRC; see the module docstring."""

    window: int = 64
    max_delay_s: float = 0.2
    max_dropout: int = 3000
    max_misorder: int = 100
    startup_s: float = 0.05
    stats: JitterStats = field(default_factory=JitterStats)
    _held: dict[int, tuple[RtpPacket, float]] = field(default_factory=dict)
    _next: int | None = None
    _highest: int = -1
    _given_up: set[int] = field(default_factory=set)
    _probation: RtpPacket | None = None
    _warmup_until: float | None = None

    def push(self, packet: RtpPacket, now: float) -> list[Ordered]:
        """Add one received packet; return the packets that are now in order."""
        self.stats.received += 1
        if self._next is None:
            self._restart(packet.sequence)
            self._warmup_until = now + self.startup_s
        assert self._next is not None
        delta = ((packet.sequence - self._next + 0x8000) & 0xFFFF) - 0x8000
        ext = self._next + delta
        if delta > self.max_dropout or delta < -self.max_misorder:
            return self._suspect(packet, now)
        self._probation = None
        if ext < self._next and self._warmup_until is not None:
            self._next = ext  # nothing released yet: the stream starts earlier
        if ext < self._next:
            if ext in self._given_up:
                self._given_up.discard(ext)
                self.stats.late += 1
            else:
                self.stats.duplicates += 1
            return []
        if ext in self._held:
            self.stats.duplicates += 1
            return []
        if ext < self._highest:
            self.stats.reordered += 1
        self._highest = max(self._highest, ext)
        self._held[ext] = (packet, now)
        if self._warmup_until is not None:
            if now < self._warmup_until and self._highest - self._next < self.window:
                return []
            self._warmup_until = None
        out = self._release()
        while self._held and self._highest - self._next >= self.window:
            out += self._skip_gap()
        return out + self.handle_timeout(now)

    def take_next(self, sequence: int) -> bool:
        """The common case cheaply: True, and counted, when ``sequence`` is the packet due next.

        Only when nothing is held and the start-up hold is over, so the caller may pass the
        packet on at once, exactly as ``push`` would have; False means: call ``push``.
        """
        expected = self._next
        if expected is None or self._held or self._warmup_until is not None:
            return False
        if (sequence - expected) & 0xFFFF:
            return False
        self._probation = None
        self._highest = expected
        self._next = expected + 1
        stats = self.stats
        stats.received += 1
        stats.delivered += 1
        return True

    def lane_next(self) -> int | None:
        """The sequence number due next when packets may skip ``push`` (see ``take_next``).

        None while anything is held, during the start-up hold or before the first packet.
        """
        if self._held or self._warmup_until is not None:
            return None
        return self._next

    def took(self, count: int) -> None:
        """``count`` packets were taken in order from ``lane_next()`` on: ``take_next`` in bulk."""
        assert self._next is not None
        self._probation = None
        self._next += count
        self._highest = self._next - 1
        stats = self.stats
        stats.received += count
        stats.delivered += count

    @property
    def holding(self) -> bool:
        """Whether any packet is held (only then is there a deadline)."""
        return bool(self._held)

    def next_deadline(self) -> float | None:
        """When handle_timeout must next be called (the oldest held packet's give-up time)."""
        if not self._held:
            return None
        if self._warmup_until is not None:
            return self._warmup_until
        return min(arrived for _, arrived in self._held.values()) + self.max_delay_s

    def handle_timeout(self, now: float) -> list[Ordered]:
        """Give up on gaps whose later packets have waited too long; return what that frees."""
        out: list[Ordered] = []
        if self._warmup_until is not None and now >= self._warmup_until:
            self._warmup_until = None
            out += self._release()
        deadline = self.next_deadline()
        while deadline is not None and deadline <= now:
            out += self._skip_gap()
            deadline = self.next_deadline()
        return out

    def flush(self) -> list[Ordered]:
        """Release everything held, giving up on every gap (end of stream)."""
        self._warmup_until = None
        out: list[Ordered] = []
        while self._held:
            out += self._skip_gap()
        return out

    def _release(self, lost: int = 0) -> list[Ordered]:
        out = []
        assert self._next is not None
        while self._next in self._held:
            packet, _ = self._held.pop(self._next)
            out.append(Ordered(packet, lost))
            lost = 0
            self._next += 1
        self.stats.delivered += len(out)
        return out

    def _skip_gap(self) -> list[Ordered]:
        assert self._next is not None
        first = min(self._held)
        lost = first - self._next
        self._given_up.update(range(max(self._next, first - 4 * self.window), first))
        if len(self._given_up) > 8 * self.window:
            floor = first - 4 * self.window
            self._given_up = {s for s in self._given_up if s >= floor}
        self.stats.lost += lost
        self._next = first
        return self._release(lost)

    def _suspect(self, packet: RtpPacket, now: float) -> list[Ordered]:
        # A wild jump is one damaged packet unless the next packet continues from it.
        held = self._probation
        if held is None or packet.sequence != (held.sequence + 1) & 0xFFFF:
            self._probation = packet
            return []
        out = self.flush()
        self.stats.restarts += 1
        self._restart(held.sequence)
        self.stats.received -= 2  # both are counted again by push
        return out + self.push(held, now) + self.push(packet, now)

    def _restart(self, sequence: int) -> None:
        self._next = sequence
        self._highest = sequence - 1
        self._given_up.clear()
        self._probation = None
