"""Tests for the PTZCmd codec (GB/T 28181 Annex A.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.errors import InvalidPtzCommand
from sightline.gb28181.ptz import PresetAction, PtzCommand, PtzKind, decode

P = PtzCommand


def _checksum(hex7: str) -> str:
    """Independent reference: the low byte of the sum of bytes 1-7."""
    return f"{sum(bytes.fromhex(hex7)) % 256:02X}"


# Worked values from the team's notes, each also re-derived here with _checksum.
WORKED = [
    (P.stop(), "A50F0100000000B5"),
    (P.move(1, 0, 0x80), "A50F010180000036"),
    (P.move(0, 1, 0x80), "A50F01080080003D"),
    (P.zoom(1, 1), "A50F0110000010D5"),
    (P.move(1, 1, 0x80, zoom=-1, zoom_speed=5), "A50F01298080502E"),
    (P.preset("set", 1), "A50F018100010037"),
    (P.preset(PresetAction.CALL, 1), "A50F018200010038"),
    (P.focus(-1, 0x80), "A50F014280000077"),
    (P.aux(1, on=True), "A50F018C01000042"),
]


@pytest.mark.parametrize(("command", "expected"), WORKED)
def test_worked_values(command: PtzCommand, expected: str) -> None:
    assert expected[14:] == _checksum(expected[:14])
    assert command.encode() == expected
    assert decode(expected) == command


def test_standard_example_with_address_4d() -> None:
    cmd = decode("A50F4D1000001021")
    assert cmd.kind is PtzKind.ZOOM
    assert (cmd.zoom_direction, cmd.zoom_speed, cmd.address) == (1, 1, 0x4D)


@pytest.mark.parametrize(
    ("command", "byte4", "byte5", "byte6", "byte7_high"),
    [
        (P.move(-1, 0, 0x20), 0x02, 0x20, 0x00, 0),
        (P.move(0, -1, 0x30), 0x04, 0x00, 0x30, 0),
        (P.move(-1, -1, 0xFF, zoom=1, zoom_speed=15), 0x16, 0xFF, 0xFF, 15),
        (P.zoom(-1, 3), 0x20, 0, 0, 3),
        (P.iris(-1, 0x11), 0x48, 0x00, 0x11, 0),
        (P.iris(1, 0x12), 0x44, 0x00, 0x12, 0),
        (P.focus(1, 0x13), 0x41, 0x13, 0x00, 0),
        (P.fi_stop(), 0x40, 0, 0, 0),
        (P.preset("delete", 255), 0x83, 0x00, 0xFF, 0),
        (P.cruise_add(2, 7), 0x84, 2, 7, 0),
        (P.cruise_remove(2), 0x85, 2, 0, 0),
        (P.cruise_speed(3, 0xABC), 0x86, 3, 0xBC, 0xA),
        (P.cruise_dwell(3, 30), 0x87, 3, 30, 0),
        (P.cruise_start(4), 0x88, 4, 0, 0),
        (P.scan_start(5), 0x89, 5, 0, 0),
        (P.scan_limit(5, "left"), 0x89, 5, 1, 0),
        (P.scan_limit(5, "right"), 0x89, 5, 2, 0),
        (P.scan_speed(5, 0x123), 0x8A, 5, 0x23, 1),
        (P.aux(2, on=False), 0x8D, 2, 0, 0),
    ],
)
def test_byte_layout(
    command: PtzCommand, byte4: int, byte5: int, byte6: int, byte7_high: int
) -> None:
    raw = command.to_bytes()
    assert raw[:3] == bytes([0xA5, 0x0F, 0x01])
    assert (raw[3], raw[4], raw[5], raw[6] >> 4) == (byte4, byte5, byte6, byte7_high)
    assert raw[7] == sum(raw[:7]) % 256
    assert PtzCommand.from_bytes(raw) == command


def test_focus_and_iris_combination_is_one_focus_command() -> None:
    cmd = PtzCommand(kind=PtzKind.FOCUS, focus_direction=1, iris_direction=-1, focus_speed=9)
    assert cmd.to_bytes()[3] == 0x49
    assert decode(cmd.encode()) == cmd


def test_address_uses_byte3_and_low_nibble_of_byte7() -> None:
    cmd = PtzCommand(kind=PtzKind.ZOOM, zoom_direction=-1, zoom_speed=0xA, address=0xFED)
    raw = cmd.to_bytes()
    assert raw[2] == 0xED and raw[6] == 0xAF
    assert decode(cmd.encode()).address == 0xFED


def test_move_with_no_direction_is_stop_or_zoom() -> None:
    assert P.move(0, 0) == P.stop()
    assert P.move(0, 0, zoom=1, zoom_speed=2) == P.zoom(1, 2)


def test_decode_accepts_lower_case_and_whitespace() -> None:
    assert decode(" a50f0100000000b5 ") == P.stop()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A50F0100000000B6", "checksum"),
        ("A50E0100000000B4", "check nibble"),
        ("A41F0100000000B5", "starts with A5"),
        ("A5100100000000B6", "version"),
        ("A50F0100000000", "16 hex"),
        ("A50F0100000000B500", "16 hex"),
        ("A50F01000000zzB5", "hexadecimal"),
    ],
)
def test_malformed_commands_raise(text: str, message: str) -> None:
    with pytest.raises(InvalidPtzCommand, match=message):
        decode(text)


def _with_checksum(hex7: str) -> str:
    return hex7 + _checksum(hex7)


@pytest.mark.parametrize(
    ("hex7", "message"),
    [
        ("A50F0103000000", "opposite pan"),
        ("A50F010C000000", "opposite tilt"),
        ("A50F0130000000", "opposite zoom"),
        ("A50F014C000000", "opposite iris"),
        ("A50F0143000000", "opposite focus"),
        ("A50F0150000000", "unknown"),
        ("A50F018B000000", "unknown"),
        ("A50F01FF000000", "unknown"),
        ("A50F0189000300", "scan"),
        ("A50F0181000000", "reserved"),
    ],
)
def test_invalid_command_bytes_raise(hex7: str, message: str) -> None:
    with pytest.raises(InvalidPtzCommand, match=message):
        decode(_with_checksum(hex7))


@pytest.mark.parametrize(
    "build",
    [
        lambda: P.move(2, 0),
        lambda: P.move(1, 0, 256),
        lambda: P.zoom(1, 16),
        lambda: P.preset("set", 0),
        lambda: P.preset("set", 256),
        lambda: P.cruise_speed(1, 0x1000),
        lambda: PtzCommand(kind=PtzKind.STOP, pan_speed=3),
        lambda: PtzCommand(kind=PtzKind.PRESET_CALL, preset_index=1, group=2),
        lambda: PtzCommand(kind=PtzKind.MOVE),
        lambda: PtzCommand(kind=PtzKind.ZOOM, pan=1, zoom_direction=1),
        lambda: PtzCommand(kind=PtzKind.IRIS, iris_direction=1, focus_direction=1),
        lambda: PtzCommand(kind=PtzKind.FOCUS),
        lambda: PtzCommand(kind=PtzKind.STOP, address=0x1000),
        lambda: PtzCommand(kind=PtzKind.MOVE, pan=True),
    ],
)
def test_invalid_fields_raise(build: object) -> None:
    assert callable(build)
    with pytest.raises(InvalidPtzCommand):
        build()


SPEED = st.integers(0, 255)
DIR = st.integers(-1, 1)
GROUP = st.integers(0, 255)
PRESET = st.integers(1, 255)
VALUE = st.integers(0, 0xFFF)

COMMANDS = st.one_of(
    st.builds(P.stop),
    st.builds(P.move, DIR, DIR, SPEED, zoom=DIR, zoom_speed=st.integers(0, 15)),
    st.builds(P.zoom, st.sampled_from([-1, 1]), st.integers(0, 15)),
    st.builds(P.focus, st.sampled_from([-1, 1]), SPEED),
    st.builds(P.iris, st.sampled_from([-1, 1]), SPEED),
    st.builds(P.fi_stop),
    st.builds(P.preset, st.sampled_from(list(PresetAction)), PRESET),
    st.builds(P.cruise_add, GROUP, PRESET),
    st.builds(P.cruise_remove, GROUP, st.integers(0, 255)),
    st.builds(P.cruise_speed, GROUP, VALUE),
    st.builds(P.cruise_dwell, GROUP, VALUE),
    st.builds(P.cruise_start, GROUP),
    st.builds(P.scan_start, GROUP),
    st.builds(P.scan_limit, GROUP, st.sampled_from(["left", "right"])),
    st.builds(P.scan_speed, GROUP, VALUE),
    st.builds(P.aux, GROUP, st.booleans()),
)


@given(COMMANDS)
def test_encode_decode_round_trip(command: PtzCommand) -> None:
    text = command.encode()
    assert len(text) == 16 and text == text.upper()
    assert decode(text) == command


@given(COMMANDS, st.integers(0, 7), st.integers(1, 255))
def test_any_corrupted_byte_is_detected_or_still_valid(
    command: PtzCommand, index: int, delta: int
) -> None:
    raw = bytearray(command.to_bytes())
    raw[index] = (raw[index] + delta) % 256
    # A single changed byte always breaks the sum, and byte 1/2 have their own checks.
    with pytest.raises(InvalidPtzCommand):
        PtzCommand.from_bytes(bytes(raw))


@given(st.binary(min_size=8, max_size=8))
def test_arbitrary_bytes_decode_or_raise_only_invalid_ptz(raw: bytes) -> None:
    try:
        cmd = PtzCommand.from_bytes(raw)
    except InvalidPtzCommand:
        return
    # Whatever decodes re-encodes to a valid command with the same kind and checksum rule.
    again = cmd.to_bytes()
    assert again[7] == sum(again[:7]) % 256
    assert PtzCommand.from_bytes(again) == cmd


ONE_PER_KIND = [
    P.stop(),
    P.move(1, -1),
    P.zoom(-1),
    P.fi_stop(),
    P.focus(1),
    P.iris(1),
    P.preset("set", 3),
    P.preset("call", 3),
    P.preset("delete", 3),
    P.cruise_add(1, 3),
    P.cruise_remove(1, 3),
    P.cruise_speed(1, 100),
    P.cruise_dwell(1, 10),
    P.cruise_start(1),
    P.scan_start(1),
    P.scan_limit(1, "left"),
    P.scan_limit(1, "right"),
    P.scan_speed(1, 100),
    P.aux(1, on=True),
    P.aux(1, on=False),
]


def test_constructors_reach_every_kind_and_round_trip() -> None:
    assert {cmd.kind for cmd in ONE_PER_KIND} == set(PtzKind)
    for cmd in ONE_PER_KIND:
        assert decode(cmd.encode()) == cmd
