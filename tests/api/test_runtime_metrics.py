"""The process's own health on /metrics: event-loop lag, GC pauses, CPU and memory."""

from __future__ import annotations

import asyncio
import gc
import itertools
import time

from prometheus_client import CollectorRegistry, generate_latest

from sightline.api.runtime_metrics import GcPauses, LoopLag, gc_pauses, register_runtime


def _sample(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[-1])


async def test_a_blocked_loop_shows_as_lag() -> None:
    lag = LoopLag(interval_s=0.02, window_s=60)
    task = asyncio.create_task(lag.run())
    await asyncio.sleep(0.1)
    asyncio.get_running_loop().call_soon(time.sleep, 0.25)  # a synchronous job holds the loop
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert lag.samples >= 5
    assert 0.2 <= lag.recent_max < 1.0
    registry = CollectorRegistry()
    register_runtime(registry, lag)
    text = generate_latest(registry).decode()
    assert _sample(text, "sightline_event_loop_lag_max_seconds") == lag.recent_max
    assert _sample(text, "sightline_event_loop_lag_seconds_count") == lag.samples
    # the 0.25 s stall falls in the 0.5 s bucket, not in the 0.1 s one
    le_01 = _sample(text, 'sightline_event_loop_lag_seconds_bucket{le="0.1"}')
    le_05 = _sample(text, 'sightline_event_loop_lag_seconds_bucket{le="0.5"}')
    assert le_05 == le_01 + 1
    assert _sample(text, "process_resident_memory_bytes") > 10_000_000
    assert "process_cpu_seconds_total" in text


def test_the_window_keeps_the_largest_recent_lag() -> None:
    lag = LoopLag(interval_s=1, window_s=10)
    lag.observe(0.5, now=100)
    lag.observe(0.1, now=101)
    assert lag.recent_max == 0.5
    lag.observe(0.2, now=111)  # 0.5 left the window; 0.1 is hidden by the later 0.2
    assert lag.recent_max == 0.2
    lag.observe(0.01, now=130)
    assert lag.recent_max == 0.01


def test_gc_pauses_are_measured_per_generation() -> None:
    pauses = GcPauses()
    pauses.install()
    try:
        pauses.install()  # idempotent
        assert gc.callbacks.count(pauses._callback) == 1
        garbage: list[list[object]] = [[] for _ in range(1000)]
        for a, b in itertools.pairwise(garbage):
            a.append(b)
            b.append(a)  # cycles: only the collector frees them
        del garbage, a, b
        gc.collect(2)
        full = pauses.by_generation[2]
        assert full.buckets()[-1][1] >= 1
        assert 0 < full.total < 5 and pauses.longest >= full.total / full.buckets()[-1][1]
    finally:
        pauses.uninstall()
    assert pauses._callback not in gc.callbacks


def test_the_process_wide_recorder_is_installed_once() -> None:
    assert gc_pauses() is gc_pauses()
    assert gc.callbacks.count(gc_pauses()._callback) == 1
    text = generate_latest(_registry()).decode()
    assert 'sightline_gc_pause_seconds_count{generation="0"}' in text


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    register_runtime(registry, LoopLag())
    return registry
