"""TimerLoop on a fake clock, BackgroundTasks and repeat: wake-ups, failures logged, stopping."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from typing import Any

import pytest

from sightline.gb28181.device_tasks import BackgroundTasks, TimerLoop, repeat
from sightline.gb28181.errors import DeviceTimeoutError
from sightline.store import StoreError
from tests.gb28181.device_peer import until
from tests.gb28181.test_onboarding import Clock, running

__all__ = ["running"]

LOGGER = "sightline.gb28181.device_tasks"
FAR = 1000.0 + 3600.0  # a deadline the loop would sleep an hour for (in real time)


class Deadlines:
    """The sans-IO side of a TimerLoop: deadlines as a list, each call recorded."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)
        self.looks = 0  # calls of next_deadline: the loop then goes to sleep
        self.handled: list[float] = []
        self.fail = 0  # handle_timeout raises this many times
        self.changed = asyncio.Event()

    def next_deadline(self) -> float | None:
        self.looks += 1
        self.changed.set()
        return min(self.times, default=None)

    def handle_timeout(self, now: float) -> None:
        self.handled.append(now)
        self.changed.set()
        if self.fail:
            self.fail -= 1
            raise RuntimeError("timer processing broke")
        self.times = [t for t in self.times if t > now]

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(5.0):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def start(running: list[asyncio.Task[None]], deadlines: Deadlines, clock: Clock) -> TimerLoop:
    loop = TimerLoop(deadlines.next_deadline, deadlines.handle_timeout, clock)
    running.append(asyncio.ensure_future(loop.run()))
    return loop


async def settle() -> None:
    """Let every ready task run (a woken loop would handle its timeout meanwhile)."""
    for _ in range(5):
        await asyncio.sleep(0)


def task_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


async def logged(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    await until(lambda: len(task_records(caplog)) >= count)
    return task_records(caplog)


# -- TimerLoop ------------------------------------------------------------------------------


async def test_a_passed_deadline_is_handled_at_once_at_the_clock_time(
    running: list[asyncio.Task[None]],
) -> None:
    clock, deadlines = Clock(), Deadlines(990.0)
    start(running, deadlines, clock)
    await deadlines.until(lambda: deadlines.looks == 2)  # handled, then asleep with no deadline
    assert deadlines.handled == [1000.0]
    assert deadlines.times == []


async def test_the_loop_wakes_early_when_a_nearer_deadline_is_added(
    running: list[asyncio.Task[None]],
) -> None:
    clock, deadlines = Clock(), Deadlines(FAR)
    loop = start(running, deadlines, clock)
    await deadlines.until(lambda: deadlines.looks == 1)  # asleep until FAR
    clock.now = 1010.0
    deadlines.times.append(1010.0)
    loop.wake_for(1010.0)
    await deadlines.until(lambda: deadlines.looks == 2)
    assert deadlines.handled == [1010.0]
    assert deadlines.times == [FAR]  # the far deadline still waits


async def test_a_later_deadline_leaves_the_loop_asleep_and_wake_does_not(
    running: list[asyncio.Task[None]],
) -> None:
    clock, deadlines = Clock(), Deadlines(FAR)
    loop = start(running, deadlines, clock)
    await deadlines.until(lambda: deadlines.looks == 1)
    deadlines.times.append(FAR + 10.0)
    loop.wake_for(FAR + 10.0)  # later than the deadline the loop sleeps for: cheap, no wake-up
    await settle()
    assert (deadlines.looks, deadlines.handled) == (1, [])
    loop.wake()  # look again in any case (e.g. deadlines moved earlier elsewhere)
    await deadlines.until(lambda: deadlines.looks == 2)
    assert deadlines.handled == [1000.0]
    assert deadlines.times == [FAR, FAR + 10.0]


async def test_with_no_deadline_any_new_deadline_wakes_the_loop(
    running: list[asyncio.Task[None]],
) -> None:
    clock, deadlines = Clock(), Deadlines()
    loop = start(running, deadlines, clock)
    await deadlines.until(lambda: deadlines.looks == 1)  # asleep with nothing to wait for
    deadlines.times.append(FAR)
    loop.wake_for(FAR)
    await deadlines.until(lambda: deadlines.looks == 2)
    assert deadlines.handled == [1000.0]  # nothing due yet: it goes back to sleep until FAR
    assert deadlines.times == [FAR]


async def test_a_failing_handle_timeout_is_logged_and_the_loop_goes_on(
    running: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture
) -> None:
    clock, deadlines = Clock(), Deadlines(1000.0)
    deadlines.fail = 1
    start(running, deadlines, clock)
    await deadlines.until(lambda: deadlines.looks == 3)
    assert deadlines.handled == [1000.0, 1000.0]  # the deadline still due: handled again
    assert deadlines.times == []
    records = task_records(caplog)
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.ERROR, "device timer processing failed")
    ]
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)


