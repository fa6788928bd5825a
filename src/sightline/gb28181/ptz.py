"""The front-end device control code PTZCmd (GB/T 28181-2016 Annex A.3, 2022 Annex A.3).

Eight bytes, written as 16 upper-case hex characters in ``<PTZCmd>``::

    byte  1    2               3             4        5       6       7                 8
          A5   ver<<4 | check  address 0-7   command  data 1  data 2  data 3<<4 |       sum of
                                                                      address 8-11      bytes 1-7

``check = (0xA + 0x5 + ver) % 16``; version 1.0 of the protocol is ``ver = 0`` so byte 2 is ``0F``.
Byte 8 is the low 8 bits of the arithmetic sum of bytes 1-7. The address is not used by GB/T 28181
(the target is the message's ``DeviceID``) but is kept so a relayed command is reproduced exactly.

Commands (byte 4):

* ``00xx xxxx`` PTZ: bit5 zoom out, bit4 zoom in, bit3 up, bit2 down, bit1 left, bit0 right;
  byte 5 pan speed, byte 6 tilt speed (00-FF), byte 7 high nibble zoom speed (0-F). ``00`` stops.
  Opposite bits must not both be set (2016 Table A.4).
* ``0100 xxxx`` FI: bit3 iris close, bit2 iris open, bit1 focus near, bit0 focus far; byte 5 focus
  speed, byte 6 iris speed. ``40`` stops the lens.
* ``81/82/83`` set/call/delete preset, byte 6 = preset 1-255 (0 is reserved).
* ``84/85`` add/remove a cruise point (byte 5 group, byte 6 preset; 85 with 0 removes the cruise),
  ``86/87`` cruise speed/dwell seconds as a 12-bit value (byte 6 low bits, byte 7 high nibble),
  ``88`` start cruise. ``89`` scan: byte 6 ``00`` start, ``01`` left limit, ``02`` right limit;
  ``8A`` scan speed (12-bit). ``8C/8D`` auxiliary switch on/off, byte 5 = switch (1 = wiper).
  Cruise and scan stop with the PTZ stop ``00``.

Direction fields take -1, 0 or +1: ``pan`` +1 right / -1 left, ``tilt`` +1 up / -1 down,
``zoom_direction`` +1 in (tele) / -1 out (wide), ``focus_direction`` +1 far / -1 near,
``iris_direction`` +1 open / -1 close.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Literal

from sightline.gb28181.errors import InvalidPtzCommand

__all__ = ["PresetAction", "PtzCommand", "PtzKind", "decode"]

_HEAD = 0xA5
_VERSION = 0


class PtzKind(Enum):
    """What a PTZCmd does; the value is the command byte (or its family for PTZ/FI)."""

    STOP = "stop"
    MOVE = "move"  # pan and/or tilt, optionally combined with zoom
    ZOOM = "zoom"  # zoom only
    FI_STOP = "fi_stop"
    FOCUS = "focus"  # focus, optionally combined with iris
    IRIS = "iris"  # iris only
    PRESET_SET = "preset_set"
    PRESET_CALL = "preset_call"
    PRESET_DELETE = "preset_delete"
    CRUISE_ADD = "cruise_add"
    CRUISE_REMOVE = "cruise_remove"
    CRUISE_SPEED = "cruise_speed"
    CRUISE_DWELL = "cruise_dwell"
    CRUISE_START = "cruise_start"
    SCAN_START = "scan_start"
    SCAN_LEFT_LIMIT = "scan_left_limit"
    SCAN_RIGHT_LIMIT = "scan_right_limit"
    SCAN_SPEED = "scan_speed"
    AUX_ON = "aux_on"
    AUX_OFF = "aux_off"


class PresetAction(Enum):
    """The three preset operations."""

    SET = "set"
    CALL = "call"
    DELETE = "delete"


_K = PtzKind
_OPCODES: dict[PtzKind, int] = {
    _K.PRESET_SET: 0x81,
    _K.PRESET_CALL: 0x82,
    _K.PRESET_DELETE: 0x83,
    _K.CRUISE_ADD: 0x84,
    _K.CRUISE_REMOVE: 0x85,
    _K.CRUISE_SPEED: 0x86,
    _K.CRUISE_DWELL: 0x87,
    _K.CRUISE_START: 0x88,
    _K.SCAN_START: 0x89,
    _K.SCAN_LEFT_LIMIT: 0x89,
    _K.SCAN_RIGHT_LIMIT: 0x89,
    _K.SCAN_SPEED: 0x8A,
    _K.AUX_ON: 0x8C,
    _K.AUX_OFF: 0x8D,
}
_SCAN_BY_BYTE6 = {0: _K.SCAN_START, 1: _K.SCAN_LEFT_LIMIT, 2: _K.SCAN_RIGHT_LIMIT}
_PRESET_KINDS = {
    PresetAction.SET: _K.PRESET_SET,
    PresetAction.CALL: _K.PRESET_CALL,
    PresetAction.DELETE: _K.PRESET_DELETE,
}

# Which optional fields each kind carries; every other field must keep its default, so one
# command has exactly one representation and encode/decode round-trips.
_PTZ_FIELDS = frozenset({"pan", "tilt", "zoom_direction", "pan_speed", "tilt_speed", "zoom_speed"})
_FI_FIELDS = frozenset({"focus_direction", "iris_direction", "focus_speed", "iris_speed"})
_USES: dict[PtzKind, frozenset[str]] = {
    _K.STOP: frozenset(),
    _K.MOVE: _PTZ_FIELDS,
    _K.ZOOM: _PTZ_FIELDS,
    _K.FI_STOP: frozenset(),
    _K.FOCUS: _FI_FIELDS,
    _K.IRIS: _FI_FIELDS,
    _K.PRESET_SET: frozenset({"preset_index"}),
    _K.PRESET_CALL: frozenset({"preset_index"}),
    _K.PRESET_DELETE: frozenset({"preset_index"}),
    _K.CRUISE_ADD: frozenset({"group", "preset_index"}),
    _K.CRUISE_REMOVE: frozenset({"group", "preset_index"}),
    _K.CRUISE_SPEED: frozenset({"group", "value"}),
    _K.CRUISE_DWELL: frozenset({"group", "value"}),
    _K.CRUISE_START: frozenset({"group"}),
    _K.SCAN_START: frozenset({"group"}),
    _K.SCAN_LEFT_LIMIT: frozenset({"group"}),
    _K.SCAN_RIGHT_LIMIT: frozenset({"group"}),
    _K.SCAN_SPEED: frozenset({"group", "value"}),
    _K.AUX_ON: frozenset({"aux_switch"}),
    _K.AUX_OFF: frozenset({"aux_switch"}),
}
_RANGES: dict[str, tuple[int, int]] = {
    "pan": (-1, 1),
    "tilt": (-1, 1),
    "zoom_direction": (-1, 1),
    "focus_direction": (-1, 1),
    "iris_direction": (-1, 1),
    "pan_speed": (0, 0xFF),
    "tilt_speed": (0, 0xFF),
    "zoom_speed": (0, 0xF),
    "focus_speed": (0, 0xFF),
    "iris_speed": (0, 0xFF),
    "preset_index": (0, 0xFF),
    "group": (0, 0xFF),
    "value": (0, 0xFFF),
    "aux_switch": (0, 0xFF),
    "address": (0, 0xFFF),
}


def _bit(direction: int, plus: int, minus: int) -> int:
    return plus if direction > 0 else minus if direction < 0 else 0


@dataclass(frozen=True, kw_only=True)
class PtzCommand:
    """One decoded PTZCmd; build it with the class-method constructors."""

    kind: PtzKind
    pan: int = 0
    tilt: int = 0
    zoom_direction: int = 0
    focus_direction: int = 0
    iris_direction: int = 0
    pan_speed: int = 0
    tilt_speed: int = 0
    zoom_speed: int = 0
    focus_speed: int = 0
    iris_speed: int = 0
    preset_index: int = 0
    group: int = 0
    value: int = 0
    aux_switch: int = 0
    address: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "kind":
                continue
            low, high = _RANGES[f.name]
            value = getattr(self, f.name)
            if type(value) is not int or not low <= value <= high:
                raise InvalidPtzCommand(f"{f.name} must be an int in {low}..{high}, got {value!r}")
            if f.name != "address" and value != f.default and f.name not in _USES[self.kind]:
                raise InvalidPtzCommand(f"{f.name} is not used by a {self.kind.value} command")
        self._check_kind()

    def _check_kind(self) -> None:
        kind = self.kind
        moving = self.pan != 0 or self.tilt != 0
        if kind is _K.MOVE and not moving:
            raise InvalidPtzCommand("a move needs pan or tilt; use zoom() or stop()")
        if kind is _K.ZOOM and (moving or self.zoom_direction == 0):
            raise InvalidPtzCommand("a zoom command has a zoom direction and no pan or tilt")
        if kind is _K.FOCUS and self.focus_direction == 0:
            raise InvalidPtzCommand("a focus command needs a focus direction")
        if kind is _K.IRIS and (self.iris_direction == 0 or self.focus_direction != 0):
            raise InvalidPtzCommand("an iris command has an iris direction and no focus")
        needs_preset = (_K.PRESET_SET, _K.PRESET_CALL, _K.PRESET_DELETE, _K.CRUISE_ADD)
        if kind in needs_preset and self.preset_index == 0:
            raise InvalidPtzCommand("preset numbers are 1..255 (0 is reserved)")

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def stop(cls, *, address: int = 1) -> PtzCommand:
        """Stop all PTZ motion (also stops cruise and scan)."""
        return cls(kind=_K.STOP, address=address)

    @classmethod
    def move(
        cls, pan: int, tilt: int, speed: int = 0x80, *, zoom: int = 0, zoom_speed: int = 0
    ) -> PtzCommand:
        """Pan/tilt (each -1, 0, +1) at ``speed`` 0-255, optionally zooming; all zero stops."""
        if pan == 0 and tilt == 0:
            return cls.zoom(zoom, zoom_speed) if zoom else cls.stop()
        return cls(
            kind=_K.MOVE,
            pan=pan,
            tilt=tilt,
            zoom_direction=zoom,
            pan_speed=speed if pan else 0,
            tilt_speed=speed if tilt else 0,
            zoom_speed=zoom_speed if zoom else 0,
        )

    @classmethod
    def zoom(cls, direction: int, speed: int = 8) -> PtzCommand:
        """Zoom in (+1) or out (-1) at ``speed`` 0-15."""
        return cls(kind=_K.ZOOM, zoom_direction=direction, zoom_speed=speed)

    @classmethod
    def focus(cls, direction: int, speed: int = 0x80) -> PtzCommand:
        """Focus far (+1) or near (-1) at ``speed`` 0-255."""
        return cls(kind=_K.FOCUS, focus_direction=direction, focus_speed=speed)

    @classmethod
    def iris(cls, direction: int, speed: int = 0x80) -> PtzCommand:
        """Open (+1) or close (-1) the iris at ``speed`` 0-255."""
        return cls(kind=_K.IRIS, iris_direction=direction, iris_speed=speed)

    @classmethod
    def fi_stop(cls) -> PtzCommand:
        """Stop focus and iris motion."""
        return cls(kind=_K.FI_STOP)

    @classmethod
    def preset(cls, action: PresetAction | str, index: int) -> PtzCommand:
        """Set, call or delete preset ``index`` (1-255)."""
        return cls(kind=_PRESET_KINDS[PresetAction(action)], preset_index=index)

    @classmethod
    def cruise_add(cls, group: int, preset: int) -> PtzCommand:
        """Add preset ``preset`` to cruise ``group``."""
        return cls(kind=_K.CRUISE_ADD, group=group, preset_index=preset)

    @classmethod
    def cruise_remove(cls, group: int, preset: int = 0) -> PtzCommand:
        """Remove one point from cruise ``group``; preset 0 deletes the whole cruise."""
        return cls(kind=_K.CRUISE_REMOVE, group=group, preset_index=preset)

    @classmethod
    def cruise_speed(cls, group: int, speed: int) -> PtzCommand:
        """Set the cruise speed (12-bit)."""
        return cls(kind=_K.CRUISE_SPEED, group=group, value=speed)

    @classmethod
    def cruise_dwell(cls, group: int, seconds: int) -> PtzCommand:
        """Set the dwell time at each cruise point, in seconds (12-bit)."""
        return cls(kind=_K.CRUISE_DWELL, group=group, value=seconds)

    @classmethod
    def cruise_start(cls, group: int) -> PtzCommand:
        """Start cruise ``group``; stop it with :meth:`stop`."""
        return cls(kind=_K.CRUISE_START, group=group)

    @classmethod
    def scan_start(cls, group: int) -> PtzCommand:
        """Start auto-scan ``group``; stop it with :meth:`stop`."""
        return cls(kind=_K.SCAN_START, group=group)

    @classmethod
    def scan_limit(cls, group: int, side: Literal["left", "right"]) -> PtzCommand:
        """Store the current position as the scan's left or right limit."""
        kind = _K.SCAN_LEFT_LIMIT if side == "left" else _K.SCAN_RIGHT_LIMIT
        return cls(kind=kind, group=group)

    @classmethod
    def scan_speed(cls, group: int, speed: int) -> PtzCommand:
        """Set the auto-scan speed (12-bit)."""
        return cls(kind=_K.SCAN_SPEED, group=group, value=speed)

    @classmethod
    def aux(cls, switch: int, on: bool) -> PtzCommand:
        """Switch auxiliary output ``switch`` (1 = wiper) on or off."""
        return cls(kind=_K.AUX_ON if on else _K.AUX_OFF, aux_switch=switch)

    # -- wire format ----------------------------------------------------------------------------

    def _payload(self) -> tuple[int, int, int, int]:
        """Bytes 4, 5, 6 and the high nibble of byte 7."""
        kind = self.kind
        if kind in (_K.STOP, _K.MOVE, _K.ZOOM):
            code = (
                _bit(self.zoom_direction, 0x10, 0x20)
                | _bit(self.tilt, 0x08, 0x04)
                | _bit(self.pan, 0x01, 0x02)
            )
            return code, self.pan_speed, self.tilt_speed, self.zoom_speed
        if kind in (_K.FI_STOP, _K.FOCUS, _K.IRIS):
            code = (
                0x40
                | _bit(self.iris_direction, 0x04, 0x08)
                | _bit(self.focus_direction, 0x01, 0x02)
            )
            return code, self.focus_speed, self.iris_speed, 0
        opcode = _OPCODES[kind]
        if kind in (_K.CRUISE_SPEED, _K.CRUISE_DWELL, _K.SCAN_SPEED):
            return opcode, self.group, self.value & 0xFF, self.value >> 8
        if kind in (_K.SCAN_START, _K.SCAN_LEFT_LIMIT, _K.SCAN_RIGHT_LIMIT):
            byte6 = {v: k for k, v in _SCAN_BY_BYTE6.items()}[kind]
            return opcode, self.group, byte6, 0
        if kind in (_K.AUX_ON, _K.AUX_OFF):
            return opcode, self.aux_switch, 0, 0
        return opcode, self.group, self.preset_index, 0

    def to_bytes(self) -> bytes:
        """The 8 raw bytes."""
        code, data1, data2, data3 = self._payload()
        head = [
            _HEAD,
            (_VERSION << 4) | _check_nibble(_VERSION),
            self.address & 0xFF,
            code,
            data1,
            data2,
            (data3 << 4) | (self.address >> 8),
        ]
        return bytes([*head, sum(head) & 0xFF])

    def encode(self) -> str:
        """The 16 upper-case hex characters for ``<PTZCmd>``."""
        return self.to_bytes().hex().upper()

    @classmethod
    def from_bytes(cls, raw: bytes) -> PtzCommand:
        """Parse 8 raw bytes, checking the header, version, both checksums and the command."""
        if len(raw) != 8:
            raise InvalidPtzCommand(f"a PTZCmd has 8 bytes, got {len(raw)}")
        if raw[0] != _HEAD:
            raise InvalidPtzCommand(f"a PTZCmd starts with A5, got {raw[0]:02X}")
        version = raw[1] >> 4
        if raw[1] & 0x0F != _check_nibble(version):
            raise InvalidPtzCommand(f"byte 2 check nibble is wrong: {raw[1]:02X}")
        if version != _VERSION:
            raise InvalidPtzCommand(f"unsupported PTZCmd version {version}")
        if sum(raw[:7]) & 0xFF != raw[7]:
            raise InvalidPtzCommand(
                f"checksum mismatch: byte 8 is {raw[7]:02X}, "
                f"bytes 1-7 sum to {sum(raw[:7]) & 0xFF:02X}"
            )
        address = raw[2] | ((raw[6] & 0x0F) << 8)
        return _decode_command(raw[3], raw[4], raw[5], raw[6] >> 4, address)

    @classmethod
    def decode(cls, text: str) -> PtzCommand:
        """Parse the 16 hex characters of ``<PTZCmd>`` (case-insensitive)."""
        clean = text.strip()
        if len(clean) != 16:
            raise InvalidPtzCommand(f"a PTZCmd has 16 hex characters, got {len(clean)}")
        try:
            raw = bytes.fromhex(clean)
        except ValueError:
            raise InvalidPtzCommand(f"a PTZCmd is hexadecimal, got {clean!r}") from None
        return cls.from_bytes(raw)


