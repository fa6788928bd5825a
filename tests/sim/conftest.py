"""Fixtures for simulator tests: a real platform endpoint and a config factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sightline.sim import DeviceGroup, SimConfig, Transport
from tests.sim.platform import FAST, PASSWORD, SERVER_ID, LoopbackPlatform, start_platform

ConfigFactory = Callable[..., SimConfig]


@pytest.fixture
async def platform() -> AsyncIterator[LoopbackPlatform]:
    """A platform (SipEndpoint + Registrar) on loopback."""
    started = await start_platform()
    yield started
    await started.close()


@pytest.fixture
def sim_config(platform: LoopbackPlatform) -> ConfigFactory:
    """Build a SimConfig aimed at the test platform; keyword arguments override fields."""

    def build(
        devices: int = 1, channels: int = 1, transport: Transport = Transport.UDP, **kw: Any
    ) -> SimConfig:
        peer = platform.tcp if transport is Transport.TCP else platform.udp
        values: dict[str, Any] = {
            "server_host": peer.host,
            "server_port": peer.port,
            "server_id": SERVER_ID,
            "groups": (DeviceGroup(count=devices, channels=channels),),
            "transport": transport,
            "password": PASSWORD,
            "local_host": "127.0.0.1",
            "register_rate": 5000.0,
            "retry_s": 0.3,
            "retry_jitter_s": 0.0,
            "timers": FAST,
        }
        values.update(kw)
        return SimConfig(**values)

    return build
