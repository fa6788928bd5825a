"""Simulated devices registering and keeping alive against the real Registrar on loopback."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import pytest

from sightline.gb28181.manscdp import DeviceControl, Keepalive
from sightline.gb28181.manscdp.schema import Edition
from sightline.sim import SimHost, Transport
from tests.sim.conftest import ConfigFactory
from tests.sim.platform import LoopbackPlatform, start_platform


@pytest.mark.parametrize("transport", [Transport.UDP, Transport.TCP])
@pytest.mark.parametrize("version", ["2016", "2022"])
async def test_devices_register_with_digest(
    platform: LoopbackPlatform, sim_config: ConfigFactory, transport: Transport, version: str
) -> None:
    host = SimHost(sim_config(devices=5, channels=1, transport=transport, gb_version=version))
    await host.start()
    try:
        assert await host.wait_registered(5, timeout_s=5)
        bindings = platform.registrar.bindings
        assert set(bindings) == set(host.devices)
        expected = "3.0" if version == "2022" else "2.0"
        assert {b.gb_version for b in bindings.values()} == {expected}
        assert {b.peer.transport for b in bindings.values()} == {transport.value.upper()}
        if transport is Transport.TCP:  # one connection per device
            assert len({b.peer.port for b in bindings.values()}) == 5
        assert platform.endpoint.stats.auth_successes == 5
        assert host.stats.registrations == 5 and host.stats.register_failures == 0
    finally:
        await host.stop()
    assert platform.registrar.bindings == {}  # unregistered with Expires 0
    assert host.registered == 0


async def test_wrong_password_gets_403_and_retries_no_sooner_than_retry_s(
    platform: LoopbackPlatform, sim_config: ConfigFactory
) -> None:
    host = SimHost(sim_config(password="wrong", retry_s=0.4))
    attempts: list[float] = []
    original = platform.registrar.handle

    def spy(incoming):  # type: ignore[no-untyped-def]
        if incoming.request.headers.get("Authorization"):
            attempts.append(time.monotonic())
        return original(incoming)

    platform.endpoint.on("REGISTER", spy)
    await host.start()
    try:
        assert not await host.wait_registered(1, timeout_s=1.1)
    finally:
        await host.stop()
    assert 2 <= len(attempts) <= 3
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(gap >= 0.4 for gap in gaps)
    assert platform.endpoint.stats.auth_failures == len(attempts)
    assert host.stats.auth_rejections == len(attempts)
    assert platform.registrar.bindings == {}


async def test_keepalives_arrive_at_the_interval(
    platform: LoopbackPlatform, sim_config: ConfigFactory
) -> None:
    host = SimHost(sim_config(devices=3, keepalive_s=0.3, gb_version="2022"))
    await host.start()
    try:
        assert await host.wait_registered(3, timeout_s=5)
        await platform.wait_for(Keepalive, 12, timeout_s=5)
    finally:
        await host.stop()
    by_device: dict[str, list[float]] = {}
    for received in platform.received:
        if isinstance(received.body, Keepalive):
            by_device.setdefault(received.body.device_id, []).append(received.at)
            assert received.request.headers.get("Content-Type") == "Application/MANSCDP+xml"
            assert b'encoding="GB2312"' in received.request.body
    assert set(by_device) == set(host.devices)
    for times in by_device.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps and all(0.2 < gap < 0.45 for gap in gaps), gaps
    # three devices in three different slots of the interval
    firsts = sorted(times[0] % 0.3 for times in by_device.values())
    assert len(set(round(f, 2) for f in firsts)) == 3


async def test_device_registers_again_when_the_platform_forgets_it(
    platform: LoopbackPlatform, sim_config: ConfigFactory
) -> None:
    host = SimHost(sim_config(keepalive_s=0.2))
    await host.start()
    try:
        assert await host.wait_registered(1, timeout_s=5)
        platform.registrar.bindings.clear()  # a platform restart
        platform.message_status = 404  # ... answers keepalives from strangers with 404
        await platform.wait_for(Keepalive, 2, timeout_s=5)
        platform.message_status = 200
        for _ in range(50):
            if platform.registrar.bindings:
                break
            await asyncio.sleep(0.05)
        assert set(platform.registrar.bindings) == set(host.devices)
        assert host.stats.reregistrations >= 1
    finally:
        await host.stop()


async def test_unanswered_keepalives_make_the_device_register_again(
    sim_config: ConfigFactory, platform: LoopbackPlatform
) -> None:
    # a platform whose MESSAGE handling hangs (REGISTER still works): after 2 keepalives time
    # out (Timer F), the device registers again
    host = SimHost(sim_config(keepalive_s=0.2, keepalive_max_failures=2))
    await host.start()
    try:
        assert await host.wait_registered(1, timeout_s=5)
        platform.endpoint.on("MESSAGE", lambda _incoming: asyncio.sleep(3600))  # type: ignore[arg-type,return-value]
        for _ in range(200):
            if host.stats.reregistrations:
                break
            await asyncio.sleep(0.05)
        assert host.stats.reregistrations == 1
        assert host.stats.keepalive_failures >= 2
        assert host.sip_stats.transaction_timeouts >= 2
        assert await host.wait_registered(1, timeout_s=5)
        assert host.stats.registrations >= 2
    finally:
        await host.stop(unregister=False)


@pytest.mark.parametrize("transport", [Transport.UDP, Transport.TCP])
async def test_teleboot_makes_the_device_vanish_and_register_again(
    platform: LoopbackPlatform, sim_config: ConfigFactory, transport: Transport
) -> None:
    host = SimHost(sim_config(transport=transport, reboot_s=0.3))
    await host.start()
    try:
        assert await host.wait_registered(1, timeout_s=5)
        (device_id,) = host.devices
        first = platform.registrar.bindings[device_id]
        boot = DeviceControl(sn=11, device_id=device_id, tele_boot=True)
        assert (await platform.send(device_id, boot, edition=Edition.V2016)).status == 200
        assert host.registered == 0 and host.stats.reboots == 1
        assert await host.wait_registered(1, timeout_s=5)
        again = platform.registrar.bindings[device_id]
        if transport is Transport.TCP:  # a new connection after the reboot
            assert again.peer != first.peer
        assert host.stats.registrations == 2
    finally:
        await host.stop()


async def test_register_rate_paces_the_fleet(
    platform: LoopbackPlatform, sim_config: ConfigFactory
) -> None:
    host = SimHost(sim_config(devices=60, register_rate=100.0))
    arrivals: Counter[int] = Counter()
    original = platform.registrar.handle
    start = time.monotonic()

    def spy(incoming):  # type: ignore[no-untyped-def]
        headers = incoming.request.headers
        if not headers.get("Authorization") and headers.get("Expires") != "0":
            arrivals[int((time.monotonic() - start) * 10)] += 1
        return original(incoming)

    platform.endpoint.on("REGISTER", spy)
    await host.start()
    try:
        assert await host.wait_registered(60, timeout_s=5)
    finally:
        await host.stop()
    elapsed = time.monotonic() - start
    assert elapsed >= 0.1  # 60 at 100/s after a burst of 50 cannot be instant
    assert sum(arrivals.values()) == 60
    assert arrivals[0] <= 50 + 10 + 1  # the burst, then 100/s


async def test_register_window_is_filled_and_never_exceeded(
    platform: LoopbackPlatform, sim_config: ConfigFactory
) -> None:
    # a slow platform: each REGISTER waits 20 ms; the window (4) bounds what is in flight, and
    # every finished registration hands its slot to the next device
    host = SimHost(sim_config(devices=24, register_rate=1_000_000.0, register_window=4))
    original = platform.registrar.handle
    pending: set[str] = set()
    most = 0

    async def slow(incoming):  # type: ignore[no-untyped-def]
        nonlocal most
        device = incoming.request.from_.uri
        if not incoming.request.headers.get("Authorization"):
            pending.add(device)  # the first REGISTER of a device's exchange
            most = max(most, len(pending))
        await asyncio.sleep(0.02)
        response = original(incoming)
        if response.status == 200:
            pending.discard(device)
        return response

    platform.endpoint.on("REGISTER", slow)
    await host.start()
    try:
        assert await host.wait_registered(24, timeout_s=10)
        assert pending == set()
    finally:
        platform.endpoint.on("REGISTER", original)
        await host.stop()
    assert most == 4
    assert host.stats.registrations == 24 and host.stats.register_failures == 0


async def test_platform_down_at_start_then_up(sim_config: ConfigFactory) -> None:
    # the simulator starts first; registrations time out and are retried later
    late = await start_platform()
    port = late.udp.port
    await late.close()
    config = sim_config(server_port=port, retry_s=0.2)
    host = SimHost(config)
    await host.start()
    try:
        assert not await host.wait_registered(1, timeout_s=0.3)
    finally:
        await host.stop(unregister=False)
    assert host.registered == 0
