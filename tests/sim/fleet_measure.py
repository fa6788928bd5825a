"""Measure a registered, idle fleet: time to register and memory per device.

Used by ``test_scale.py`` and runnable alone for bigger fleets (the platform runs in a
subprocess so that only the simulator's allocations are traced)::

    python -m tests.sim.fleet_measure 10000 --rate 400
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import tracemalloc
from dataclasses import dataclass

from sightline.sim import DeviceGroup, SimConfig, SimHost
from sightline.sip.timers import TimerConfig
from tests.sim.platform import PASSWORD, SERVER_ID


@dataclass(frozen=True)
class FleetMeasurement:
    """What one run measured."""

    devices: int
    registered: int
    seconds: float
    bytes_per_device: float
    retransmissions: int


async def measure(
    devices: int, rate: float, port: int, *, traced: bool, settle_s: float = 0.5
) -> tuple[FleetMeasurement, SimHost]:
    """Register ``devices`` against a platform on UDP ``port``; the host is left running."""
    config = SimConfig(
        server_host="127.0.0.1",
        server_port=port,
        server_id=SERVER_ID,
        password=PASSWORD,
        local_host="127.0.0.1",
        groups=(DeviceGroup(count=devices),),
        register_rate=rate,
        keepalive_s=60.0,
        # Timer K keeps finished transactions for T4; a short T4 lets the fleet settle sooner
        timers=TimerConfig(t4_s=settle_s / 2),
    )
    gc.collect()
    before = tracemalloc.get_traced_memory()[0] if traced else 0
    start = time.perf_counter()
    host = SimHost(config)
    await host.start()
    await host.wait_registered(devices, timeout_s=devices / rate * 3 + 10)
    seconds = time.perf_counter() - start
    await asyncio.sleep(settle_s)  # past Timer K of the last transactions
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if traced else 0
    result = FleetMeasurement(
        devices=devices,
        registered=host.registered,
        seconds=seconds,
        bytes_per_device=(after - before) / devices,
        retransmissions=host.sip_stats.retransmissions,
    )
    return result, host


async def start_platform_process() -> asyncio.subprocess.Process:
    """The test platform in a child process; its first stdout line names the ports."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.sim.platform_proc",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


async def _main(devices: int, rate: float) -> None:
    proc = await start_platform_process()
    assert proc.stdin is not None and proc.stdout is not None
    port = int((await proc.stdout.readline()).split()[1])
    tracemalloc.start()
    result, host = await measure(devices, rate, port, traced=True)
    tracemalloc.stop()
    proc.stdin.write(b"count\n")
    at_platform = (await proc.stdout.readline()).decode().split()[1]
    print(
        f"{result.registered}/{devices} registered in {result.seconds:.1f} s at {rate:g}/s; "
        f"{result.bytes_per_device:.0f} bytes per idle device (simulator process); "
        f"{result.retransmissions} retransmissions; platform has {at_platform} bindings"
    )
    await host.stop(unregister=False)
    proc.stdin.close()
    await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("devices", type=int)
    parser.add_argument("--rate", type=float, default=400.0)
    args = parser.parse_args()
    asyncio.run(_main(args.devices, args.rate))
