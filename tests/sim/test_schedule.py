"""The fleet's timer heap, token bucket and keepalive slots (pure, fake time)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sightline.sim.schedule import TimerHeap, TokenBucket, spread_phase


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=200))
def test_heap_pops_in_time_order_and_only_what_is_due(times: list[float]) -> None:
    heap: TimerHeap[int] = TimerHeap()
    for i, due in enumerate(times):
        heap.push(due, i)
    cut = 5e5
    early = heap.pop_due(cut)
    assert [d for d, _ in early] == sorted(t for t in times if t <= cut)
    assert len(heap) == len([t for t in times if t > cut])
    rest = heap.pop_due(float("inf"))
    assert [d for d, _ in rest] == sorted(t for t in times if t > cut)
    assert heap.next_deadline() is None


def test_heap_equal_times_keep_insertion_order_and_limit() -> None:
    heap: TimerHeap[str] = TimerHeap()
    for name in "abcde":
        heap.push(1.0, name)
    assert [item for _, item in heap.pop_due(1.0, limit=3)] == ["a", "b", "c"]
    assert heap.next_deadline() == 1.0
    assert [item for _, item in heap.pop_due(1.0)] == ["d", "e"]


def test_token_bucket_paces_at_its_rate_after_the_burst() -> None:
    bucket = TokenBucket(rate=100.0, burst=10.0, now=0.0)
    assert sum(bucket.take(0.0) for _ in range(50)) == 10
    assert bucket.next_token_at(0.0) == 0.01
    granted = 0
    t = 0.0
    for _ in range(1000):  # one second in 1 ms steps
        t += 0.001
        granted += bucket.take(t)
    assert 99 <= granted <= 101


@given(
    st.integers(min_value=1, max_value=100_000),
    st.floats(min_value=1.0, max_value=600.0),
    st.floats(min_value=0.0, max_value=1e5),
    st.data(),
)
def test_spread_phase_is_the_next_time_in_the_devices_slot(
    count: int, interval: float, after: float, data: st.DataObject
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    at = spread_phase(index, count, interval, 0.0, after)
    assert after < at <= after + interval + 1e-6
    slot = (at % interval) / interval * count
    assert abs(slot - index) < 1e-3 * count or abs(slot - index - count) < 1e-3 * count


def test_spread_phase_spreads_a_fleet_evenly() -> None:
    count, interval = 1000, 60.0
    times = sorted(spread_phase(i, count, interval, 0.0, 0.0) for i in range(1, count))
    per_second = [sum(1 for t in times if s <= t < s + 1) for s in range(60)]
    assert max(per_second) - min(per_second) <= 1
