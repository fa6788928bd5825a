"""Onboarding queue: freshness, retries, offline devices skipped, pacing behind a late loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from sightline.gb28181.errors import DeviceTimeoutError
from sightline.gb28181.onboarding import ATTEMPTS, Onboarding

DEV, OTHER = "34020000001320000001", "34020000001320000002"


class Steps:
    """Records the onboarding steps run; fails the first ``fail`` of them."""

    def __init__(self, fail: int = 0) -> None:
        self.runs: list[tuple[str, bool]] = []
        self.fail = fail
        self.changed = asyncio.Event()

    async def __call__(self, device_id: str, full: bool) -> None:
        self.runs.append((device_id, full))
        self.changed.set()
        if self.fail:
            self.fail -= 1
            raise DeviceTimeoutError(f"{device_id} did not answer")

    async def until(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_device_onboarded_recently_is_only_subscribed(
    running: list[asyncio.Task[None]],
) -> None:
    steps, clock = Steps(), Clock()
    onboarding = Onboarding(steps, lambda _d: True, clock=clock, workers=2)
    running.extend(onboarding.start())
    onboarding.put(DEV)
    await steps.until(lambda: len(steps.runs) == 1)
    await asyncio.sleep(0)  # the worker records the completion after the step returns
    assert onboarding.is_fresh(DEV) and not onboarding.is_fresh(OTHER)
    clock.now += onboarding.fresh_s - 1
    onboarding.put(DEV)
    await steps.until(lambda: len(steps.runs) == 2)
    clock.now += 2  # the last full onboarding is now older than fresh_s
    onboarding.put(DEV)
    await steps.until(lambda: len(steps.runs) == 3)
    assert steps.runs == [(DEV, True), (DEV, False), (DEV, True)]


async def test_failures_are_retried_a_few_times_then_given_up(
    running: list[asyncio.Task[None]],
) -> None:
    steps = Steps(fail=ATTEMPTS + 5)
    onboarding = Onboarding(steps, lambda _d: True, workers=1)
    onboarding.retry_s = 0.01
    running.extend(onboarding.start())
    onboarding.put(DEV)
    await steps.until(lambda: len(steps.runs) == ATTEMPTS)
    await asyncio.sleep(0.1)  # ten retry periods: no further attempt comes
    assert steps.runs == [(DEV, True)] * ATTEMPTS
    assert not onboarding.is_fresh(DEV)


async def test_offline_devices_are_skipped(running: list[asyncio.Task[None]]) -> None:
    steps = Steps()
    onboarding = Onboarding(steps, lambda d: d == OTHER, workers=1)
    running.extend(onboarding.start())
    onboarding.put(DEV)
    onboarding.put(OTHER)
    await steps.until(lambda: len(steps.runs) == 1)
    assert steps.runs == [(OTHER, True)]


async def test_workers_hold_back_while_the_loop_runs_late(
    running: list[asyncio.Task[None]],
) -> None:
    steps = Steps()
    onboarding = Onboarding(steps, lambda _d: True, workers=1)
    onboarding.max_lag_s = 0.05
    loop = asyncio.get_running_loop()
    busy_until = loop.time() + 0.6

    def hog() -> None:  # a flood of datagrams: each iteration of the loop takes 0.1 s
        time.sleep(0.1)
        if loop.time() < busy_until:
            loop.call_soon(hog)

    loop.call_soon(hog)
    running.extend(onboarding.start())
    onboarding.put(DEV)
    await steps.until(lambda: len(steps.runs) == 1)
    assert onboarding.paused >= 1
    assert loop.time() >= busy_until - 0.1  # not before the flood was over


async def test_a_restarted_device_is_only_subscribed_however_old_its_onboarding(
    running: list[asyncio.Task[None]],
) -> None:
    steps, clock = Steps(), Clock()
    onboarding = Onboarding(steps, lambda _d: True, clock=clock, workers=1)
    onboarding.resubscribe(DEV)  # never onboarded, yet only its subscriptions are asked for
    running.extend(onboarding.start())
    await steps.until(lambda: len(steps.runs) == 1)
    assert steps.runs == [(DEV, False)]
    assert not onboarding.is_fresh(DEV)  # a subscription-only run is not a full onboarding


async def test_a_device_queued_twice_is_onboarded_once_and_full_wins(
    running: list[asyncio.Task[None]],
) -> None:
    steps = Steps()
    onboarding = Onboarding(steps, lambda _d: True, clock=Clock(), workers=1)
    onboarding.resubscribe(DEV)
    onboarding.put(DEV)
    onboarding.put(DEV)
    onboarding.put(OTHER)
    onboarding.resubscribe(OTHER)
    assert onboarding.waiting == 2
    running.extend(onboarding.start())
    await steps.until(lambda: len(steps.runs) == 2)
    await asyncio.sleep(0.05)  # nothing else follows
    assert steps.runs == [(DEV, True), (OTHER, True)]


async def test_subscription_only_runs_are_rate_limited(
    running: list[asyncio.Task[None]],
) -> None:
    """A storm of restarted devices: their SUBSCRIBEs trickle, full onboardings do not wait."""
    steps = Steps()
    onboarding = Onboarding(steps, lambda _d: True, clock=Clock(), workers=8)
    onboarding.resubscribe_rate = 50.0
    restarted = [f"340200000013200000{i:02d}" for i in range(10, 16)]
    for device_id in restarted:
        onboarding.resubscribe(device_id)
    onboarding.put(DEV)
    loop = asyncio.get_running_loop()
    start = loop.time()
    running.extend(onboarding.start())
    await steps.until(lambda: (DEV, True) in steps.runs)
    assert steps.runs.index((DEV, True)) < len(restarted)  # not queued behind them all
    await steps.until(lambda: len(steps.runs) == len(restarted) + 1)
    assert loop.time() - start >= (len(restarted) - 1) / 50.0 - 0.005  # 20 ms apart
    assert sorted(d for d, full in steps.runs if not full) == restarted


async def test_subscription_only_runs_wait_for_a_storm_of_arrivals_to_pass(
    running: list[asyncio.Task[None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Devices arriving faster than storm_rate hold re-subscriptions, not full onboardings."""
    monkeypatch.setattr("sightline.gb28181.onboarding.PAUSE_S", 0.01)
    steps, clock = Steps(), Clock()
    onboarding = Onboarding(steps, lambda _d: True, clock=clock, workers=4)
    onboarding.storm_rate = 10
    for _ in range(11):
        onboarding.arrived()
    assert onboarding.in_storm()
    running.extend(onboarding.start())
    onboarding.resubscribe(OTHER)
    onboarding.put(DEV)
    await steps.until(lambda: (DEV, True) in steps.runs)
    await asyncio.sleep(0.05)
    assert steps.runs == [(DEV, True)] and onboarding.held > 0  # OTHER waits
    clock.now += 1.0  # the next second: the one before still had a storm
    for _ in range(5):
        onboarding.arrived()
    await asyncio.sleep(0.05)
    assert onboarding.in_storm() and (OTHER, False) not in steps.runs
    clock.now += 1.0  # two calm seconds in a row: the storm is over
    assert not onboarding.in_storm()
    await steps.until(lambda: (OTHER, False) in steps.runs)


async def test_a_storm_that_never_ends_holds_a_run_for_max_hold_s_only(
    running: list[asyncio.Task[None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sightline.gb28181.onboarding.PAUSE_S", 0.01)
    steps, clock = Steps(), Clock()
    onboarding = Onboarding(steps, lambda _d: True, clock=clock, workers=1)
    onboarding.storm_rate, onboarding.max_hold_s = 0, 30.0
    onboarding.arrived()
    running.extend(onboarding.start())
    onboarding.resubscribe(OTHER)
    await asyncio.sleep(0.05)
    assert steps.runs == []
    clock.now += 29.5
    onboarding.arrived()  # still arriving
    await asyncio.sleep(0.05)
    assert steps.runs == []
    clock.now += 1.0
    onboarding.arrived()
    await steps.until(lambda: steps.runs == [(OTHER, False)])