def _check_nibble(version: int) -> int:
    return (0xA + 0x5 + version) % 16


def _direction(code: int, plus: int, minus: int, axis: str) -> int:
    if code & plus and code & minus:
        raise InvalidPtzCommand(f"opposite {axis} bits are both set in {code:02X}")
    return 1 if code & plus else -1 if code & minus else 0


def _decode_command(code: int, data1: int, data2: int, data3: int, address: int) -> PtzCommand:
    if code < 0x40:
        pan = _direction(code, 0x01, 0x02, "pan")
        tilt = _direction(code, 0x08, 0x04, "tilt")
        zoom = _direction(code, 0x10, 0x20, "zoom")
        kind = _K.MOVE if pan or tilt else _K.ZOOM if zoom else _K.STOP
        speeds: dict[str, int] = {}
        if kind is not _K.STOP:
            speeds = {"pan_speed": data1, "tilt_speed": data2, "zoom_speed": data3}
        return PtzCommand(
            kind=kind, pan=pan, tilt=tilt, zoom_direction=zoom, address=address, **speeds
        )
    if code < 0x50:
        focus = _direction(code, 0x01, 0x02, "focus")
        iris = _direction(code, 0x04, 0x08, "iris")
        kind = _K.FOCUS if focus else _K.IRIS if iris else _K.FI_STOP
        extra = {} if kind is _K.FI_STOP else {"focus_speed": data1, "iris_speed": data2}
        return PtzCommand(
            kind=kind, focus_direction=focus, iris_direction=iris, address=address, **extra
        )
    return _decode_special(code, data1, data2, data3, address)


