"""parse_message, serialize and error_response (RFC 3261 §7, §18.3, §25)."""

from __future__ import annotations

import importlib.util
import string
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.sip.errors import MessageTooLarge, SipParseError, VersionNotSupported
from sightline.sip.headers import Headers, canonical_name
from sightline.sip.message import Request, Response
from sightline.sip.parser import (
    DEFAULT_LIMITS,
    Limits,
    error_response,
    is_keepalive,
    parse_message,
    serialize,
)
from tests.sip.test_uri import sip_uris

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"

REGISTER = (
    "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1371463273\r\n"
    "From: <sip:34020000001320000001@3402000000>;tag=2043466181\r\n"
    "To: <sip:34020000001320000001@3402000000>\r\n"
    "Call-ID: 1011047669\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n"
    "Max-Forwards: 70\r\n"
    "Expires: 3600\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)
CORE = (
    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n"
    "From: <sip:a@example.com>;tag=1\r\n"
    "To: <sip:b@example.com>\r\n"
    "Call-ID: c1\r\n"
)


def _request(
    *lines: str, start: str = "OPTIONS sip:b@example.com SIP/2.0", body: str = ""
) -> bytes:
    """A request with the core fields, the given extra lines and body."""
    extra = "".join(f"{line}\r\n" for line in lines)
    method = start.split(" ", maxsplit=1)[0]
    return f"{start}\r\n{CORE}CSeq: 1 {method}\r\n{extra}\r\n{body}".encode()


def _raises(data: bytes, status: int = 400, limits: Limits = DEFAULT_LIMITS) -> SipParseError:
    with pytest.raises(SipParseError) as info:
        parse_message(data, limits)
    assert info.value.status == status
    return info.value


# --- accepted syntax -----------------------------------------------------------------------


def test_register_parses_into_typed_fields() -> None:
    message = parse_message(REGISTER.encode())
    assert isinstance(message, Request)
    assert (message.method, message.uri, message.version) == (
        "REGISTER",
        "sip:34020000002000000001@3402000000",
        "SIP/2.0",
    )
    assert message.top_via.host == "192.168.1.64"
    assert message.top_via.param("rport") == ""
    assert message.from_.tag == "2043466181"
    assert message.to.tag is None
    assert message.call_id == "1011047669"
    assert (message.cseq.number, message.cseq.method) == (1, "REGISTER")
    assert message.headers.get("Expires") == "3600"
    assert message.body == b""


def test_compact_forms_and_any_case_give_long_names() -> None:
    data = (
        b"INVITE sip:b@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n"
        b"F: <sip:a@example.com>;tag=1\r\n"
        b"t: <sip:b@example.com>\r\n"
        b"I: c1\r\n"
        b"cseq: 1 INVITE\r\n"
        b"m: <sip:a@10.0.0.1>\r\n"
        b"c: application/sdp\r\n"
        b"k: timer\r\n"
        b"s: hello\r\n"
        b"mAx-FoRwArDs: 70\r\n"
        b"L: 4\r\n"
        b"\r\n"
        b"v=0\r\n"
    )
    message = parse_message(data)
    assert [name for name, _ in message.headers] == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Content-Type",
        "Supported",
        "Subject",
        "Max-Forwards",
        "Content-Length",
    ]
    assert message.content_type == "application/sdp"
    assert message.body == b"v=0\r"
    assert b"\r\nContent-Type: application/sdp\r\n" in serialize(message)


def test_folded_lines_join_with_one_space() -> None:
    data = _request(
        "Subject: first",
        "   second\t",
        "\tthird",
        "Contact:",
        "  <sip:a@10.0.0.1>",
    )
    message = parse_message(data)
    assert message.headers.get("Subject") == "first second third"
    assert message.headers.get("Contact") == "<sip:a@10.0.0.1>"


def test_folding_inside_core_fields() -> None:
    data = (
        b"OPTIONS sip:b@example.com SIP/2.0\r\n"
        b"Via: SIP / 2.0\r\n /UDP\r\n    10.0.0.1;branch=z9hG4bKx\r\n"
        b"From: <sip:a@example.com>\r\n ;tag=1\r\n"
        b"To: <sip:b@example.com>\r\nCall-ID: c1\r\nCSeq: 0009\r\n  OPTIONS\r\n\r\n"
    )
    message = parse_message(data)
    assert message.top_via.transport == "UDP"
    assert message.from_.tag == "1"
    assert message.cseq.number == 9


