"""The Headers multi-map, canonical names and comma-list splitting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.sip.headers import COMPACT_FORMS, Headers, canonical_name, split_list


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("v", "Via"),
        ("V", "Via"),
        ("i", "Call-ID"),
        ("l", "Content-Length"),
        ("m", "Contact"),
        ("call-id", "Call-ID"),
        ("CSEQ", "CSeq"),
        ("www-authenticate", "WWW-Authenticate"),
        ("max-forwards", "Max-Forwards"),
        ("x-gb-ver", "X-GB-Ver"),
        ("NewFangledHeader", "Newfangledheader"),
        (" Subject ", "Subject"),
    ],
)
def test_canonical_names(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical


def test_every_compact_form_is_its_long_name() -> None:
    for short, long in COMPACT_FORMS.items():
        assert canonical_name(short.upper()) == long == canonical_name(long.lower())


def _headers() -> Headers:
    return Headers(
        [
            ("v", "SIP/2.0/UDP a;branch=z9hG4bK1"),
            ("From", "<sip:a@b>;tag=1"),
            ("VIA", "SIP/2.0/UDP b;branch=z9hG4bK2, SIP/2.0/UDP c;branch=z9hG4bK3"),
            ("Call-ID", "x"),
        ]
    )


def test_lookups_ignore_case_and_compact_forms() -> None:
    headers = _headers()
    assert headers.get("via") == headers.get("V") == "SIP/2.0/UDP a;branch=z9hG4bK1"
    assert headers.get_all("Via") == [
        "SIP/2.0/UDP a;branch=z9hG4bK1",
        "SIP/2.0/UDP b;branch=z9hG4bK2, SIP/2.0/UDP c;branch=z9hG4bK3",
    ]
    assert len(headers.get_list("v")) == 3
    assert headers.get("Contact") is None
    assert headers.get("Contact", "none") == "none"
    assert "i" in headers and "m" not in headers
    assert 42 not in headers


def test_add_prepend_set_remove() -> None:
    headers = _headers()
    headers.prepend("Via", "SIP/2.0/UDP top;branch=z9hG4bK0")
    assert headers.items()[0] == ("Via", "SIP/2.0/UDP top;branch=z9hG4bK0")
    assert headers.remove_first("v") == "SIP/2.0/UDP top;branch=z9hG4bK0"
    assert headers.remove_first("Contact") is None
    headers.set("via", "SIP/2.0/UDP only;branch=z9hG4bK9")
    assert headers.get_all("Via") == ["SIP/2.0/UDP only;branch=z9hG4bK9"]
    assert headers.items()[0][0] == "Via"  # kept at the first one's position
    headers.set("Expires", "60")
    assert headers.items()[-1] == ("Expires", "60")
    headers.add("m", "<sip:a@b>")
    headers.remove("Contact")
    assert "Contact" not in headers
    assert len(headers) == 4


def test_copy_is_independent_and_equality_is_by_content() -> None:
    headers = _headers()
    copy = headers.copy()
    assert copy == headers
    copy.add("Subject", "x")
    assert copy != headers
    assert headers != [("Via", "x")]
    assert list(headers) == headers.items()
    assert "Via" in repr(headers)


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("", []),
        ("  ", []),
        ("a", ["a"]),
        (" a , b ,, c ", ["a", "b", "c"]),
        ('"Doe, John" <sip:j@d>, <sip:k@d>', ['"Doe, John" <sip:j@d>', "<sip:k@d>"]),
        ("<sip:a@b;x=1,2>, <sip:c@d>", ["<sip:a@b;x=1,2>", "<sip:c@d>"]),
        ('"a \\", b" <sip:a@b>, x', ['"a \\", b" <sip:a@b>', "x"]),
    ],
)
def test_split_list(value: str, parts: list[str]) -> None:
    assert split_list(value) == parts


_elements = st.text(
    st.characters(exclude_characters=',"<>\\', exclude_categories=["Cs"]), min_size=1, max_size=10
).filter(lambda t: t.strip() != "")


@given(st.lists(_elements, max_size=5))
def test_split_list_undoes_a_comma_join(elements: list[str]) -> None:
    assert split_list(", ".join(elements)) == [e.strip() for e in elements]


@given(st.lists(st.tuples(st.sampled_from(["v", "Via", "i", "X-A", "x-a"]), st.text(max_size=5))))
def test_get_all_sees_every_spelling(items: list[tuple[str, str]]) -> None:
    headers = Headers(items)
    for name in ("Via", "Call-ID", "X-A"):
        expected = [v for n, v in items if canonical_name(n) == name]
        assert headers.get_all(name.lower()) == expected


def _reference_set(items: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    """Headers.set as first written: replace the first, drop the later ones, else append."""
    key = canonical_name(name)
    names = [n for n, _ in items]
    if key not in names:
        return [*items, (key, value)]
    first = names.index(key)
    return [
        (key, value) if i == first else item
        for i, item in enumerate(items)
        if i <= first or item[0] != key
    ]


_NAMES = st.sampled_from(["Via", "v", "To", "X-A", "x-a", "CSeq"])


@given(st.lists(st.tuples(_NAMES, st.text(max_size=3))), _NAMES, st.text(max_size=3))
def test_set_keeps_its_meaning(items: list[tuple[str, str]], name: str, value: str) -> None:
    headers = Headers(items)
    expected = _reference_set(headers.items(), name, value)
    headers.set(name, value)
    assert headers.items() == expected


def test_from_canonical_wraps_without_renaming_and_replace_first() -> None:
    items = [("Via", "a"), ("Via", "b"), ("To", "t")]
    headers = Headers.from_canonical(items)
    assert headers.get_all("v") == ["a", "b"]
    assert headers == Headers([("v", "a"), ("via", "b"), ("t", "t")])
    assert headers.replace_first("VIA", "a2")
    assert headers.get_all("Via") == ["a2", "b"]
    assert not headers.replace_first("Contact", "c")
    assert "Contact" not in headers
