"""Fleet-scale behaviour: 1,000 devices registering, and memory per idle device."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

from sightline.sim import SimHost
from sightline.sip.timers import TimerConfig
from tests.sim.conftest import ConfigFactory
from tests.sim.fleet_measure import measure, start_platform_process
from tests.sim.platform import LoopbackPlatform

RecordProperty = Callable[[str, object], None]


async def test_1000_devices_register_within_a_few_seconds(
    platform: LoopbackPlatform, sim_config: ConfigFactory, record_property: RecordProperty
) -> None:
    # platform and simulator share this process and its one core, which caps the rate
    config = sim_config(devices=1000, register_rate=500.0, timers=TimerConfig())
    host = SimHost(config)
    start = time.perf_counter()
    await host.start()
    try:
        assert await host.wait_registered(1000, timeout_s=20)
        seconds = time.perf_counter() - start
    finally:
        await host.stop(unregister=False)
    record_property("register_1000_s", round(seconds, 2))
    print(f"\n1000 devices registered in {seconds:.2f} s")
    assert len(platform.registrar.bindings) == 1000
    assert seconds < 10
    assert host.stats.register_failures == 0


async def test_memory_per_idle_registered_device(record_property: RecordProperty) -> None:
    # the platform runs in a child process, so only the simulator's allocations are traced
    devices = 2000
    proc = await start_platform_process()
    assert proc.stdin is not None and proc.stdout is not None
    port = int((await proc.stdout.readline()).split()[1])
    tracemalloc.start()
    try:
        result, host = await measure(devices, 500.0, port, traced=True, settle_s=1.0)
    finally:
        tracemalloc.stop()
    try:
        proc.stdin.write(b"count\n")
        at_platform = int((await proc.stdout.readline()).split()[1])
    finally:
        await host.stop(unregister=False)
        proc.stdin.close()
        await proc.wait()
    record_property("bytes_per_idle_device", round(result.bytes_per_device))
    print(f"\n{result.bytes_per_device:.0f} bytes per idle registered device ({devices} devices)")
    assert result.registered == at_platform == devices
    assert result.bytes_per_device < 5 * 1024