def test_tabs_count_as_whitespace() -> None:
    data = (
        b"OPTIONS sip:b@example.com SIP/2.0\r\n"
        b"Via:\tSIP/2.0/UDP\t10.0.0.1;branch=z9hG4bKx\r\n"
        b"From\t:\t<sip:a@example.com>;tag=1\r\n"
        b"To:<sip:b@example.com>\r\nCall-ID: c1\r\nCSeq:\t1\tOPTIONS\r\n\r\n"
    )
    message = parse_message(data)
    assert message.top_via.host == "10.0.0.1"
    assert message.headers.get("From") == "<sip:a@example.com>;tag=1"
    assert message.cseq.method == "OPTIONS"


def test_several_lines_and_comma_joined_values() -> None:
    data = (
        b"OPTIONS sip:b@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1, SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK2\r\n"
        b"Via: SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bK3;received=2001:db8::9:255\r\n"
        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c1\r\n"
        b"CSeq: 1 OPTIONS\r\n"
        b'Accept: application/sdp, text/plain;q="0.5, or so"\r\n'
        b"Accept: application/MANSCDP+xml\r\n\r\n"
    )
    message = parse_message(data)
    assert [v.branch for v in message.vias] == ["z9hG4bK1", "z9hG4bK2", "z9hG4bK3"]
    assert message.vias[2].host == "[2001:db8::9:1]"
    assert message.vias[2].port == 5070
    assert message.vias[2].param("received") == "2001:db8::9:255"
    assert message.headers.get_list("Accept") == [
        "application/sdp",
        'text/plain;q="0.5, or so"',
        "application/MANSCDP+xml",
    ]


def test_leading_crlfs_before_the_start_line_are_ignored() -> None:
    assert parse_message(b"\r\n\r\n\r\n" + REGISTER.encode()) == parse_message(REGISTER.encode())


def test_ipv6_request_uri_and_via() -> None:
    data = _request(start="OPTIONS sip:alice@[2001:db8::10]:5070;transport=tcp SIP/2.0")
    message = parse_message(data)
    assert isinstance(message, Request)
    assert message.uri == "sip:alice@[2001:db8::10]:5070;transport=tcp"


def test_other_uri_schemes_pass_for_a_later_416() -> None:
    message = parse_message(_request(start="OPTIONS tel:+86-10-1234 SIP/2.0"))
    assert isinstance(message, Request)
    assert message.uri == "tel:+86-10-1234"


def test_lowercase_version_is_accepted() -> None:
    message = parse_message(_request(start="OPTIONS sip:b@example.com sip/2.0"))
    assert message.version == "SIP/2.0"


def test_response_line_variants() -> None:
    core = f"{CORE}CSeq: 1 INVITE\r\n\r\n"
    ok = parse_message(f"SIP/2.0 200 OK\r\n{core}".encode())
    assert isinstance(ok, Response)
    assert (ok.status, ok.reason, ok.status_class) == (200, "OK", 2)
    spaced = parse_message(f"SIP/2.0 486 Busy  Here \r\n{core}".encode())
    assert isinstance(spaced, Response)
    assert spaced.reason == "Busy  Here "
    bare = parse_message(f"SIP/2.0 180\r\n{core}".encode())
    assert isinstance(bare, Response)
    assert bare.reason == ""


def test_identical_repeats_of_single_value_fields_are_accepted() -> None:
    message = parse_message(_request("Call-ID: c1", "Content-Length: 0", "l: 0"))
    assert message.headers.get_all("Call-ID") == ["c1", "c1"]
    assert message.headers.get_all("Content-Length") == ["0"]


def test_undecodable_bytes_survive_byte_exact() -> None:
    name = "摄像机".encode("gb2312")
    data = _request().replace(b"From: <", b'From: "' + name + b'" <')
    message = parse_message(data)
    assert serialize(message) == data.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n")
    assert parse_message(serialize(message)) == message


def test_max_forwards_is_optional() -> None:
    message = parse_message(_request())
    assert "Max-Forwards" not in message.headers


