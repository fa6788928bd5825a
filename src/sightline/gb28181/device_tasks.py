"""The device manager's own tasks: one timer for every deadline, and fire-and-forget work.

:class:`TimerLoop` is the single task behind keepalive deadlines, query deadlines and
subscription refreshes: it sleeps until the earliest ``next_deadline()`` and hands the time to
``handle_timeout(now)``, so the sans-IO parts never start timers of their own. Whoever adds an
earlier deadline calls :meth:`TimerLoop.wake_for` (cheap when the deadline is later than the
one the task sleeps for, the usual case). :class:`BackgroundTasks` keeps work that the SIP path
starts but must not wait for (catalog imports, alarm receipts, refreshes) referenced until it
ends, and logs its failures. :func:`repeat` runs the periodic store flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sightline.gb28181.errors import Gb28181Error
from sightline.store import StoreError

__all__ = ["BackgroundTasks", "TimerLoop", "repeat"]

log = logging.getLogger(__name__)


class TimerLoop:
    """Calls ``handle_timeout(now)`` whenever ``next_deadline()`` passes (or when woken)."""

    def __init__(
        self,
        next_deadline: Callable[[], float | None],
        handle_timeout: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self._next_deadline = next_deadline
        self._handle_timeout = handle_timeout
        self._clock = clock
        self._wake = asyncio.Event()
        self._scheduled: float | None = None

    def wake(self) -> None:
        """Look at the deadlines again now."""
        self._wake.set()

    def wake_for(self, deadline: float) -> None:
        """A new ``deadline``: wake only if the task sleeps past it."""
        if self._scheduled is None or deadline < self._scheduled:
            self._wake.set()

    async def run(self) -> None:
        """The timer task (runs until cancelled)."""
        while True:
            deadline = self._next_deadline()
            self._scheduled = deadline
            delay = None if deadline is None else max(0.0, deadline - self._clock())
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with the event being set (gh-86296), and stop() would then wait forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            try:
                self._handle_timeout(self._clock())
            except Exception:
                log.exception("device timer processing failed")


class BackgroundTasks:
    """Tasks nobody awaits: kept until done, failures logged (briefly when expected)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run ``coro`` in a task of its own."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def cancel(self, *others: asyncio.Task[Any]) -> None:
        """Cancel these tasks and ``others``, and wait for them to end (failures ignored)."""
        tasks = [*others, *self._tasks]
        for task in tasks:
            task.cancel()
        # gather, not suppress(CancelledError) around each await: that also swallowed the
        # cancellation of the caller itself (a time limit on stopping was then ignored)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, Gb28181Error | StoreError):
                log.info("device task failed: %s", exc)
            else:
                log.error("device task failed", exc_info=exc)


async def repeat(interval_s: float, action: Callable[[], Awaitable[None]], what: str) -> None:
    """Run ``action`` every ``interval_s`` until cancelled; a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await action()
        except Exception:
            log.exception("%s failed", what)
