"""The GB/T 28181 device simulator: IPCs and NVRs built on the platform's own sip/gb28181 code.

config.py        SimConfig, DeviceGroup, Transport
identity.py      IDs, channel names, addresses, map positions (derived, never stored)
device.py        SimDevice: one device's state; DeviceProfile shared by a group
ptz_state.py     the virtual pan/tilt/zoom head of a channel
answers.py       what a device answers to each MANSCDP command (sans-IO)
requests.py      REGISTER / MESSAGE / NOTIFY builders
schedule.py      one timer heap and one token bucket for a whole fleet
registration.py  REGISTER with digest, refresh, retry, keepalive
inbound.py       MESSAGE / SUBSCRIBE handlers, routed by Request-URI user
host.py          SimHost: the fleet on one event loop; run_simulator()
"""

from sightline.sim.config import DeviceGroup, SimConfig, Transport
from sightline.sim.device import SimDevice
from sightline.sim.errors import SimConfigError, SimError
from sightline.sim.host import SimHost, run_simulator
from sightline.sim.ptz_state import PtzPosition, PtzState
from sightline.sim.registration import SimStats

__all__ = [
    "DeviceGroup",
    "PtzPosition",
    "PtzState",
    "SimConfig",
    "SimConfigError",
    "SimDevice",
    "SimError",
    "SimHost",
    "SimStats",
    "Transport",
    "run_simulator",
]