# --- Content-Length and body (RFC 3261 §18.3) ------------------------------------------------


def test_datagram_body_is_cut_to_content_length() -> None:
    message = parse_message(_request("Content-Length: 3", body="abcdef"))
    assert message.body == b"abc"


def test_missing_content_length_on_a_datagram_takes_the_rest() -> None:
    message = parse_message(_request(body="abcdef"))
    assert message.body == b"abcdef"
    assert message.headers.get("Content-Length") == "6"


def test_zero_padded_content_length_is_normalized() -> None:
    message = parse_message(_request("Content-Length: 0003", body="abc"))
    assert message.headers.get_all("Content-Length") == ["3"]


@pytest.mark.parametrize(
    "line", ["Content-Length: 7", "Content-Length: -1", "l: 3x", "l: ３", "l: 1 2", "l:"]
)
def test_bad_content_length_is_400(line: str) -> None:
    _raises(_request(line, body="abcdef"))


def test_conflicting_content_lengths_are_400() -> None:
    _raises(_request("Content-Length: 1", "l: 2", body="abc"))


# --- rejected start lines and fields ----------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        "OPTIONS sip:b@example.com",
        "OPTIONS  sip:b@example.com SIP/2.0",
        "OPTIONS sip:b@example.com SIP/2.0 ",
        "OPTIONS sip:b@example.com; lr SIP/2.0",
        "OPTIONS sip:b@exa\tmple.com SIP/2.0",
        "OPTIONS <sip:b@example.com> SIP/2.0",
        "OPTIONS sip:b@example.com?Route=x SIP/2.0",
        "OPTIONS sip:b@example.com:99999 SIP/2.0",
        "OPT(IONS sip:b@example.com SIP/2.0",
        "OPTIONS b@example.com SIP/2.0",
        "OPTIONS sip:b@example.com HTTP/1.1",
        "OPTIONS sip:b@example.com SIP/2",
        "OPTIONS sip:b@exämple.com SIP/2.0",
    ],
)
def test_bad_request_lines_are_400(start: str) -> None:
    _raises(_request(start=start))


@pytest.mark.parametrize("version", ["SIP/3.0", "SIP/1.0", "SIP/2.1"])
def test_other_sip_versions_are_505(version: str) -> None:
    error = _raises(_request(start=f"OPTIONS sip:b@example.com {version}"), 505)
    assert isinstance(error, VersionNotSupported)
    assert error.reason == "Version Not Supported"


@pytest.mark.parametrize(
    "line", ["SIP/2.0 99 Low", "SIP/2.0 700 High", "SIP/2.0 2000 OK", "SIP/2.0 20x OK", "SIP/2.0"]
)
def test_bad_status_lines_are_400(line: str) -> None:
    _raises(f"{line}\r\n{CORE}CSeq: 1 INVITE\r\n\r\n".encode())


def test_response_with_other_version_is_505() -> None:
    _raises(f"SIP/3.0 200 OK\r\n{CORE}CSeq: 1 INVITE\r\n\r\n".encode(), 505)


@pytest.mark.parametrize("name", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_each_core_field_is_required(name: str) -> None:
    data = _request().decode()
    kept = "".join(
        line + "\r\n" for line in data.split("\r\n")[:-2] if not line.startswith(f"{name}:")
    )
    assert len(kept) < len(data)
    _raises(f"{kept}\r\n".encode())
    _raises(f"SIP/2.0 200 OK\r\n{kept.split(chr(10), 1)[1]}\r\n".encode())


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),
        ("CSeq: 1 OPTIONS", "CSeq: 2147483648 OPTIONS"),
        ("CSeq: 1 OPTIONS", "CSeq: OPTIONS"),
        ("CSeq: 1 OPTIONS", "CSeq: 1 OPTIONS\r\nCSeq: 2 OPTIONS"),
        ("Call-ID: c1", "Call-ID: c1\r\nCall-ID: c2"),
        ("Call-ID: c1", "Call-ID: c 1"),
        ("Call-ID: c1", "Call-ID: a@b@c"),
        ("To: <sip:b@example.com>", "To: <sip:b@example.com>\r\nTo: <sip:c@example.com>"),
        ("To: <sip:b@example.com>", 'To: "unterminated <sip:b@example.com>'),
        ("From: <sip:a@example.com>;tag=1", "From: <sip:a@example.com>;tag=1, <sip:x@y>"),
        ("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", "Via: SIP/2.0/UDP 10.0.0.1;branch=a b"),
        ("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", "Via: SIP/2.0 10.0.0.1"),
        ("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", "Via: ,"),
    ],
)
def test_malformed_core_fields_are_400(old: str, new: str) -> None:
    data = _request()
    assert old.encode() in data
    _raises(data.replace(old.encode(), new.encode()))


