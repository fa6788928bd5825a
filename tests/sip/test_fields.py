"""Typed header fields: Via, CSeq, NameAddr and the parameter helpers."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.sip.errors import SipParseError
from sightline.sip.fields import (
    CSeq,
    NameAddr,
    Via,
    format_params,
    get_param,
    parse_params,
    set_param,
    split_host_port,
)

# --- Via -----------------------------------------------------------------------------------------


def test_via_with_port_and_params() -> None:
    via = Via.parse("SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1")
    assert (via.protocol, via.transport, via.host, via.port) == (
        "SIP/2.0",
        "UDP",
        "192.168.1.64",
        5060,
    )
    assert via.branch == "z9hG4bK1"
    assert via.param("RPORT") == ""
    assert via.param("received") is None
    assert str(via) == "SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1"


@pytest.mark.parametrize(
    "text",
    [
        "SIP / 2.0 / UDP host.example.com;branch=z9hG4bK1",
        "SIP/2.0/UDP\thost.example.com;branch=z9hG4bK1",
        "  sip/2.0/udp   host.example.com ; branch = z9hG4bK1  ",
        "SIP  /   2.0 /UDP    host.example.com;branch=z9hG4bK1",
    ],
)
def test_via_lws_anywhere_the_grammar_allows(text: str) -> None:
    via = Via.parse(text)
    assert (via.protocol, via.transport, via.host, via.branch) == (
        "SIP/2.0",
        "UDP",
        "host.example.com",
        "z9hG4bK1",
    )


def test_via_sent_by_with_spaces_around_the_colon() -> None:
    via = Via.parse("SIP/2.0/TCP host.example.com : 5070;branch=z9hG4bK1")
    assert (via.host, via.port) == ("host.example.com", 5070)


def test_via_ipv6_sent_by_and_received() -> None:
    via = Via.parse("SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3;received=2001:db8::9:255")
    assert (via.host, via.port) == ("[2001:db8::9:1]", 5060)
    assert via.param("received") == "2001:db8::9:255"
    bare = Via.parse("SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3")
    assert (bare.host, bare.port) == ("[2001:db8::9:1]", None)


def test_via_with_param_adds_received_and_rport() -> None:
    via = Via.parse("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1")
    stamped = via.with_param("rport", "40123").with_param("received", "127.0.0.5")
    assert (
        str(stamped) == "SIP/2.0/UDP 10.0.0.1:5060;rport=40123;branch=z9hG4bK1;received=127.0.0.5"
    )
    assert via.param("rport") == ""  # frozen: the original is unchanged


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 host",
        "SIP/2.0/UDP/X host",
        "SIP/2.0/U(DP host",
        "SIP/2.0/UDP host:0",
        "SIP/2.0/UDP host:65536",
        "SIP/2.0/UDP host:５０６０",
        "SIP/2.0/UDP host:abc",
        "SIP/2.0/UDP [2001:db8::1",
        "SIP/2.0/UDP [2001:db8::1]x",
        "SIP/2.0/UDP <host>",
        "SIP/2.0/UDP host;branch=a b",
        "SIP/2.0/UDP host;bad name=1",
        'SIP/2.0/UDP host;x="unterminated',
    ],
)
def test_malformed_via_raises(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


# --- CSeq -------------------------------------------------------------------------------------


def test_cseq_parse_and_str() -> None:
    assert CSeq.parse(" 0009\t INVITE ") == CSeq(9, "INVITE")
    assert str(CSeq(2**31 - 1, "REGISTER")) == "2147483647 REGISTER"


@pytest.mark.parametrize(
    "text",
    ["", "1", "INVITE", "1 INVITE x", "-1 INVITE", "2147483648 INVITE", "١ INVITE", "1 IN(VITE"],
)
def test_malformed_cseq_raises(text: str) -> None:
    with pytest.raises(SipParseError):
        CSeq.parse(text)


# --- NameAddr ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        ("<sip:a@example.com>;tag=1", None, "sip:a@example.com", (("tag", "1"),)),
        ('"Alice" <sip:a@example.com>', '"Alice"', "sip:a@example.com", ()),
        ("Alice Smith <sip:a@example.com>", "Alice Smith", "sip:a@example.com", ()),
        (
            "caller<sip:caller@example.com>;tag=323",
            "caller",
            "sip:caller@example.com",
            (("tag", "323"),),
        ),
        ('"a \\"quoted\\" <name>" <sip:a@b>', '"a \\"quoted\\" <name>"', "sip:a@b", ()),
        ("sip:a@example.com;tag=9", None, "sip:a@example.com", (("tag", "9"),)),
        ("<sip:a@b;lr>;expires=60;q=0.5", None, "sip:a@b;lr", (("expires", "60"), ("q", "0.5"))),
        ("<sip:[2001:db8::1]:5060>", None, "sip:[2001:db8::1]:5060", ()),
        ("isbn:2983792873", None, "isbn:2983792873", ()),
        ("*", None, "*", ()),
    ],
)
def test_name_addr_forms(
    text: str, display: str | None, uri: str, params: tuple[tuple[str, str], ...]
) -> None:
    address = NameAddr.parse(text)
    assert (address.display_name, address.uri, address.params) == (display, uri, params)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<sip:a@b",
        "<>",
        "< sip:a@b >",  # RFC 4475 badaspec
        "Bell, Alexander <sip:a@b>",  # baddn
        '"Mr. J. User <sip:j.user@example.com>',  # quotbal
        "sip:a@b?Route=x",  # regbadct: needs <...>
        "sip:a@b, sip:c@d",
        "<sip:a@b> junk",
        "<sip:a@b>;tag=1, <sip:c@d>",
        '"one" "two" <sip:a@b>',
        "a@b c",
    ],
)
def test_malformed_name_addr_raises(text: str) -> None:
    with pytest.raises(SipParseError):
        NameAddr.parse(text)


def test_name_addr_tag_and_with_param() -> None:
    address = NameAddr.parse('"Bob" <sip:b@example.com>')
    assert address.tag is None
    tagged = address.with_param("tag", "xyz")
    assert tagged.tag == "xyz"
    assert str(tagged) == '"Bob" <sip:b@example.com>;tag=xyz'
    assert tagged.param("TAG") == "xyz"


# --- parameters and host:port -------------------------------------------------------------------


def test_params_keep_order_quotes_and_flags() -> None:
    params = parse_params(';a=1;flag;b="x;y, z"; c = 3 ')
    assert params == (("a", "1"), ("flag", None), ("b", '"x;y, z"'), ("c", "3"))
    assert format_params(params) == ';a=1;flag;b="x;y, z";c=3'
    assert get_param(params, "FLAG") == ""
    assert get_param(params, "missing") is None
    assert set_param(params, "A", "2")[0] == ("a", "2")  # replaced in place, name kept
    assert set_param(params, "d", None)[-1] == ("d", None)


def test_params_tolerate_empty_segments() -> None:
    # ";;" is outside the grammar but harmless; only real junk is rejected
    assert parse_params("a=1;;b") == (("a", "1"), ("b", None))


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("example.com", "example.com", None),
        ("example.com:5060", "example.com", 5060),
        (" 10.0.0.1 : 5060 ", "10.0.0.1", 5060),
        ("[::1]", "[::1]", None),
        ("[::1] : 5070", "[::1]", 5070),
    ],
)
def test_split_host_port(text: str, host: str, port: int | None) -> None:
    assert split_host_port(text) == (host, port)


# --- properties --------------------------------------------------------------------------------

_tokens = st.text(string.ascii_letters + string.digits + "-.!%*_+`'~", min_size=1, max_size=8)
_hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.from_regex(r"[a-z][a-z0-9\-]{0,8}(\.[a-z]{2,4}){0,2}", fullmatch=True),
)
_params = st.lists(st.tuples(_tokens, st.none() | _tokens), max_size=4).map(tuple)


@given(_tokens, _hosts, st.none() | st.integers(1, 65535), _params)
def test_via_str_then_parse_is_identity(
    transport: str, host: str, port: int | None, params: tuple[tuple[str, str | None], ...]
) -> None:
    via = Via(transport.upper(), host, port, params)
    assert Via.parse(str(via)) == via


@given(st.none() | st.sampled_from(['"Alice"', "Bob", '"\\"q\\" <x>"']), _hosts, _params)
def test_name_addr_str_then_parse_is_identity(
    display: str | None, host: str, params: tuple[tuple[str, str | None], ...]
) -> None:
    address = NameAddr(f"sip:user@{host}", display, params)
    assert NameAddr.parse(str(address)) == address


@given(st.text(max_size=60))
def test_arbitrary_text_parses_to_a_stable_form_or_raises_a_parse_error(text: str) -> None:
    try:
        via = Via.parse(text)
    except SipParseError:
        pass
    else:
        assert Via.parse(str(via)) == via
    try:
        address = NameAddr.parse(text)
    except SipParseError:
        pass
    else:
        assert NameAddr.parse(str(address)) == address
    try:
        cseq = CSeq.parse(text)
    except SipParseError:
        pass
    else:
        assert CSeq.parse(str(cseq)) == cseq


# --- memoized parsing ----------------------------------------------------------------------------


def test_parses_are_memoized_by_text_and_errors_are_not() -> None:
    text = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKmemo"
    assert Via.parse(text) is Via.parse(text)
    assert Via.parse(text) == Via._parse(text)
    assert NameAddr.parse("<sip:a@b>;tag=1") is NameAddr.parse("<sip:a@b>;tag=1")
    assert CSeq.parse("7 REGISTER") is CSeq.parse("7 REGISTER")
    for _ in range(2):  # a bad value raises every time, it is never remembered as good
        with pytest.raises(SipParseError):
            Via.parse("SIP/2.0/UDP")


def test_memo_stays_bounded_under_distinct_texts() -> None:
    from sightline.sip import fields

    for i in range(5000):
        Via.parse(f"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{i}")
    assert len(fields._VIAS._values) <= fields._PARSE_CACHE_SIZE
    latest = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK4999"
    assert Via.parse(latest).branch == "z9hG4bK4999"


def test_subclasses_parse_to_their_own_type() -> None:
    class Hop(Via):
        pass

    hop = Hop.parse("SIP/2.0/TCP h;branch=z9hG4bKsub")
    assert type(hop) is Hop
    assert type(hop.with_param("received", "192.0.2.1")) is Hop
    assert type(Via.parse("SIP/2.0/TCP h;branch=z9hG4bKsub")) is Via
