"""KeepaliveTracker on a fake clock, plus a property test against a plain dict model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.keepalive import KeepaliveTracker

A, B, C = "34020000001320000001", "34020000001320000002", "34020000001320000003"


def test_a_device_expires_after_the_timeout_without_keepalive() -> None:
    tracker = KeepaliveTracker(180.0)
    tracker.touch(A, 0.0)
    assert tracker.next_deadline() == 180.0
    assert tracker.expired(179.9) == []
    assert tracker.expired(180.0) == [A]
    assert A not in tracker
    assert tracker.expired(1000.0) == []


def test_keepalives_push_the_deadline_without_growing_the_heap() -> None:
    tracker = KeepaliveTracker(180.0)
    tracker.touch(A, 0.0)
    for t in range(60, 600, 60):
        tracker.touch(A, float(t))
    assert len(tracker._heap) == 1  # lazy extension: one entry per device
    assert tracker.expired(200.0) == []  # the stale entry is re-pushed, not reported
    assert tracker.next_deadline() == 540.0 + 180.0
    assert tracker.expired(720.0) == [A]


def test_removed_devices_never_expire_and_can_come_back() -> None:
    tracker = KeepaliveTracker(10.0)
    tracker.touch(A, 0.0)
    tracker.touch(B, 0.0)
    tracker.remove(A)
    assert len(tracker) == 1
    tracker.touch(A, 5.0)  # back before its old entry fired
    assert tracker.expired(10.0) == [B]
    assert tracker.expired(15.0) == [A]


def test_expiry_order_follows_deadlines() -> None:
    tracker = KeepaliveTracker(10.0)
    tracker.touch(C, 2.0)
    tracker.touch(A, 0.0)
    tracker.touch(B, 1.0)
    assert tracker.expired(100.0) == [A, B, C]


def test_a_shorter_timeout_takes_effect() -> None:
    tracker = KeepaliveTracker(180.0)
    tracker.touch(A, 0.0)
    tracker.touch(A, 1.0, timeout_s=5.0)
    assert tracker.deadline(A) == 6.0
    assert tracker.expired(6.0) == [A]
    assert tracker.expired(181.0) == []  # the superseded entry is dropped silently


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        KeepaliveTracker(0.0)


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["touch", "remove", "expire"]),
        st.sampled_from([A, B, C]),
        st.floats(min_value=0.0, max_value=5.0),
    ),
    max_size=60,
)


@given(_OPS)
def test_matches_a_dict_model(ops: list[tuple[str, str, float]]) -> None:
    tracker = KeepaliveTracker(3.0)
    model: dict[str, float] = {}
    now = 0.0
    for op, device, step in ops:
        now += step
        if op == "touch":
            tracker.touch(device, now)
            model[device] = now + 3.0
        elif op == "remove":
            tracker.remove(device)
            model.pop(device, None)
        else:
            expected = sorted(d for d, at in model.items() if at <= now)
            assert sorted(tracker.expired(now)) == expected
            for device_id in expected:
                del model[device_id]
        assert len(tracker) == len(model)
        deadline = tracker.next_deadline()
        if model:
            assert deadline is not None and deadline <= min(model.values())
