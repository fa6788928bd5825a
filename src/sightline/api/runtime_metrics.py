"""The server process's own health on /metrics: event-loop lag, GC pauses, CPU and memory.

Everything a node does — SIP, RTP, the API — runs on one event loop, so the first thing an
operator needs when cameras stutter or devices drop is whether that loop kept up:

* ``sightline_event_loop_lag_seconds`` (histogram) and ``..._lag_max_seconds`` (the worst in
  the last ``window_s``): how late a timer that should fire every ``interval_s`` really
  fired. Anything that holds the loop (a big synchronous job, a GC pause, a starved CPU)
  shows up here.
* ``sightline_gc_pause_seconds`` (histogram per generation): CPython's cyclic collector stops
  everything while it runs; a full (generation 2) collection of a heap holding 100,000
  devices takes a noticeable time. Measured with ``gc.callbacks``, once per process.
* ``process_*`` (prometheus_client's ``ProcessCollector``): CPU seconds, resident memory, open
  file descriptors of this process.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["GcPauses", "LoopLag", "RuntimeCollector", "gc_pauses", "register_runtime"]

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
GC_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Histogram:
    """Cumulative bucket counts and a sum (what a Prometheus histogram exposes)."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.bounds = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` pairs, +Inf last."""
        out, running = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class GcPauses:
    """Durations of the cyclic collector's runs, per generation, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.by_generation = {g: _Histogram(GC_BUCKETS) for g in range(3)}
        self.longest = 0.0
        self._started: float | None = None
        # No lock: a collection can start inside any allocation, also while a scrape reads
        # these counters in the same thread, and a lock taken here would deadlock. The
        # interpreter never runs two collections at once; a scrape may see one count ahead of
        # its sum, which the next scrape corrects.

    def install(self) -> None:
        """Start measuring (idempotent)."""
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        """Stop measuring."""
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        started, self._started = self._started, None
        if started is None:
            return
        pause = time.perf_counter() - started
        self.by_generation[int(info.get("generation", 0))].observe(pause)
        self.longest = max(self.longest, pause)


_GC_PAUSES = GcPauses()


def gc_pauses() -> GcPauses:
    """The process-wide GC pause recorder, measuring from the first call on."""
    _GC_PAUSES.install()
    return _GC_PAUSES


class LoopLag:
    """How late the event loop runs a timer due every ``interval_s`` (run :meth:`run`)."""

    def __init__(self, interval_s: float = 0.25, window_s: float = 60.0) -> None:
        self.interval_s = interval_s
        self.window_s = window_s
        self.histogram = _Histogram(LAG_BUCKETS)
        self._window: list[tuple[float, float]] = []  # (when, lag) of the laggards in the window
        self.samples = 0

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = loop.time()
            self.observe(max(0.0, now - due), now)

    def observe(self, lag: float, now: float) -> None:
        """Record one measured lag at loop time ``now``."""
        self.samples += 1
        self.histogram.observe(lag)
        window = self._window
        while window and window[0][0] < now - self.window_s:
            window.pop(0)
        while window and window[-1][1] <= lag:  # a later, larger lag hides smaller ones
            window.pop()
        window.append((now, lag))

    @property
    def recent_max(self) -> float:
        """The largest lag seen in the last ``window_s`` (0 before the first sample)."""
        return self._window[0][1] if self._window else 0.0


class RuntimeCollector(Collector):
    """Loop lag and GC pauses as Prometheus metrics."""

    def __init__(self, lag: LoopLag, pauses: GcPauses) -> None:
        self.lag = lag
        self.pauses = pauses

    def collect(self) -> Iterator[Metric]:
        """One scrape."""
        lag = HistogramMetricFamily(
            "sightline_event_loop_lag_seconds",
            f"how late a timer due every {self.lag.interval_s:g} s ran on the event loop",
        )
        lag.add_metric([], self.lag.histogram.buckets(), self.lag.histogram.total)
        yield lag
        recent = GaugeMetricFamily(
            "sightline_event_loop_lag_max_seconds",
            f"the largest event-loop lag in the last {self.lag.window_s:g} s",
        )
        recent.add_metric([], self.lag.recent_max)
        yield recent
        pauses = HistogramMetricFamily(
            "sightline_gc_pause_seconds",
            "time the cyclic garbage collector stopped the process, per generation",
            labels=["generation"],
        )
        for generation, histogram in self.pauses.by_generation.items():
            pauses.add_metric([str(generation)], histogram.buckets(), histogram.total)
        yield pauses


def register_runtime(registry: CollectorRegistry, lag: LoopLag) -> None:
    """Add loop lag, GC pauses and this process's CPU, memory and descriptors to ``registry``."""
    registry.register(RuntimeCollector(lag, gc_pauses()))
    ProcessCollector(registry=registry)
