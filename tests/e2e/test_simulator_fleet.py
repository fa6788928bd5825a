"""1,000 simulated devices register to ``sightline serve`` and are listed online through the API.

Both sides are what a user runs: ``sightline serve`` and ``sightline sim --devices 1000`` as
child processes, configured on the command line and through ``SIGHTLINE_*`` variables. All the
simulated devices share one UDP socket on 127.0.0.1, so the server's per-source flood limits are
raised for the test.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient, Page
from tests.e2e.server import SightlineProcess, StartServer

pytestmark = pytest.mark.e2e

DEVICES = 1000
REGISTER_RATE = 500  # registrations started per second by the simulator
ENV = {
    "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
    "SIGHTLINE_LOG__LEVEL": "WARNING",
    "SIGHTLINE_SIP__RATE_PER_SOURCE": "100000",
    "SIGHTLINE_SIP__RATE_BURST": "100000",
    "SIGHTLINE_SIP__BAN_AFTER_FAILURES": "100000",
}
SERVER_ID = "34020000002000000001"


class Simulator:
    """A ``sightline sim`` child process whose output is collected in a thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sightline.cli.main", "sim", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            cwd=cwd,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, ""):
            self.lines.append(line)

    def output(self) -> str:
        """What the simulator printed so far."""
        return "".join(self.lines)

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM (it unregisters every device, then exits); kill if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)
        self._reader.join(5.0)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return int(self.process.returncode)


@pytest.fixture
def start_simulator(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """Factory for ``sightline sim`` children; every one is stopped at teardown."""
    started: list[Simulator] = []

    def start(server: SightlineProcess, *args: str) -> Simulator:
        sim = Simulator(
            [
                "--server",
                f"127.0.0.1:{server.sip_port}",
                "--server-id",
                SERVER_ID,
                "--password",
                server.password,
                "--local-host",
                "127.0.0.1",
                *args,
            ],
            cwd=tmp_path,
        )
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def online_total(api: ApiClient) -> int:
    """How many devices the API counts online (the stored flag, written behind)."""
    return api.page("/api/v1/devices", online=True, limit=1).total


def test_simulator_registers_1000_devices(
    sightline_server: StartServer,
    start_simulator: Callable[..., Simulator],
    record_property: Callable[[str, object], None],
) -> None:
    server = sightline_server(env=ENV)
    api = ApiClient(server.http_url)
    start = time.monotonic()
    sim = start_simulator(
        server, "--devices", str(DEVICES), "--channels", "1", "--register-rate", str(REGISTER_RATE)
    )

    online, all_online_s = api.wait_for(
        online_total, lambda n: n >= DEVICES, timeout_s=40, interval_s=0.5
    )
    assert online == DEVICES, f"{online} online after {all_online_s:.0f}s\n{sim.output()}"
    channels, all_channels_s = api.wait_for(
        lambda a: a.page("/api/v1/channels", limit=1).total,
        lambda n: n >= DEVICES,
        timeout_s=max(5.0, 50 - (time.monotonic() - start)),
        interval_s=0.5,
    )
    all_channels_s += all_online_s
    record_property("all_online_s", round(all_online_s, 1))
    record_property("all_channels_s", round(all_channels_s, 1))
    print(f"\n{DEVICES} devices online in {all_online_s:.1f}s, channels in {all_channels_s:.1f}s")

    devices = api.all_items("/api/v1/devices")
    assert devices.total == DEVICES
    assert all(d["online"] for d in devices.items), [d for d in devices.items if not d["online"]]
    assert {d["id"] for d in devices.items} == {f"3402000000132{n:07d}" for n in range(1, 1001)}
    assert {d["transport"] for d in devices.items} == {"UDP"}
    assert channels == DEVICES, f"{channels} channels after {all_channels_s:.0f}s"
    listed: Page = api.all_items("/api/v1/channels")
    # An IPC lists one type-131 channel with its own serial.
    assert {c["id"] for c in listed.items} == {f"3402000000131{n:07d}" for n in range(1, 1001)}
    assert all(c["device_online"] for c in listed.items)
    assert "registered 1000/1000 (failures 0" in sim.output()

    # SIGTERM: the simulator unregisters everything (Expires: 0) before it exits.
    assert sim.stop() == 0, sim.output()
    assert "stopped; 0 devices still registered" in sim.output()
    left, _ = api.wait_for(online_total, lambda n: n == 0, timeout_s=10)
    assert left == 0
    api.close()