@pytest.mark.parametrize(
    "head",
    [
        " Folded: before any field",
        "No colon here",
        "Bad Name: value",
        "Bäd: value",
        ": empty name",
        "X: bare\nLF",
        "X: bare\rCR",
    ],
)
def test_bad_header_lines_are_400(head: str) -> None:
    data = _request().replace(b"Via:", head.encode() + b"\r\nVia:")
    _raises(data)


def test_missing_empty_line_is_400() -> None:
    _raises(_request()[:-2])
    _raises(b"")
    _raises(b"\r\n\r\n")


# --- limits -----------------------------------------------------------------------------------


def test_message_over_the_limit_is_513() -> None:
    error = _raises(_request(body="x" * 200), 513, Limits(max_message_bytes=300))
    assert isinstance(error, MessageTooLarge)


def test_body_over_the_limit_is_413() -> None:
    error = _raises(_request(body="x" * 200), 413, Limits(max_body_bytes=100))
    assert isinstance(error, MessageTooLarge)


def test_too_many_header_fields() -> None:
    data = _request(*[f"X-{i}: {i}" for i in range(20)])
    assert isinstance(_raises(data, 400, Limits(max_headers=20)), MessageTooLarge)
    assert parse_message(data, Limits(max_headers=25))


def test_line_too_long() -> None:
    data = _request("Subject: " + "x" * 500)
    assert isinstance(_raises(data, 400, Limits(max_line_bytes=500)), MessageTooLarge)
    assert parse_message(data, Limits(max_line_bytes=509))
    # counted in bytes, not characters
    wide = _request("Subject: " + "字" * 200)
    assert isinstance(_raises(wide, 400, Limits(max_line_bytes=500)), MessageTooLarge)


def test_header_section_too_large() -> None:
    data = _request(*[f"X-{i}: {'y' * 50}" for i in range(30)])
    assert isinstance(_raises(data, 513, Limits(max_header_bytes=1000)), MessageTooLarge)


def test_default_limits_allow_a_large_catalog_body() -> None:
    body = "<Item/>" * 100_000
    message = parse_message(_request(f"Content-Length: {len(body)}", body=body))
    assert len(message.body) == 700_000


# --- serialize ----------------------------------------------------------------------------------


