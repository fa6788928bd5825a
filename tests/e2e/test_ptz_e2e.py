"""PTZ end to end: REST ``POST /api/v1/channels/{id}/ptz`` → ``serve`` → SIP MESSAGE → simulator.

``sightline serve`` runs as a child; one simulated dome camera (a :class:`SimHost`) runs in this
process on its own event loop in a background thread, so the test can read where its head points
and which PTZCmd strings reached it. Each PTZCmd is checked against 16 hex digits worked out by
hand from the standard's rules (GB/T 28181-2016 A.3), with the default address 1:

    byte 1 A5 | byte 2 0F: version 0 << 4 | (0xA + 0x5 + 0) % 16 | byte 3 address 01
    byte 4 command | bytes 5, 6 data | byte 7 zoom speed << 4 | address bits 8-11 (0)
    byte 8 = (sum of bytes 1-7) & 0xFF
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sightline.gb28181.manscdp import DeviceControl, ManscdpError, decode
from sightline.sim.config import DeviceGroup, SimConfig
from sightline.sim.host import SimHost
from sightline.sim.inbound import Inbound
from sightline.sim.ptz_state import PtzPosition
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.message import Response
from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient, ApiError
from tests.e2e.server import SightlineProcess, StartServer
from tests.e2e.sim_thread import SimThread, start_sim_thread

pytestmark = pytest.mark.e2e

SERVER_ID = "34020000002000000001"
DEVICE_ID = "34020000001320000001"  # the simulator's first IPC
CHANNEL_ID = "34020000001310000001"  # its one camera channel
MOTION_S = 0.4  # how long a move runs before the test looks again

# (REST body, PTZCmd computed by hand from the rules in the module docstring)
RIGHT = ({"action": "right", "speed": 128}, "A50F010180000036")  # 04=01 right, 05=80 pan speed
STOP = ({"action": "stop"}, "A50F0100000000B5")  # 04=00: A5+0F+01 = B5
ZOOM_IN = ({"action": "zoom_in", "speed": 128}, "A50F011000008045")  # 04=10, 07=8<<4 (128>>4)
UP = ({"action": "up", "speed": 255}, "A50F010800FF00BC")  # 04=08 up, 06=FF tilt speed
LEFT = ({"action": "left", "speed": 64}, "A50F0102400000F7")  # 04=02 left, 05=40
PRESET_SET = ({"action": "preset_set", "preset": 3}, "A50F018100030039")  # 04=81, 06=03
PRESET_CALL = ({"action": "preset_call", "preset": 3}, "A50F01820003003A")  # 04=82
PRESET_DELETE = ({"action": "preset_delete", "preset": 3}, "A50F01830003003B")  # 04=83


class RecordingInbound(Inbound):
    """The simulator's own MESSAGE handling, noting every PTZCmd string before obeying it."""

    def __init__(self, host: SimHost) -> None:
        super().__init__(host, clock=host.now, local_time=host.local_time)
        self.ptz_commands: list[tuple[str, str]] = []  # (target DeviceID, PTZCmd)

    def on_message(self, incoming: IncomingRequest) -> Response:
        """Record a DeviceControl's PTZCmd, then answer as the simulator does."""
        try:
            message = decode(incoming.request.body)
        except ManscdpError:
            message = None
        if isinstance(message, DeviceControl) and message.ptz_cmd is not None:
            self.ptz_commands.append((message.device_id, message.ptz_cmd))
        return super().on_message(incoming)


@dataclass
class PtzCamera:
    """The simulated dome camera's thread and what its MESSAGE handler saw."""

    sim: SimThread
    inbound: RecordingInbound

    def position(self) -> PtzPosition:
        """Where the channel's head points now."""
        return self.sim.position(CHANNEL_ID)

    def commands(self) -> list[str]:
        """The PTZCmd strings the channel received, in order."""
        return self.sim.call(lambda: [cmd for target, cmd in self.inbound.ptz_commands])

    def targets(self) -> set[str]:
        """The DeviceIDs the PTZ commands were addressed to."""
        return self.sim.call(lambda: {target for target, _ in self.inbound.ptz_commands})


def start_camera(server: SightlineProcess) -> PtzCamera:
    """Start one simulated IPC registering to ``server`` and wait until it is registered."""
    config = SimConfig(
        server_host="127.0.0.1",
        server_port=server.sip_port,
        server_id=SERVER_ID,
        groups=(DeviceGroup(count=1, channels=1),),
        password=server.password,
        local_host="127.0.0.1",
    )
    recorders: list[RecordingInbound] = []

    def prepare(host: SimHost) -> None:
        host.inbound = RecordingInbound(host)  # before start(): the endpoint takes it from here
        recorders.append(host.inbound)

    sim = start_sim_thread(config, registered=1, timeout_s=10, prepare=prepare)
    return PtzCamera(sim, recorders[0])