def _decode_special(code: int, data1: int, data2: int, data3: int, address: int) -> PtzCommand:
    if code == 0x89:
        if data2 not in _SCAN_BY_BYTE6:
            raise InvalidPtzCommand(f"scan command with unknown byte 6 {data2:02X}")
        return PtzCommand(kind=_SCAN_BY_BYTE6[data2], group=data1, address=address)
    kinds = {op: kind for kind, op in _OPCODES.items() if op != 0x89}
    kind = kinds.get(code)
    if kind is None:
        raise InvalidPtzCommand(f"unknown PTZCmd command byte {code:02X}")
    if kind in (_K.PRESET_SET, _K.PRESET_CALL, _K.PRESET_DELETE):
        # Byte 5 is 00 in the standard; ignore what vendors put there.
        return PtzCommand(kind=kind, preset_index=data2, address=address)
    if kind in (_K.CRUISE_SPEED, _K.CRUISE_DWELL, _K.SCAN_SPEED):
        return PtzCommand(kind=kind, group=data1, value=data2 | (data3 << 8), address=address)
    if kind in (_K.AUX_ON, _K.AUX_OFF):
        return PtzCommand(kind=kind, aux_switch=data1, address=address)
    if kind is _K.CRUISE_START:
        return PtzCommand(kind=kind, group=data1, address=address)
    return PtzCommand(kind=kind, group=data1, preset_index=data2, address=address)


def decode(text: str) -> PtzCommand:
    """Parse a ``<PTZCmd>`` value; see :meth:`PtzCommand.decode`."""
    return PtzCommand.decode(text)
