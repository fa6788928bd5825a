"""Tests for the 20-digit GB/T 28181 ID."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.errors import SightlineError
from sightline.gb28181.errors import Gb28181Error, InvalidGbId
from sightline.gb28181.ids import DeviceType, GbId, domain_of, is_area_code

DIGITS = st.text(alphabet="0123456789", min_size=20, max_size=20)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("3402000000132000000", "19 digits"),
        ("340200000013200000011", "21 digits"),
        ("34020000001320000a01", "a letter"),
        ("3402000000132000000１", "a full-width digit"),
        ("3402000000132000000٣", "an Arabic-Indic digit"),
        ("34020000-01320000001", "a dash"),
        ("340200000013200001", "18-digit rule B code (deleted in 2022)"),
        ("3402 000000132000001", "inner space"),
    ],
)
def test_invalid_ids_are_rejected_with_a_clear_message(text: str, reason: str) -> None:
    with pytest.raises(InvalidGbId, match="20 ASCII digits"):
        GbId.parse(text)


def test_invalid_id_error_is_in_the_tree() -> None:
    with pytest.raises(InvalidGbId) as info:
        GbId.parse("nope")
    assert isinstance(info.value, Gb28181Error)
    assert isinstance(info.value, SightlineError)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidGbId, match="string"):
        GbId.parse(34020000001320000001)  # type: ignore[arg-type]


def test_surrounding_whitespace_is_ignored() -> None:
    assert str(GbId.parse("  34020000001320000001\t")) == "34020000001320000001"


def test_fields_of_a_camera_id() -> None:
    gb = GbId.parse("34020000001320000001")
    assert gb.center_code == "34020000"
    assert (gb.province, gb.city, gb.district, gb.grassroots) == ("34", "02", "00", "00")
    assert gb.industry_code == "00"
    assert gb.type_code == 132
    assert gb.device_type is DeviceType.IPC
    assert gb.network_flag == 0
    assert gb.serial == "000001"
    assert gb.domain == "3402000000"


def test_fields_of_a_platform_id_with_every_digit_distinct() -> None:
    gb = GbId.parse("11010512042007654321")
    assert (gb.province, gb.city, gb.district, gb.grassroots) == ("11", "01", "05", "12")
    assert gb.industry_code == "04"
    assert gb.type_code == 200
    assert gb.network_flag == 7
    assert gb.serial == "654321"


@pytest.mark.parametrize(
    ("type_code", "expected"),
    [
        (111, DeviceType.DVR),
        (118, DeviceType.NVR),
        (131, DeviceType.CAMERA),
        (132, DeviceType.IPC),
        (134, DeviceType.ALARM_INPUT),
        (137, DeviceType.VOICE_OUTPUT),
        (200, DeviceType.PLATFORM),
        (202, DeviceType.MEDIA_DISTRIBUTION_SERVER),
        (215, DeviceType.BUSINESS_GROUP),
        (216, DeviceType.VIRTUAL_ORGANISATION),
        (119, None),
        (999, None),
    ],
)
def test_device_type_lookup(type_code: int, expected: DeviceType | None) -> None:
    gb = GbId.parse(f"3402000000{type_code:03d}0000001")
    assert gb.device_type is expected


#                    type  device channel platform group   vorg
PREDICATES = [
    (111, True, True, False, False, False),
    (118, True, True, False, False, False),
    (130, True, True, False, False, False),
    (131, False, True, False, False, False),
    (132, False, True, False, False, False),
    (134, False, True, False, False, False),
    (199, False, True, False, False, False),
    (110, False, False, False, False, False),
    (200, False, False, True, False, False),
    (215, False, False, False, True, False),
    (216, False, False, False, False, True),
    (300, False, False, False, False, False),
]


@pytest.mark.parametrize("row", PREDICATES, ids=lambda row: str(row[0]))
def test_predicates(row: tuple[int, bool, bool, bool, bool, bool]) -> None:
    type_code, *expected = row
    gb = GbId.parse(f"3402000000{type_code:03d}0000001")
    predicates = [
        gb.is_device,
        gb.is_channel_like,
        gb.is_platform,
        gb.is_business_group,
        gb.is_virtual_org,
    ]
    assert predicates == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("34", True),
        ("3402", True),
        ("340202", True),
        ("34020201", True),
        ("3", False),
        ("340", False),
        ("3402020", False),
        ("3402020100", False),
        ("34020000001320000001", False),
        ("34a2", False),
        ("", False),
    ],
)
def test_is_area_code(text: str, expected: bool) -> None:
    assert is_area_code(text) is expected


def test_domain_of_accepts_text_and_ids() -> None:
    assert domain_of("34020000002000000001") == "3402000000"
    assert domain_of(GbId.parse("44030500001180000009")) == "4403050000"
    with pytest.raises(InvalidGbId):
        domain_of("3402000000")


@given(DIGITS)
def test_any_twenty_digits_parse_and_print_back(text: str) -> None:
    gb = GbId.parse(text)
    assert str(gb) == text
    assert gb.center_code + gb.industry_code + f"{gb.type_code:03d}" == text[:13]
    assert f"{gb.network_flag}{gb.serial}" == text[13:]


@given(st.text(max_size=30))
def test_other_strings_raise_only_invalid_gb_id(text: str) -> None:
    stripped = text.strip()
    if len(stripped) == 20 and stripped.isascii() and stripped.isdigit():
        assert str(GbId.parse(text)) == stripped
    else:
        with pytest.raises(InvalidGbId):
            GbId.parse(text)
