"""JitterBuffer: reordering, loss, duplicates, wraparound and restarts, with a fake clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.media.jitter import JitterBuffer, Ordered
from sightline.media.rtp import RtpPacket


def pkt(seq: int) -> RtpPacket:
    """A packet whose payload names its sequence number."""
    return RtpPacket(96, seq & 0xFFFF, 0, 1, seq.to_bytes(4, "big", signed=True))


def run(buffer: JitterBuffer, seqs: list[int], dt: float = 0.001) -> list[Ordered]:
    """Push packets dt apart, then flush."""
    out: list[Ordered] = []
    for n, s in enumerate(seqs):
        out += buffer.push(pkt(s), n * dt)
    return out + buffer.flush()


def numbers(out: list[Ordered]) -> list[int]:
    """Sequence numbers released, in order."""
    return [o.packet.sequence for o in out]


def test_in_order_passes_straight_through_after_startup() -> None:
    b = JitterBuffer(startup_s=0.0)
    assert numbers(b.push(pkt(10), 0.0)) == [10]
    assert numbers(b.push(pkt(11), 0.001)) == [11]
    assert b.next_deadline() is None


def test_reordered_packets_come_out_sorted() -> None:
    b = JitterBuffer()
    out = run(b, [1, 3, 2, 5, 4, 6])
    assert numbers(out) == [1, 2, 3, 4, 5, 6]
    assert b.stats.reordered == 2 and b.stats.lost == 0


def test_first_arrival_need_not_be_first_sent() -> None:
    b = JitterBuffer(startup_s=0.05)
    assert numbers(run(b, [3, 1, 2, 4])) == [1, 2, 3, 4]


def test_loss_is_given_up_after_the_delay_and_late_packets_are_dropped() -> None:
    b = JitterBuffer(max_delay_s=0.2, startup_s=0.0)
    assert numbers(b.push(pkt(1), 0.0)) == [1]
    assert b.push(pkt(3), 0.01) == []
    assert b.next_deadline() == pytest.approx(0.21)
    assert b.handle_timeout(0.2) == []
    out = b.handle_timeout(0.211)
    assert [(o.packet.sequence, o.lost) for o in out] == [(3, 1)]
    assert b.push(pkt(2), 0.3) == []
    assert (b.stats.lost, b.stats.late, b.stats.duplicates) == (1, 1, 0)


def test_window_forces_the_gap_to_be_given_up() -> None:
    b = JitterBuffer(window=8, startup_s=0.0)
    out = run(b, [0, *range(2, 12)], dt=0.0)
    assert numbers(out) == [0, *range(2, 12)]
    assert [o.lost for o in out if o.packet.sequence == 2] == [1]


def test_duplicates_are_counted_and_dropped() -> None:
    b = JitterBuffer()
    out = run(b, [1, 2, 2, 3, 1, 3])
    assert numbers(out) == [1, 2, 3]
    assert b.stats.duplicates == 3


def test_sequence_wraparound() -> None:
    b = JitterBuffer()
    seqs = [65_533, 65_535, 65_534, 0, 2, 1, 3]
    assert numbers(run(b, seqs)) == [65_533, 65_534, 65_535, 0, 1, 2, 3]
    assert b.stats.lost == 0


def test_sender_restart_is_followed_after_two_packets() -> None:
    b = JitterBuffer()
    out = run(b, [100, 101, 102, 40_000, 40_001, 40_002])
    assert numbers(out) == [100, 101, 102, 40_000, 40_001, 40_002]
    assert b.stats.restarts == 1


def test_one_wild_packet_is_ignored() -> None:
    b = JitterBuffer()
    out = run(b, [100, 101, 30_000, 102, 103])
    assert numbers(out) == [100, 101, 102, 103]


@given(st.integers(0, 0xFFFF), st.integers(1, 300), st.randoms(use_true_random=False))
def test_shuffles_within_the_window_lose_nothing(
    start: int, count: int, rng: random.Random
) -> None:
    # Each packet is late by at most 20 places: sort by position plus a random delay.
    order = sorted(range(count), key=lambda i: i + rng.uniform(0, 20))
    seqs = [(start + i) & 0xFFFF for i in order]
    b = JitterBuffer(window=64)
    out = run(b, seqs, dt=0.0005)
    assert numbers(out) == [(start + i) & 0xFFFF for i in range(count)]
    assert b.stats.lost == 0 and b.stats.delivered == count


@given(st.lists(st.integers(0, 0xFFFF), max_size=200))
def test_any_arrival_order_keeps_the_counts_consistent(seqs: list[int]) -> None:
    b = JitterBuffer(window=16)
    out = run(b, seqs, dt=0.01)
    s = b.stats
    assert s.delivered == len(out)
    assert s.delivered + s.duplicates + s.late <= s.received + 2 * s.restarts
    assert len(set(numbers(out))) == len(out) or s.restarts > 0