def test_serialize_writes_long_names_crlf_and_a_correct_length() -> None:
    headers = Headers([("v", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx"), ("l", "99"), ("l", "98")])
    headers.add("i", "c1")
    wire = serialize(Request("MESSAGE", "sip:b@example.com", headers, b"hello"))
    assert wire == (
        b"MESSAGE sip:b@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n"
        b"Content-Length: 5\r\n"
        b"Call-ID: c1\r\n"
        b"\r\n"
        b"hello"
    )
    assert (
        serialize(Response(200, headers=Headers()))
        == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    )


@pytest.mark.parametrize("value", ["a\r\nVia: evil", "a\nb", "a\rb"])
def test_serialize_refuses_injected_lines(value: str) -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        serialize(Request("OPTIONS", "sip:b@example.com", Headers([("Subject", value)])))
    with pytest.raises(ValueError, match="CR or LF"):
        serialize(Response(200, value))


def test_is_keepalive() -> None:
    assert is_keepalive(b"\r\n\r\n")
    assert is_keepalive(b"\r\n")
    assert not is_keepalive(b"")
    assert not is_keepalive(REGISTER.encode())


# --- error_response ----------------------------------------------------------------------------


def test_error_response_answers_a_broken_request_with_400() -> None:
    data = REGISTER.replace("Max-Forwards: 70", "Max-Forwards: 70\r\nBad Line").encode()
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    response = error_response(data, info.value)
    assert response is not None
    assert (response.status, response.reason) == (400, "Bad Request")
    assert response.top_via.branch == "z9hG4bK1371463273"
    assert (
        response.headers.get("Via")
        == "SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1371463273"
    )
    assert response.from_.tag == "2043466181"
    assert response.to.tag  # a final response carries a To tag ...
    again = error_response(data, info.value)
    assert again is not None
    assert again.to.tag == response.to.tag  # ... the same one for a retransmission
    assert response.call_id == "1011047669"
    assert str(response.cseq) == "1 REGISTER"
    warning = response.headers.get("Warning", "")
    assert warning.startswith('399 sightline "') and "colon" in warning
    assert parse_message(serialize(response)).headers.get("Warning") == warning


def test_error_response_keeps_an_existing_to_tag() -> None:
    data = (
        _request(start="BYE sip:b@example.com SIP/2.0")
        .replace(b"To: <sip:b@example.com>", b"To: <sip:b@example.com>;tag=abc")
        .replace(b"Call-ID: c1", b"Call-ID: c 1")
    )
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    response = error_response(data, info.value)
    assert response is not None
    assert response.to.tag == "abc"


def test_error_response_505_for_a_bad_version() -> None:
    data = REGISTER.replace("SIP/2.0\r\n", "SIP/3.0\r\n", 1).encode()
    with pytest.raises(VersionNotSupported) as info:
        parse_message(data)
    response = error_response(data, info.value)
    assert response is not None
    assert (response.status, response.reason) == (505, "Version Not Supported")


def test_error_response_keeps_vias_down_to_the_first_bad_one() -> None:
    data = _request().replace(
        b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx",
        b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx, SIP/2.0/TCP h2;branch=b2, junk, "
        b"SIP/2.0/UDP h3",
    )
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    response = error_response(data, info.value)
    assert response is not None
    assert [v.host for v in response.vias] == ["10.0.0.1", "h2"]


@pytest.mark.parametrize(
    "data",
    [
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: x\r\n\r\n",
        b"",
        b"\r\n\r\n",
        b"garbage",
        _request().replace(b"Call-ID: c1\r\n", b""),
        _request().replace(b"CSeq: 1 OPTIONS", b"CSeq: x"),
        _request().replace(b"Via: SIP/2.0/UDP 10.0.0.1", b"Via: junk"),
        _request().replace(b"From: <sip:a@example.com>;tag=1", b"From:"),
        _request(start="(bad) sip:b@example.com SIP/2.0"),
    ],
)
def test_error_response_gives_up_without_the_needed_fields(data: bytes) -> None:
    assert error_response(data, SipParseError("broken")) is None


def test_error_response_sanitizes_the_warning_text() -> None:
    response = error_response(_request(), SipParseError('bad "x"\\ \x00 字' + "y" * 300))
    assert response is not None
    text = ("bad ?x?? ? ?" + "y" * 300)[:120]  # printable ASCII without quotes, bounded
    assert response.headers.get("Warning") == f'399 sightline "{text}"'


# --- properties --------------------------------------------------------------------------------

_TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
_WORD_CHARS = _TOKEN_CHARS + '()<>:\\"/[]?{}'
_tokens = st.text(_TOKEN_CHARS, min_size=1, max_size=10)
_words = st.text(_WORD_CHARS, min_size=1, max_size=12)
_CORE_NAMES = {"Via", "From", "To", "Call-ID", "CSeq", "Content-Length"}
_extension_names = _tokens.filter(lambda n: canonical_name(n) not in _CORE_NAMES)
_line_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=30
)
_values = _line_text.map(lambda v: v.strip(" \t"))
_via_hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.from_regex(r"[a-z][a-z0-9\-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True),
)


@st.composite
def _vias(draw: st.DrawFn) -> str:
    transport = draw(st.sampled_from(["UDP", "TCP", "TLS", "SCTP"]))
    port = draw(st.none() | st.integers(1, 65535))
    hop = f"SIP/2.0/{transport} {draw(_via_hosts)}{'' if port is None else f':{port}'}"
    return f"{hop};branch=z9hG4bK{draw(_tokens)}"


@st.composite
def sip_messages(draw: st.DrawFn) -> Request | Response:
    """Valid messages in the parser's normal form, so parse(serialize(m)) == m."""
    uris = sip_uris().map(lambda u: replace(u, headers=()))
    method = draw(_tokens)
    body = draw(st.binary(max_size=64))
    display = draw(st.sampled_from(["", '"Alice \\"A\\"" ', "Bob "]))
    items = [
        ("Via", ", ".join(draw(st.lists(_vias(), min_size=1, max_size=3))))
        for _ in range(draw(st.integers(1, 2)))
    ]
    items += [
        ("From", f"{display}<{draw(uris)}>;tag={draw(_tokens)}"),
        ("To", f"<{draw(uris)}>"),
        ("Call-ID", draw(_words) + draw(st.sampled_from(["", "@host"]))),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
    ]
    items += draw(st.lists(st.tuples(_extension_names, _values), max_size=5))
    items = list(draw(st.permutations(items)))
    items.insert(draw(st.integers(0, len(items))), ("Content-Length", str(len(body))))
    headers = Headers(items)
    if draw(st.booleans()):
        return Request(method, str(draw(uris)), headers, body)
    return Response(draw(st.integers(100, 699)), draw(_line_text), headers, body)


@given(sip_messages())
def test_serialize_then_parse_gives_the_same_message(message: Request | Response) -> None:
    assert parse_message(serialize(message)) == message


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_parse_errors(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError as exc:
        response = error_response(data, exc)
        assert response is None or response.status == exc.status
        return
    assert parse_message(serialize(message)) == message


@given(
    sip_messages(), st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=4)), max_size=4)
)
def test_mutated_messages_raise_only_parse_errors(
    message: Request | Response, edits: list[tuple[int, bytes]]
) -> None:
    data = bytearray(serialize(message))
    for where, what in edits:
        at = where % (len(data) + 1)
        data[at : at + len(what)] = what
    try:
        parsed = parse_message(bytes(data))
    except SipParseError as exc:
        error_response(bytes(data), exc)
        return
    assert parse_message(serialize(parsed)) == parsed


