"""Tests for administrative-division code helpers and the region tree."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.civil import (
    CivilLevel,
    ancestors,
    build_region_tree,
    canonical,
    is_civil_code,
    level,
    parent_code,
)
from sightline.gb28181.errors import InvalidCivilCode


@pytest.mark.parametrize(
    ("code", "parent", "lvl"),
    [
        ("34", None, CivilLevel.PROVINCE),
        ("3402", "34", CivilLevel.CITY),
        ("340202", "3402", CivilLevel.COUNTY),
        ("34020201", "340202", CivilLevel.TOWNSHIP),
        ("340200", "34", CivilLevel.CITY),  # padded city
        ("34020000", "34", CivilLevel.CITY),
        ("340000", None, CivilLevel.PROVINCE),
    ],
)
def test_parent_and_level(code: str, parent: str | None, lvl: CivilLevel) -> None:
    assert parent_code(code) == parent
    assert level(code) is lvl


def test_ancestors_are_province_first() -> None:
    assert ancestors("34020201") == ("34", "3402", "340202")
    assert ancestors("340202") == ("34", "3402")
    assert ancestors("34") == ()


@pytest.mark.parametrize(
    "bad", ["", "3", "340", "34a2", "0012", "3402020100", "CivilCode", "00", "340002", "34000201"]
)
def test_invalid_codes_raise(bad: str) -> None:
    assert not is_civil_code(bad)
    with pytest.raises(InvalidCivilCode):
        canonical(bad)
    with pytest.raises(InvalidCivilCode):
        parent_code(bad)


def test_canonical_strips_padding_only() -> None:
    assert canonical("34020000") == "3402"
    assert canonical(" 340202 ") == "340202"
    assert canonical("34000000") == "34"


def test_tree_adds_implicit_ancestors_and_places_channels() -> None:
    tree = build_region_tree(
        ["3402", "340202", "4403"],
        {
            "34020000001320000001": "340202",
            "34020000001320000002": "34020201",
            "34020000001320000003": "340200",  # padded: the city itself
            "34020000001320000004": "CivilCode",  # vendor placeholder
            "34020000001320000005": None,
        },
    )
    assert [n.code for n in tree.roots] == ["34", "44"]
    assert [n.code for n in tree.walk()] == ["34", "3402", "340202", "34020201", "44", "4403"]
    province = tree.find("34")
    assert province is not None and not province.explicit
    city = tree.find("340200")
    assert city is not None and city.explicit and city.level is CivilLevel.CITY
    assert city.channels == ("34020000001320000003",)
    county = tree.find("340202")
    assert county is not None
    assert county.channels == ("34020000001320000001",)
    assert [c.code for c in county.children] == ["34020201"]
    assert county.children[0].channels == ("34020000001320000002",)
    assert not county.children[0].explicit
    assert tree.unplaced == ("34020000001320000004", "34020000001320000005")
    assert tree.find("5000") is None
    assert tree.find("garbage") is None


def test_tree_rejects_invalid_area_codes() -> None:
    with pytest.raises(InvalidCivilCode):
        build_region_tree(["34", "3x"])


CODES = st.lists(
    st.integers(min_value=1, max_value=4)
    .flatmap(lambda n: st.text("0123456789", min_size=2 * n, max_size=2 * n))
    .filter(is_civil_code),
    max_size=25,
)


@given(CODES)
def test_tree_contains_every_code_and_its_ancestors_once(codes: list[str]) -> None:
    tree = build_region_tree(codes)
    seen = [node.code for node in tree.walk()]
    assert len(seen) == len(set(seen))
    expected = {canonical(c) for c in codes}
    for code in list(expected):
        expected.update(ancestors(code))
    assert set(seen) == expected
    for node in tree.walk():
        for child in node.children:
            assert parent_code(child.code) == node.code
