"""The built-in simulator on its own event loop in a background thread, for browser and API
tests that drive ``serve`` synchronously (Playwright's sync API, httpx) while cameras run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

from sightline.sim.config import SimConfig
from sightline.sim.host import SimHost
from sightline.sim.ptz_state import PtzPosition

__all__ = ["SimThread", "start_sim_thread"]

T = TypeVar("T")


@dataclass
class SimThread:
    """A SimHost on its own event loop in a background thread."""

    host: SimHost
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the simulator's loop and return its result (no data race)."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller's thread
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(10.0)

    def position(self, channel_id: str) -> PtzPosition:
        """Where a channel's head points now."""
        return self.call(lambda: self.host.ptz_position(channel_id))

    def stop(self) -> None:
        """Unregister, stop the simulator and wait for its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(15.0)
        assert not self.thread.is_alive(), "the simulator thread did not stop"


def start_sim_thread(
    config: SimConfig,
    *,
    registered: int,
    timeout_s: float = 20.0,
    prepare: Callable[[SimHost], None] | None = None,
) -> SimThread:
    """Start the simulator of ``config`` and wait until ``registered`` devices are registered.

    ``prepare`` runs on the simulator's loop before ``start()`` (e.g. to wrap its inbound
    handlers)."""
    loop = asyncio.new_event_loop()
    started: Future[SimThread] = Future()

    def run() -> None:
        asyncio.set_event_loop(loop)
        host = SimHost(config)
        try:
            if prepare is not None:
                prepare(host)
            loop.run_until_complete(host.start())
            if not loop.run_until_complete(host.wait_registered(registered, timeout_s=timeout_s)):
                raise TimeoutError(
                    f"{registered} simulated devices did not register in {timeout_s} s"
                )
        except BaseException as exc:
            started.set_exception(exc)
            loop.run_until_complete(host.stop(unregister=False))
            loop.close()
            return
        started.set_result(SimThread(host, loop, threading.current_thread()))
        loop.run_forever()
        loop.run_until_complete(host.stop(unregister=True))
        loop.close()

    threading.Thread(target=run, name="simulator", daemon=True).start()
    return started.result(timeout_s + 10.0)
