"""Rate limits and auth-failure bans with a fake clock."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from sightline.sip.flood import (
    DEFAULT_BURST,
    DEFAULT_RATE_PER_S,
    AuthFailureTracker,
    FloodPolicy,
    FloodVerdict,
    RateLimiter,
)

T0 = 1000.0
CAMERA = "192.0.2.10"
NVR = "198.51.100.7"


def _drain(limiter: RateLimiter, source: str, now: float, attempts: int) -> int:
    return sum(limiter.allow(source, now) for _ in range(attempts))


# --- RateLimiter ------------------------------------------------------------------------------


def test_burst_then_sustained_rate() -> None:
    limiter = RateLimiter(rate_per_s=10.0, burst=20)
    assert _drain(limiter, CAMERA, T0, 50) == 20
    assert _drain(limiter, CAMERA, T0 + 0.5, 50) == 5
    assert _drain(limiter, CAMERA, T0 + 0.55, 50) == 0
    # One second at 10/s yields 10 more messages, however they are spread.
    allowed = sum(limiter.allow(CAMERA, T0 + 0.55 + i / 100) for i in range(1, 101))
    assert allowed == 10


def test_idle_source_refills_to_burst_only() -> None:
    limiter = RateLimiter(rate_per_s=10.0, burst=20)
    _drain(limiter, CAMERA, T0, 20)
    assert _drain(limiter, CAMERA, T0 + 3600, 100) == 20


def test_sources_are_independent() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=3)
    assert _drain(limiter, CAMERA, T0, 10) == 3
    assert _drain(limiter, NVR, T0, 10) == 3
    assert len(limiter) == 2


def test_clock_stepping_back_grants_nothing() -> None:
    limiter = RateLimiter(rate_per_s=10.0, burst=5)
    _drain(limiter, CAMERA, T0, 5)
    assert _drain(limiter, CAMERA, T0 - 100, 5) == 0
    assert _drain(limiter, CAMERA, T0 + 0.1, 5) == 1


def test_limiter_memory_is_bounded_and_evicts_least_recently_seen() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=2, max_sources=1000)
    _drain(limiter, CAMERA, T0, 2)
    for i in range(200_000):
        limiter.allow(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", T0)
        if i % 500 == 0:
            limiter.allow(NVR, T0)  # kept recent, so never evicted
        assert len(limiter) <= 1000
    assert not limiter.allow(NVR, T0)  # its bucket survived (and is empty)
    assert limiter.allow(CAMERA, T0)  # evicted, so it starts again with a full bucket


@pytest.mark.parametrize(("rate", "burst", "size"), [(0.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)])
def test_limiter_rejects_bad_settings(rate: float, burst: int, size: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, size)


# --- AuthFailureTracker -------------------------------------------------------------------------


def test_ban_after_max_failures_in_window_then_expiry() -> None:
    tracker = AuthFailureTracker(max_failures=3, window_s=60.0, ban_s=300.0)
    assert [tracker.record_failure(CAMERA, T0 + i) for i in range(3)] == [False, False, True]
    assert tracker.is_banned(CAMERA, T0 + 3)
    assert tracker.banned_count(T0 + 3) == 1
    assert not tracker.record_failure(CAMERA, T0 + 4)  # already banned: not banned again
    assert tracker.is_banned(CAMERA, T0 + 301.9)
    assert not tracker.is_banned(CAMERA, T0 + 302)
    assert tracker.banned_count(T0 + 302) == 0
    assert not tracker.record_failure(CAMERA, T0 + 303)  # a fresh window after the ban


def test_banned_count_forgets_expired_bans() -> None:
    tracker = AuthFailureTracker(max_failures=1, ban_s=10.0)
    for i in range(5):
        tracker.record_failure(f"192.0.2.{i}", T0 + i)
    assert [tracker.banned_count(T0 + t) for t in (4, 10, 12, 13.5)] == [5, 4, 2, 1]
    assert len(tracker) == 1


def test_failures_spread_wider_than_the_window_never_ban() -> None:
    # A misconfigured device retrying every 60 s, as GB/T 28181 asks, stays unbanned.
    tracker = AuthFailureTracker(max_failures=5, window_s=60.0)
    assert not any(tracker.record_failure(CAMERA, T0 + 60 * i) for i in range(100))
    assert not tracker.is_banned(CAMERA, T0 + 6000)


def test_success_clears_the_count() -> None:
    tracker = AuthFailureTracker(max_failures=3)
    for _ in range(2):
        tracker.record_failure(NVR, T0)
    tracker.record_success(NVR, T0)
    assert not tracker.record_failure(NVR, T0)
    assert not tracker.record_failure(NVR, T0)
    assert tracker.record_failure(NVR, T0)


def test_success_does_not_lift_a_ban() -> None:
    tracker = AuthFailureTracker(max_failures=1)
    assert tracker.record_failure(CAMERA, T0)
    tracker.record_success(CAMERA, T0)
    assert tracker.is_banned(CAMERA, T0 + 1)


def test_ban_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    tracker = AuthFailureTracker(max_failures=1)
    with caplog.at_level(logging.WARNING, logger="sightline.sip.flood"):
        tracker.record_failure(CAMERA, T0)
    assert CAMERA in caplog.text


def test_tracker_memory_is_bounded() -> None:
    tracker = AuthFailureTracker(max_failures=2, max_sources=1000)
    for i in range(200_000):
        source = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        tracker.record_failure(source, T0)
        tracker.record_failure(source, T0)
        assert len(tracker) <= 2000
    assert tracker.banned_count(T0) == 1000
    # The newest bans are the ones kept.
    assert tracker.is_banned("10.3.13.63", T0)  # i = 199_999
    assert not tracker.is_banned("10.0.0.0", T0)


def test_unfinished_windows_are_bounded_too() -> None:
    tracker = AuthFailureTracker(max_failures=5, max_sources=100)
    for i in range(10_000):
        tracker.record_failure(f"source-{i}", T0)
    assert len(tracker) == 100


@pytest.mark.parametrize(
    "kwargs",
    [{"max_failures": 0}, {"window_s": 0.0}, {"ban_s": -1.0}, {"max_sources": 0}],
)
def test_tracker_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AuthFailureTracker(**kwargs)  # type: ignore[arg-type]


# --- FloodPolicy ------------------------------------------------------------------------------


def test_defaults() -> None:
    policy = FloodPolicy()
    assert (policy.rate.rate_per_s, policy.rate.burst) == (DEFAULT_RATE_PER_S, DEFAULT_BURST)
    assert (policy.failures.max_failures, policy.failures.window_s, policy.failures.ban_s) == (
        5,
        60.0,
        300.0,
    )
    assert not policy.is_exempt("127.0.0.1")


def test_policy_verdicts() -> None:
    policy = FloodPolicy(RateLimiter(1.0, 2), AuthFailureTracker(max_failures=2))
    assert [policy.check(CAMERA, T0) for _ in range(3)] == [
        FloodVerdict.ALLOW,
        FloodVerdict.ALLOW,
        FloodVerdict.RATE_LIMITED,
    ]
    assert not policy.record_failure(CAMERA, T0)
    assert policy.record_failure(CAMERA, T0)
    assert policy.check(CAMERA, T0 + 10) is FloodVerdict.BANNED
    assert policy.check(NVR, T0) is FloodVerdict.ALLOW


def test_loopback_can_be_banned_by_default() -> None:
    policy = FloodPolicy(failures=AuthFailureTracker(max_failures=1))
    assert policy.record_failure("127.0.0.1", T0)
    assert policy.check("127.0.0.1", T0) is FloodVerdict.BANNED


def test_exempt_networks_skip_both_limits() -> None:
    policy = FloodPolicy(
        RateLimiter(1.0, 1),
        AuthFailureTracker(max_failures=1),
        exempt=("10.0.0.0/8", ipaddress.ip_network("2001:db8::/32"), "127.0.0.1"),
    )
    for source in ("10.1.2.3", "2001:db8::5", "[2001:db8::5]", "::ffff:10.9.9.9", "127.0.0.1"):
        assert not policy.record_failure(source, T0)
        assert [policy.check(source, T0) for _ in range(5)] == [FloodVerdict.ALLOW] * 5
    assert policy.check("11.0.0.1", T0) is FloodVerdict.ALLOW
    assert policy.check("11.0.0.1", T0) is FloodVerdict.RATE_LIMITED
    assert not policy.is_exempt("not-an-address")
    assert policy.check("not-an-address", T0) is FloodVerdict.ALLOW


@pytest.mark.parametrize("with_successes", [True, False])
def test_a_success_keeps_a_shared_nat_address_usable(with_successes: bool) -> None:
    # Behind one NAT: six cameras with a stale password retry each minute; good cameras
    # register in between.  Without those successes, six failures a minute earn a ban.
    policy = FloodPolicy()
    banned = False
    for minute in range(10):
        now = T0 + 60 * minute
        for step in range(8):
            if step in (3, 7):
                if with_successes:
                    policy.record_success(NVR, now + step)
            else:
                banned |= policy.record_failure(NVR, now + step)
    assert banned is not with_successes
    expected = FloodVerdict.ALLOW if with_successes else FloodVerdict.BANNED
    assert policy.check(NVR, T0 + 600) is expected


def test_a_ban_decided_elsewhere_applies_for_its_own_length() -> None:
    tracker = AuthFailureTracker(max_failures=5, window_s=60, ban_s=300)
    tracker.record_failure(CAMERA, T0)
    tracker.ban(CAMERA, T0, 10.0)
    tracker.ban(NVR, T0, 500.0)
    policy = FloodPolicy(failures=tracker)
    assert policy.check(CAMERA, T0 + 9.9) is FloodVerdict.BANNED
    assert policy.check(CAMERA, T0 + 10.0) is FloodVerdict.ALLOW
    assert policy.check(NVR, T0 + 499) is FloodVerdict.BANNED
    assert tracker.banned_count(T0 + 501) == 0
    # the failures counted before the ban are gone with it
    assert not any(tracker.record_failure(CAMERA, T0 + 20) for _ in range(4))
