"""The virtual pan/tilt/zoom head of one simulated channel (sans-IO, time is an argument).

Motion is integrated lazily: a command first settles the position at ``now`` and then sets new
velocities, and :meth:`PtzState.position` extrapolates without changing anything. So an idle
channel costs nothing per tick, and the video of issue 5 can draw the head at any frame time.

Units: pan in degrees ``[0, 360)`` (wraps, +1 = right), tilt in degrees ``[-90, 30]`` (clamped,
+1 = up, 0 = horizon), zoom as the optical factor ``[1, 30]``. Speed bytes map linearly onto
rates: pan/tilt speed 0-255 -> 1-120 degrees/s, zoom speed 0-15 -> 0.5-8 x/s.
"""

from __future__ import annotations

from dataclasses import dataclass

from sightline.gb28181.ptz import PtzCommand, PtzKind

__all__ = ["PtzPosition", "PtzState"]

TILT_MIN = -90.0
TILT_MAX = 30.0
ZOOM_MIN = 1.0
ZOOM_MAX = 30.0


def _angle_rate(speed: int) -> float:
    return 1.0 + speed * (119.0 / 255.0)


def _zoom_rate(speed: int) -> float:
    return 0.5 + speed * 0.5


def _wrap(degrees: float) -> float:
    # x % 360.0 is 360.0 for tiny negative x; the range is [0, 360)
    wrapped = degrees % 360.0
    return 0.0 if wrapped >= 360.0 else wrapped


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


@dataclass(frozen=True, slots=True)
class PtzPosition:
    """Where the head points at one instant."""

    pan: float
    tilt: float
    zoom: float
    moving: bool


class PtzState:
    """Position, motion and presets of one channel's PTZ head."""

    __slots__ = ("_pan", "_pan_v", "_t0", "_tilt", "_tilt_v", "_zoom", "_zoom_v", "presets")

    def __init__(self, now: float, pan: float = 0.0, tilt: float = 0.0, zoom: float = 1.0) -> None:
        self._t0 = now
        self._pan = _wrap(pan)
        self._tilt = _clamp(tilt, TILT_MIN, TILT_MAX)
        self._zoom = _clamp(zoom, ZOOM_MIN, ZOOM_MAX)
        self._pan_v = self._tilt_v = self._zoom_v = 0.0
        self.presets: dict[int, tuple[float, float, float]] = {}

    def position(self, now: float) -> PtzPosition:
        """The head's position at ``now`` (not before the last command)."""
        dt = max(0.0, now - self._t0)
        return PtzPosition(
            pan=_wrap(self._pan + self._pan_v * dt),
            tilt=_clamp(self._tilt + self._tilt_v * dt, TILT_MIN, TILT_MAX),
            zoom=_clamp(self._zoom + self._zoom_v * dt, ZOOM_MIN, ZOOM_MAX),
            moving=bool(self._pan_v or self._tilt_v or self._zoom_v),
        )

    def _settle(self, now: float) -> None:
        here = self.position(now)
        self._pan, self._tilt, self._zoom = here.pan, here.tilt, here.zoom
        self._t0 = max(now, self._t0)

    def apply(self, command: PtzCommand, now: float) -> bool:
        """Obey one PTZCmd; False for commands this head ignores (cruise, scan, aux, lens)."""
        self._settle(now)
        kind = command.kind
        if kind in (PtzKind.STOP, PtzKind.MOVE, PtzKind.ZOOM):
            self._pan_v = command.pan * _angle_rate(command.pan_speed)
            self._tilt_v = command.tilt * _angle_rate(command.tilt_speed)
            self._zoom_v = command.zoom_direction * _zoom_rate(command.zoom_speed)
            return True
        if kind in (PtzKind.PRESET_SET, PtzKind.PRESET_CALL, PtzKind.PRESET_DELETE):
            return self._preset(kind, command.preset_index)
        return False

    def _preset(self, kind: PtzKind, index: int) -> bool:
        if kind is PtzKind.PRESET_SET:
            self.presets[index] = (self._pan, self._tilt, self._zoom)
            return True
        if kind is PtzKind.PRESET_DELETE:
            return self.presets.pop(index, None) is not None
        target = self.presets.get(index)
        if target is None:
            return False
        # real domes slew to a preset at full speed; arriving at once is close enough
        self._pan, self._tilt, self._zoom = target
        self._pan_v = self._tilt_v = self._zoom_v = 0.0
        return True

    def go_to(self, pan: float, tilt: float, zoom: float, now: float) -> None:
        """Jump to an absolute position and stop (home position, tests)."""
        self._t0 = now
        self._pan, self._tilt = _wrap(pan), _clamp(tilt, TILT_MIN, TILT_MAX)
        self._zoom = _clamp(zoom, ZOOM_MIN, ZOOM_MAX)
        self._pan_v = self._tilt_v = self._zoom_v = 0.0