async def test_the_loop_ends_when_cancelled_just_as_it_is_woken(
    running: list[asyncio.Task[None]],
) -> None:
    clock, deadlines = Clock(), Deadlines(FAR)
    loop = start(running, deadlines, clock)
    await deadlines.until(lambda: deadlines.looks == 1)
    loop.wake()
    running[0].cancel()  # in the same step: the wake-up must not swallow the cancellation
    await asyncio.wait(running, timeout=5.0)
    assert running[0].cancelled()
    assert deadlines.handled == []


# -- BackgroundTasks ------------------------------------------------------------------------


async def test_a_spawned_task_runs_to_its_end_without_being_awaited() -> None:
    tasks, finished = BackgroundTasks(), asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0)
        finished.set()

    tasks.spawn(work())
    async with asyncio.timeout(5.0):
        await finished.wait()
    await tasks.cancel()  # nothing left to stop


async def test_a_failed_task_is_logged_with_its_exception_and_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    failure = RuntimeError("catalog import broke")

    async def fail() -> None:
        raise failure

    try:
        BackgroundTasks().spawn(fail())
        records = await logged(caplog, 1)
        gc.collect()  # an exception never retrieved would be reported as the task goes
    finally:
        loop.set_exception_handler(previous)
    assert [(r.levelno, r.getMessage()) for r in records] == [(logging.ERROR, "device task failed")]
    assert records[0].exc_info is not None and records[0].exc_info[1] is failure
    assert unhandled == []


async def test_expected_failures_are_logged_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    tasks = BackgroundTasks()

    async def fail(exc: Exception) -> None:
        raise exc

    tasks.spawn(fail(DeviceTimeoutError("34020000001320000001 did not answer")))
    tasks.spawn(fail(StoreError("database is locked")))
    records = await logged(caplog, 2)
    assert sorted((r.levelno, r.getMessage(), r.exc_info) for r in records) == [
        (logging.INFO, "device task failed: 34020000001320000001 did not answer", None),
        (logging.INFO, "device task failed: database is locked", None),
    ]


async def test_cancel_stops_and_waits_for_spawned_tasks_and_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = BackgroundTasks()
    cleaned: list[str] = []

    async def slow_to_stop(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # its clean-up takes a step of its own
            cleaned.append(name)

    async def fails_when_cancelled() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("clean-up failed") from None

    tasks.spawn(slow_to_stop("spawned"))
    timer = asyncio.ensure_future(slow_to_stop("timer"))
    other = asyncio.ensure_future(fails_when_cancelled())
    await asyncio.sleep(0)  # every task started
    await tasks.cancel(timer, other)
    assert sorted(cleaned) == ["spawned", "timer"]
    assert timer.cancelled()
    assert isinstance(other.exception(), RuntimeError)  # ignored while stopping
    assert task_records(caplog) == []  # a cancelled task is no failure


async def test_cancel_passes_its_own_cancellation_on() -> None:
    tasks, release = BackgroundTasks(), asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await release.wait()

    tasks.spawn(slow_to_stop())
    await asyncio.sleep(0)
    stopping = asyncio.ensure_future(tasks.cancel())
    await settle()  # waiting for the spawned task's clean-up
    stopping.cancel()  # e.g. a time limit on shutting down
    release.set()
    await asyncio.wait([stopping], timeout=5.0)
    assert stopping.cancelled()


# -- repeat ---------------------------------------------------------------------------------


async def test_repeat_goes_on_after_a_failing_call(
    running: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture
) -> None:
    calls, fourth = 0, asyncio.Event()

    async def flush() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreError("database is locked")
        if calls == 3:
            raise RuntimeError("unexpected")
        if calls == 4:
            fourth.set()
            await asyncio.Event().wait()  # the test is done: stay here until cancelled

    running.append(asyncio.ensure_future(repeat(0.0, flush, "flushing device state")))
    async with asyncio.timeout(5.0):
        await fourth.wait()
    assert calls == 4  # on after a failure, a success, and a failure again
    records = task_records(caplog)
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.ERROR, "flushing device state failed"),
        (logging.ERROR, "flushing device state failed"),
    ]
    assert [type(r.exc_info[1]) for r in records if r.exc_info] == [StoreError, RuntimeError]


async def test_repeat_ends_when_cancelled_even_during_a_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered = asyncio.Event()

    async def stuck() -> None:
        entered.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(repeat(0.0, stuck, "flushing device state"))
    async with asyncio.timeout(5.0):
        await entered.wait()
    task.cancel()
    await asyncio.wait([task], timeout=5.0)
    assert task.cancelled()
    assert task_records(caplog) == []  # a cancellation is not logged as a failure
