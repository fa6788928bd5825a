"""Onboarding of registered devices: a queue, a fixed pool of workers, retries and pacing.

After a device registers, the platform asks DeviceInfo and Catalog and subscribes (the steps
themselves are :meth:`sightline.gb28181.devices.DeviceManager` business). This module decides
when and how often:

* a queue and a fixed pool of worker tasks: a registration storm of 100,000 devices creates no
  task per device and bounds the queries in flight; the pool is large because onboarding waits
  on about six device round trips, not on CPU, and many imports in flight make the catalog
  writes of many devices meet in one transaction;
* pacing: while the event loop runs late (a REGISTER flood, or a host short of CPU), workers
  hold back, so registrations and keepalives, which keep devices online, go first;
* freshness: a device that registers again within ``fresh_s`` of a complete onboarding (it
  rebooted or missed keepalives) is only subscribed again; a device that restarted while
  registered (:meth:`Onboarding.resubscribe`) is only subscribed again whatever the time;
* one entry per device: a device queued twice before a worker takes it is onboarded once
  (the full kind wins);
* subscription-only runs are rate-limited (``resubscribe_rate``): after a mass power cut every
  device comes back at once with a new Call-ID, and its REGISTER (which keeps it online)
  matters more than its SUBSCRIBEs (2 requests and a catalog NOTIFY per device). They also
  wait, up to ``max_hold_s``, while devices are arriving faster than ``storm_rate`` per
  second (new registrations and restarts, :meth:`Onboarding.arrived`): in a storm of 30,000
  restarted devices the re-subscriptions at 100/s took about a quarter of the main process's
  CPU (docs/benchmarks.md), CPU the storm's REGISTERs needed;
* retries: a failed onboarding is tried again ``retry_s`` later, at most ``ATTEMPTS`` times in
  all, while the device stays online.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable

from sightline.gb28181.errors import Gb28181Error

__all__ = [
    "ATTEMPTS",
    "FRESH_S",
    "MAX_HOLD_S",
    "MAX_LAG_S",
    "RESUBSCRIBE_RATE",
    "RETRY_S",
    "STORM_RATE",
    "WORKERS",
    "Onboarding",
]

log = logging.getLogger(__name__)

WORKERS = 256
ATTEMPTS = 3
RETRY_S = 30.0
FRESH_S = 3600.0
RESUBSCRIBE_RATE = 100.0  # subscription-only runs per second, at most
# Devices arriving (registered anew or restarted) faster than this per second is a storm:
# subscription-only runs wait for it to pass, MAX_HOLD_S at most.
STORM_RATE = 200.0
MAX_HOLD_S = 120.0
# A loop iteration longer than this means SIP traffic is waiting: onboarding pauses PAUSE_S.
MAX_LAG_S = 0.25
PAUSE_S = 0.5

# onboard(device_id, full): full False means subscriptions only
Step = Callable[[str, bool], Awaitable[None]]


class Onboarding:
    """Runs ``step`` for every queued device that is still online."""

    def __init__(
        self,
        step: Step,
        online: Callable[[str], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
        workers: int = WORKERS,
    ) -> None:
        self._step = step
        self._online = online
        self._clock = clock
        self._workers = workers
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: dict[str, bool] = {}  # queued device → full onboarding wanted
        self._attempts: dict[str, int] = {}
        self._done_at: dict[str, float] = {}  # device → when its last full onboarding ended
        self.retry_s = RETRY_S
        self.fresh_s = FRESH_S
        self.max_lag_s = MAX_LAG_S
        self.resubscribe_rate = RESUBSCRIBE_RATE
        self._next_slot = 0.0  # loop time of the next subscription-only run
        self.paused = 0  # how many times a worker held back for a late loop
        self.storm_rate = STORM_RATE
        self.max_hold_s = MAX_HOLD_S
        self.held = 0  # how many times a subscription-only run waited for a storm to pass
        # arrivals counted per whole second of the clock: (second, count) now and before
        self._arrivals = (0, 0)
        self._arrivals_before = (0, 0)

    @property
    def waiting(self) -> int:
        """Devices queued and not picked up by a worker yet."""
        return self._queue.qsize()

    def start(self) -> list[asyncio.Task[None]]:
        """Start the workers; the caller cancels the tasks to stop them."""
        return [asyncio.ensure_future(self._worker()) for _ in range(self._workers)]

    def put(self, device_id: str) -> None:
        """Queue a device (it just registered): in full unless onboarded recently."""
        self._enqueue(device_id, full=True)

    def resubscribe(self, device_id: str) -> None:
        """Queue a device for its subscriptions only (it restarted while registered)."""
        self._enqueue(device_id, full=False)

    def arrived(self) -> None:
        """A device registered anew or restarted (one dict-free count per call)."""
        second = int(self._clock())
        at, count = self._arrivals
        if second != at:
            self._arrivals_before = self._arrivals
            self._arrivals = (second, 1)
        else:
            self._arrivals = (at, count + 1)

    def in_storm(self) -> bool:
        """True while devices arrive faster than ``storm_rate`` per second (this second or
        the one before)."""
        second = int(self._clock())
        rate = self.storm_rate
        return any(
            second - at <= 1 and count > rate
            for at, count in (self._arrivals, self._arrivals_before)
        )

    def _enqueue(self, device_id: str, *, full: bool) -> None:
        queued = self._pending.get(device_id)
        if queued is None:
            self._queue.put_nowait(device_id)
        self._pending[device_id] = full or bool(queued)

    def is_fresh(self, device_id: str) -> bool:
        """True if the device's last full onboarding ended less than ``fresh_s`` ago."""
        done = self._done_at.get(device_id)
        return done is not None and self._clock() - done < self.fresh_s

    async def _worker(self) -> None:
        while True:
            device_id = await self._queue.get()
            wanted = self._pending.pop(device_id, None)
            if wanted is None or not self._online(device_id):
                continue
            full = wanted and not self.is_fresh(device_id)
            if not full:
                await self._wait_for_calm()
                await self._wait_for_slot()
            await self._wait_for_quiet()
            try:
                await self._step(device_id, full)
            except Gb28181Error as exc:
                self._retry(device_id, exc, full=wanted)
            except Exception:
                log.exception("device %s: onboarding failed", device_id)
            else:
                self._attempts.pop(device_id, None)
                if full:
                    self._done_at[device_id] = self._clock()

    async def _wait_for_slot(self) -> None:
        """Keep subscription-only runs under ``resubscribe_rate`` per second."""
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.resubscribe_rate
        if slot > now:
            await asyncio.sleep(slot - now)

    async def _wait_for_calm(self) -> None:
        """Hold a subscription-only run while a storm of arrivals lasts (``max_hold_s`` at
        most, so that a fleet that never stops arriving is still subscribed)."""
        held_until = self._clock() + self.max_hold_s
        while self.in_storm() and self._clock() < held_until:
            self.held += 1
            await asyncio.sleep(PAUSE_S)

    async def _wait_for_quiet(self) -> None:
        """Hold back while one loop iteration takes longer than ``max_lag_s``."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0)
            if loop.time() - start <= self.max_lag_s:
                return
            self.paused += 1
            await asyncio.sleep(PAUSE_S)

    def _retry(self, device_id: str, exc: Gb28181Error, *, full: bool) -> None:
        # A busy device or a lost datagram must not leave it without channels until it
        # happens to register again: try again a few times while it stays online.
        attempts = self._attempts.get(device_id, 0) + 1
        if attempts >= ATTEMPTS or not self._online(device_id):
            self._attempts.pop(device_id, None)
            log.info("device %s: onboarding stopped: %s", device_id, exc)
            return
        self._attempts[device_id] = attempts
        log.info(
            "device %s: onboarding failed (%s); retry %d in %.0fs",
            device_id,
            exc,
            attempts,
            self.retry_s,
        )
        again = functools.partial(self._enqueue, device_id, full=full)
        asyncio.get_running_loop().call_later(self.retry_s, again)
