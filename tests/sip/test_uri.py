"""SIP/SIPS URIs and other absolute URIs (RFC 3261 §19.1, RFC 5118)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.sip.errors import SipParseError
from sightline.sip.uri import AbsoluteUri, SipUri, parse_any_uri


def test_gb28181_device_uri() -> None:
    uri = SipUri.parse("sip:34020000001320000001@192.168.1.64:5060")
    assert uri == SipUri("sip", "34020000001320000001", None, "192.168.1.64", 5060)
    assert str(uri) == "sip:34020000001320000001@192.168.1.64:5060"


def test_scheme_is_case_insensitive_and_lowered() -> None:
    uri = SipUri.parse("SIPS:alice@Example.COM")
    assert uri.scheme == "sips"
    assert uri.host == "Example.COM"  # the host keeps its spelling


def test_parameters_keep_order_and_flags() -> None:
    uri = SipUri.parse("sip:proxy.example.com;lr;transport=tcp;maddr=239.255.255.1")
    assert uri.user is None
    assert uri.params == (("lr", None), ("transport", "tcp"), ("maddr", "239.255.255.1"))
    assert uri.param("LR") == ""
    assert uri.param("Transport") == "tcp"
    assert uri.param("ttl") is None
    assert str(uri) == "sip:proxy.example.com;lr;transport=tcp;maddr=239.255.255.1"


def test_user_parameter_and_password() -> None:
    uri = SipUri.parse("sip:+1-212-555-1212:1234@gateway.com;user=phone")
    assert (uri.user, uri.password, uri.param("user")) == ("+1-212-555-1212", "1234", "phone")


def test_headers_are_unescaped() -> None:
    uri = SipUri.parse("sip:bob@example.com?subject=project%20x&priority=urgent&empty=")
    assert uri.headers == (("subject", "project x"), ("priority", "urgent"), ("empty", ""))
    assert str(uri) == "sip:bob@example.com?subject=project%20x&priority=urgent&empty="


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "[2001:db8::10]", None),
        ("sip:alice@[2001:db8::10]:5070;transport=tcp", "[2001:db8::10]", 5070),
        ("sip:[::ffff:192.0.2.1]:5060", "[::ffff:192.0.2.1]", 5060),
        ("sips:[2001:db8:0:0:0:0:0:10]", "[2001:db8:0:0:0:0:0:10]", None),
    ],
)
def test_ipv6_references_keep_brackets(text: str, host: str, port: int | None) -> None:
    uri = SipUri.parse(text)
    assert (uri.host, uri.port) == (host, port)
    assert str(uri) == text


@pytest.mark.parametrize(
    "text",
    [
        "sip:",
        "sip:@example.com",
        "sip:alice@",
        "sip:alice@example.com:",
        "sip:alice@example.com:0",
        "sip:alice@example.com:65536",
        "sip:alice@example.com:5o60",
        "sip:alice@exa mple.com",
        "sip:al ice@example.com",
        "sip:alice@example.com;",
        "sip:alice@example.com;a=",
        "sip:alice@example.com;a=b c",
        "sip:alice@example.com?",
        "sip:alice@example.com?noequals",
        "sip:alice%4@example.com",
        "sip:alice%ZZ@example.com",
        "sip:[2001:db8::10",
        "sip:[2001:db8::zz]",
        "sip:[fe80::1%25eth0]",
        "sip:[2001:db8::10]x",
        "sip:<alice@example.com>",
        "sip:alice@example.com>",
        "tel:+1234",
        "alice@example.com",
    ],
)
def test_malformed_sip_uris_raise(text: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(text)


def test_escaped_characters_compare_equal_to_literal_ones() -> None:
    assert SipUri.parse("sip:%61lice@example.com") == SipUri.parse("sip:alice@example.com")
    uri = SipUri.parse("sip:I%20have%20spaces@example.net")
    assert uri.user == "I have spaces"
    assert str(uri) == "sip:I%20have%20spaces@example.net"


def test_non_utf8_escapes_survive() -> None:
    uri = SipUri.parse("sip:%C9%E3%CF%F1%BB%FA@example.com")  # GB2312 bytes
    assert str(uri) == "sip:%C9%E3%CF%F1%BB%FA@example.com"


def test_with_param_replaces_or_appends() -> None:
    uri = SipUri.parse("sip:alice@example.com;transport=udp")
    assert str(uri.with_param("transport", "tcp")) == "sip:alice@example.com;transport=tcp"
    assert str(uri.with_param("lr", None)) == "sip:alice@example.com;transport=udp;lr"


@pytest.mark.parametrize(
    ("text", "scheme", "rest"),
    [
        ("tel:+86-10-1234-5678", "tel", "+86-10-1234-5678"),
        ("http://www.example.com/a?b=c", "http", "//www.example.com/a?b=c"),
        (
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "urn",
            "uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        ),
        (
            "nobodyKnowsThisScheme:totallyopaquecontent",
            "nobodyknowsthisscheme",
            "totallyopaquecontent",
        ),
        ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),
    ],
)
def test_other_schemes_are_absolute_uris(text: str, scheme: str, rest: str) -> None:
    parsed = parse_any_uri(text)
    assert parsed == AbsoluteUri(scheme, rest)
    assert str(parsed).lower() == text.lower()


def test_parse_any_uri_parses_sip_fully() -> None:
    assert parse_any_uri("sip:alice@example.com") == SipUri.parse("sip:alice@example.com")
    with pytest.raises(SipParseError):
        parse_any_uri("sip:alice@exa mple.com")


@pytest.mark.parametrize(
    "text",
    ["", "nocolon", ":rest", "1tel:123", "<sip:a@b>", "tel:", "tel:a b", 'tel:"x"', "tel:<1>"],
)
def test_malformed_absolute_uris_raise(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_any_uri(text)


# --- properties ---------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_nonempty = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
_label = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
_hosts = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    """Arbitrary SipUri values, including characters that need escaping."""
    user = draw(st.none() | _nonempty)
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=None if user is None else draw(st.none() | _text),
        host=draw(_hosts),
        port=draw(st.none() | st.integers(1, 65535)),
        params=tuple(draw(st.lists(st.tuples(_nonempty, st.none() | _nonempty), max_size=3))),
        headers=tuple(draw(st.lists(st.tuples(_nonempty, _text), max_size=3))),
    )


@given(sip_uris())
def test_str_then_parse_gives_the_same_uri(uri: SipUri) -> None:
    assert SipUri.parse(str(uri)) == uri
    assert parse_any_uri(str(uri)) == uri


@given(st.text(max_size=60))
def test_arbitrary_text_raises_only_parse_errors(text: str) -> None:
    try:
        parsed = parse_any_uri(text)
    except SipParseError:
        return
    assert parse_any_uri(str(parsed)) == parsed


@given(st.text(string.printable, max_size=40).map(lambda t: "sip:" + t))
def test_sip_like_text_raises_only_parse_errors_and_round_trips(text: str) -> None:
    try:
        uri = SipUri.parse(text)
    except SipParseError:
        return
    assert SipUri.parse(str(uri)) == uri