@pytest.fixture
def sim_and_api(sightline_server: StartServer) -> Iterator[tuple[PtzCamera, ApiClient]]:
    """``serve``, one simulated dome camera registered and onboarded, and a logged-in client."""
    server = sightline_server(env={"SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD})
    sim = start_camera(server)
    api = ApiClient(server.http_url)
    try:
        page, waited = api.wait_for(
            lambda a: a.page("/api/v1/channels", device=DEVICE_ID),
            lambda p: p.total == 1,
            timeout_s=15,
        )
        assert [c["id"] for c in page.items] == [CHANNEL_ID], f"after {waited:.1f}s: {page}"
        yield sim, api
    finally:
        api.close()
        sim.sim.stop()


def ptz(api: ApiClient, body: dict[str, Any]) -> None:
    """POST a PTZ request; 204 means the device answered the MESSAGE with 200."""
    assert api.post(f"/api/v1/channels/{CHANNEL_ID}/ptz", body) is None


def test_ptz_commands_reach_the_camera_and_move_it(
    sim_and_api: tuple[PtzCamera, ApiClient],
) -> None:
    sim, api = sim_and_api
    home = sim.position()
    assert (home.pan, home.tilt, home.zoom, home.moving) == (0.0, 0.0, 1.0, False)

    ptz(api, RIGHT[0])
    first = sim.position()
    time.sleep(MOTION_S)
    later = sim.position()
    assert first.moving and later.pan > first.pan
    assert later.tilt == 0.0 and later.zoom == 1.0

    ptz(api, STOP[0])
    stopped = sim.position()
    time.sleep(MOTION_S)
    assert not stopped.moving
    assert sim.position() == stopped
    assert stopped.pan > later.pan - 1e-9

    ptz(api, ZOOM_IN[0])
    time.sleep(MOTION_S)
    zooming = sim.position()
    assert zooming.moving and zooming.zoom > 1.0 and zooming.pan == stopped.pan
    ptz(api, STOP[0])

    ptz(api, UP[0])
    time.sleep(MOTION_S / 4)
    ptz(api, STOP[0])
    assert sim.position().tilt > 0.0

    assert sim.commands() == [c for _, c in (RIGHT, STOP, ZOOM_IN, STOP, UP, STOP)]
    assert sim.targets() == {CHANNEL_ID}


def test_presets_set_call_and_delete(sim_and_api: tuple[PtzCamera, ApiClient]) -> None:
    sim, api = sim_and_api
    ptz(api, RIGHT[0])
    time.sleep(MOTION_S / 2)
    ptz(api, STOP[0])
    ptz(api, PRESET_SET[0])
    preset = sim.position()

    ptz(api, LEFT[0])
    time.sleep(MOTION_S)
    ptz(api, STOP[0])
    away = sim.position()
    assert away.pan != preset.pan

    ptz(api, PRESET_CALL[0])
    back = sim.position()
    assert (back.pan, back.tilt, back.zoom, back.moving) == (
        preset.pan,
        preset.tilt,
        preset.zoom,
        False,
    )

    ptz(api, LEFT[0])
    time.sleep(MOTION_S / 2)
    ptz(api, STOP[0])
    ptz(api, PRESET_DELETE[0])
    moved = sim.position()
    ptz(api, PRESET_CALL[0])  # preset 3 is gone: the head stays where it is
    assert sim.position() == moved

    sent = (RIGHT, STOP, PRESET_SET, LEFT, STOP, PRESET_CALL, LEFT, STOP, PRESET_DELETE)
    assert sim.commands() == [c for _, c in (*sent, PRESET_CALL)]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"action": "preset_call"}, 422),  # preset number missing
        ({"action": "right", "speed": 256}, 422),
        ({"action": "spin"}, 422),
    ],
)
def test_bad_ptz_requests_never_reach_the_camera(
    sim_and_api: tuple[PtzCamera, ApiClient], body: dict[str, Any], status: int
) -> None:
    sim, api = sim_and_api
    with pytest.raises(ApiError, match=f"-> {status}"):
        ptz(api, body)
    assert sim.commands() == []
    assert sim.position() == PtzPosition(0.0, 0.0, 1.0, False)