# --- corpora ------------------------------------------------------------------------------------

PROTOS_CASES = CONFORMANCE / "protos-c07-sip" / "cases"
_PROTOS_VALUES = {
    b"<To>": b"34020000002000000001@127.0.0.1:5060",
    b"<From>": b"protos@127.0.0.1",
    b"<From-Address>": b"127.0.0.1",
    b"<From-IP>": b"127.0.0.1",
    b"<Local-Port>": b"5070",
    b"<Branch-ID>": b"42",
    b"<Call-ID>": b"42",
    b"<CSeq>": b"1",
    b"<Teardown-Method>": b"CANCEL",
}


def _protos_frames(path: Path) -> list[bytes]:
    data, frames, pos = path.read_bytes(), [], 0
    while pos < len(data):
        space = data.index(b" ", pos)
        end = space + 1 + int(data[pos:space])
        pdu = data[space + 1 : end]
        for placeholder, value in _PROTOS_VALUES.items():
            pdu = pdu.replace(placeholder, value)
        body_len = len(pdu) - pdu.find(b"\r\n\r\n") - 4
        frames.append(pdu.replace(b"<Content-Length>", str(body_len).encode()))
        pos = end
    return frames


@pytest.mark.skipif(not PROTOS_CASES.is_dir(), reason=f"PROTOS cases not found in {PROTOS_CASES}")
def test_protos_cases_parse_or_raise_parse_errors() -> None:
    outcomes = {"parsed": 0, "rejected": 0}
    for path in sorted(PROTOS_CASES.iterdir()):
        for frame in _protos_frames(path):
            try:
                message = parse_message(frame)
            except SipParseError as exc:
                outcomes["rejected"] += 1
                error_response(frame, exc)
                continue
            outcomes["parsed"] += 1
            assert parse_message(serialize(message)) == message
    # the teardown CANCELs are valid, the mutated INVITEs mostly are not
    assert outcomes["parsed"] >= 1500
    assert outcomes["rejected"] > 100


def test_fuzz_target_runs_clean_briefly() -> None:
    path = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_sip_parser.py"
    spec = importlib.util.spec_from_file_location("fuzz_sip_parser", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--iterations", "300", "--seed", "1"]) == 0
