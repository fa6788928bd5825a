"""The lite scan against the full codec: whatever it accepts, parse_message reads the same way,
and lite_response writes the bytes build_response + stamp_received + serialize would."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.sip.lite import LiteAnswer, LiteRequest, lite_response, response_port, scan_request
from sightline.sip.message import Request, build_response
from sightline.sip.nat import response_target, stamp_received
from sightline.sip.parser import DEFAULT_LIMITS, Limits, parse_message, serialize
from sightline.sip.transaction import TransactionKey, server_key

DEVICE = "34020000001320000001"
VIA = "SIP/2.0/UDP 192.0.2.7:5060;rport;branch=z9hG4bK-1"
AUTH = 'Digest username="d",realm="r",nonce="n",uri="sip:s@r",response="0123",algorithm=MD5'

PLAIN = [
    ("Via", VIA),
    ("From", f"<sip:{DEVICE}@3402000000>;tag=1r1"),
    ("To", f"<sip:{DEVICE}@3402000000>"),
    ("Call-ID", "1-2@192.0.2.7"),
    ("CSeq", "1 REGISTER"),
    ("Contact", f"<sip:{DEVICE}@192.0.2.7:5060>"),
    ("Max-Forwards", "70"),
    ("Expires", "3600"),
    ("User-Agent", "IPC"),
    ("Content-Length", "0"),
]


def wire(fields: list[tuple[str, str]], start: str = "REGISTER sip:s@3402000000 SIP/2.0") -> bytes:
    return "".join([start + "\r\n", *(f"{n}: {v}\r\n" for n, v in fields), "\r\n"]).encode()


def replaced(name: str, value: str | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [
        (n, v if n != name or value is None else value)
        for n, v in PLAIN
        if n != name or value is not None
    ]
    return out if any(n == name for n, _ in PLAIN) else [*out, (name, value or "")]


def scan(data: bytes) -> LiteRequest | None:
    return scan_request(data, DEFAULT_LIMITS)


def test_a_plain_register_is_read() -> None:
    request = scan(wire(PLAIN))
    assert request is not None
    assert (request.method, request.uri, request.from_user) == (
        "REGISTER",
        "sip:s@3402000000",
        DEVICE,
    )
    assert (request.branch, request.via_host, request.via_port, request.rport) == (
        "z9hG4bK-1",
        "192.0.2.7",
        5060,
        True,
    )
    assert request.fields["expires"] == "3600" and not request.to_tagged
    assert request.sent_by == "192.0.2.7:5060"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (wire(PLAIN)[:-2] + b"\r\nbody", "a body"),
        (wire(replaced("Content-Length", "4")), "a Content-Length"),
        (wire([*PLAIN, ("Require", "100rel")]), "a field outside the list"),
        (wire([*PLAIN, ("Via", VIA)]), "two Vias"),
        (wire(replaced("Via", f"{VIA}, SIP/2.0/UDP 10.0.0.1")), "two hops"),
        (wire(replaced("Via", f"{VIA};received=10.0.0.9")), "received already there"),
        (wire(replaced("Via", "SIP/2.0/UDP 192.0.2.7;branch=abc")), "an RFC 2543 branch"),
        (wire(replaced("Via", "SIP/2.0/TCP 192.0.2.7;branch=z9hG4bK1")), "not UDP"),
        (wire(replaced("Via", "SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1")), "IPv6"),
        (wire(replaced("Via", "SIP/2.0/UDP 192.0.2.7:70000;branch=z9hG4bK1")), "port"),
        (wire(replaced("From", f"<sip:{DEVICE}@3402000000>")), "a From without tag"),
        (wire(replaced("From", f'"cam" <sip:{DEVICE}@3402000000>;tag=1')), "a display name"),
        (wire(replaced("To", f"<sip:{DEVICE}@3402000000>;tag=1;x=2")), "To parameters"),
        (wire(replaced("CSeq", "1 OPTIONS")), "CSeq method"),
        (wire(replaced("CSeq", "4294967296 REGISTER")), "CSeq too large"),
        (wire(replaced("Contact", "*")), "Contact *"),
        (wire(replaced("Contact", "<sip:a@b>;expires=0")), "an expires parameter"),
        (wire(replaced("User-Agent", "相机")), "non-ASCII"),
        (wire(PLAIN).replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n 1\r\n"), "folding"),
        (wire(PLAIN).replace(b"Expires: 3600\r\n", b"Expires: 3600\n"), "a bare LF"),
        (wire(PLAIN, "REGISTER sip:s@r?x=1 SIP/2.0"), "URI headers"),
        (wire(PLAIN, "REGISTER tel:123 SIP/2.0"), "not sip:"),
        (wire(PLAIN, "REGISTER sip:s@r SIP/3.0"), "version"),
        (wire(PLAIN, "REGISTER  sip:s@r SIP/2.0"), "two spaces"),
        (wire(PLAIN) + b"x" * 3000, "too long"),
        (wire([(n, v) for n, v in PLAIN if n != "Call-ID"]), "no Call-ID"),
    ],
)
def test_anything_else_is_left_to_the_full_path(data: bytes, why: str) -> None:
    assert scan(data) is None, why


KEEPALIVE = (
    b'<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n'
    b"<SN>7</SN>\r\n<DeviceID>34020000001320000001</DeviceID>\r\n<Status>OK</Status>\r\n"
    b"</Notify>\r\n"
)
MESSAGE = [
    *(item for item in PLAIN if item[0] not in ("CSeq", "Contact", "Expires", "Content-Length")),
    ("CSeq", "20 MESSAGE"),
    ("Content-Type", "Application/MANSCDP+xml"),
    ("Content-Length", str(len(KEEPALIVE))),
]


def message(fields: list[tuple[str, str]], body: bytes = KEEPALIVE) -> bytes:
    return wire(fields, "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0") + body


def test_a_body_with_its_type_and_exact_length_is_kept_as_bytes() -> None:
    request = scan(message(MESSAGE))
    assert request is not None
    assert (request.method, request.body) == ("MESSAGE", KEEPALIVE)
    assert request.fields["content-type"] == "Application/MANSCDP+xml"
    assert request.fields["content-length"] == str(len(KEEPALIVE))
    gb2312 = "<Notify><Name>东门</Name></Notify>".encode("gb2312")
    fields = [*MESSAGE[:-1], ("Content-Length", str(len(gb2312)))]
    assert scan(message(fields, gb2312)) is not None  # the body is not read
    assert (plain := scan(wire(PLAIN))) is not None and plain.body == b""


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (message([f for f in MESSAGE if f[0] != "Content-Type"]), "no Content-Type"),
        (message([f for f in MESSAGE if f[0] != "Content-Length"]), "no Content-Length"),
        (message([*MESSAGE[:-1], ("Content-Length", "0")]), "Content-Length 0"),
        (message(MESSAGE, KEEPALIVE[:-1]), "shorter than its Content-Length"),
        (message(MESSAGE, KEEPALIVE + b"\r\n"), "longer than its Content-Length"),
        (message([*MESSAGE[:-1], ("Content-Length", f"0{len(KEEPALIVE)}")]), "a leading 0"),
        (
            message([*MESSAGE[:-1], ("Content-Length", str(12 * len(KEEPALIVE)))], KEEPALIVE * 12),
            "over the lite scan's 2 kB",
        ),
    ],
)
def test_bodies_the_scan_leaves_to_the_full_path(data: bytes, why: str) -> None:
    assert scan(data) is None, why


def test_body_limits_apply() -> None:
    assert scan_request(message(MESSAGE), Limits(max_body_bytes=len(KEEPALIVE) - 1)) is None
    assert scan_request(message(MESSAGE), Limits(max_body_bytes=len(KEEPALIVE))) is not None
    assert scan_request(message(MESSAGE), Limits(max_header_bytes=100)) is None


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=700), st.sampled_from(["Content-Type", "c", "content-type"]))
def test_a_body_is_read_as_the_full_codec_reads_it(body: bytes, type_name: str) -> None:
    fields = [
        *(f for f in MESSAGE if f[0] not in ("Content-Type", "Content-Length")),
        (type_name, "Application/MANSCDP+xml"),
        ("Content-Length", str(len(body))),
    ]
    data = message(fields, body)
    lite = scan(data)
    assert lite is not None
    full = parse_message(data)
    assert isinstance(full, Request)
    assert full.body == lite.body == body
    assert full.headers.get("Content-Type") == lite.fields["content-type"]
    stamp_received(full, "192.0.2.7", 5060)
    expected = build_response(full, 200, to_tag="abcd1234")
    expected.headers.add("Server", "sightline")
    got = lite_response(
        lite, LiteAnswer(200, []), ("192.0.2.7", 5060), to_tag="abcd1234", server="sightline"
    )
    assert got == serialize(expected)


def test_limits_apply() -> None:
    assert scan_request(wire(PLAIN), Limits(max_headers=5)) is None
    assert scan_request(wire(PLAIN), Limits(max_line_bytes=40)) is None
    assert scan_request(wire(PLAIN), Limits(max_message_bytes=100)) is None


@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    scan(data)
    scan(b"REGISTER sip:a@b SIP/2.0\r\n" + data)


# -- the same answers as the full codec ------------------------------------------------------

_token = st.text("abcXYZ019-.!%*_+`'~", min_size=1, max_size=12)
_host = st.sampled_from(["192.0.2.7", "10.0.0.1", "cam.example.com", "127.0.0.1", "Host-1"])
_case: st.SearchStrategy[Callable[[str], str]] = st.sampled_from([str, str.lower, str.upper])


@st.composite
def registers(draw: st.DrawFn) -> tuple[bytes, str]:
    """REGISTER datagrams in the shapes devices send, and a source address."""
    host = draw(_host)
    port = draw(st.none() | st.integers(1, 65535))
    params = [f"branch=z9hG4bK{draw(_token)}"]
    if draw(st.booleans()):
        params.insert(draw(st.integers(0, 1)), "rport")
    sent_by = host if port is None else f"{host}:{port}"
    user = draw(st.sampled_from([DEVICE, "3402000000132000000x", "abc", "1-2.3"]))
    to_tag = draw(st.none() | _token)
    fields: list[tuple[str, str]] = [
        (draw(st.sampled_from(["Via", "v", "VIA"])), f"SIP/2.0/UDP {sent_by};{';'.join(params)}"),
        (draw(st.sampled_from(["From", "f"])), f"<sip:{user}@3402000000>;tag={draw(_token)}"),
        ("To", f"<sip:{user}@3402000000>" + (f";tag={to_tag}" if to_tag else "")),
        (draw(st.sampled_from(["Call-ID", "i", "call-id"])), draw(_token) + "@" + host),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} REGISTER"),
    ]
    optional = [
        ("Contact", f"<sip:{user}@{host}:{port or 5060}>"),
        ("Expires", draw(st.sampled_from(["0", "60", "3600", "x"]))),
        ("Authorization", AUTH),
        ("Max-Forwards", "70"),
        ("User-Agent", "IPC 1.0"),
        ("X-GB-Ver", "3.0"),
        ("Content-Length", "0"),
    ]
    fields += [item for item in optional if draw(st.booleans())]
    fields = draw(st.permutations(fields))
    space = draw(st.sampled_from(["", " ", "  ", "\t"]))
    lines = [f"{draw(_case)(n)}:{space}{v}{draw(st.sampled_from(['', ' ']))}" for n, v in fields]
    data = "\r\n".join(["REGISTER sip:34020000002000000001@3402000000 SIP/2.0", *lines, "", ""])
    return data.encode(), draw(st.sampled_from(["192.0.2.7", "198.51.100.3", "127.0.0.1"]))


@settings(max_examples=300)
@given(registers(), st.integers(1, 65535), st.sampled_from([200, 401, 403]), st.booleans())
def test_what_the_scan_reads_the_full_codec_reads_and_answers_alike(
    sample: tuple[bytes, str], source_port: int, status: int, with_headers: bool
) -> None:
    data, source_host = sample
    lite = scan(data)
    assert lite is not None  # every shape above is one the scan takes
    full = parse_message(data)
    assert isinstance(full, Request)
    assert (full.method, full.uri, full.call_id) == (lite.method, lite.uri, lite.call_id)
    assert server_key(full) == TransactionKey(lite.method, lite.branch, lite.sent_by)
    for name in ("Contact", "Expires", "Authorization", "X-GB-Ver"):
        assert full.headers.get(name) == lite.fields.get(name.lower())
    assert full.from_.uri.split(":", 1)[1].split("@")[0] == lite.from_user

    headers = [("Expires", "60"), ("Date", "2026-11-25T12:00:00.000")] if with_headers else []
    stamp_received(full, source_host, source_port)
    expected = build_response(full, status, to_tag="abcd1234", headers=headers)
    expected.headers.add("Server", "sightline")
    got = lite_response(
        lite,
        LiteAnswer(status, headers),
        (source_host, source_port),
        to_tag="abcd1234",
        server="sightline",
    )
    assert got == serialize(expected)
    assert response_port(lite, source_port) == response_target(expected, (source_host, 0))[1]


def test_a_reason_can_be_given() -> None:
    lite = scan(wire(PLAIN))
    assert lite is not None
    answer = LiteAnswer(400, [], reason="Bad Request (why)")
    assert lite_response(lite, answer, ("192.0.2.7", 1), to_tag="t", server="s").startswith(
        b"SIP/2.0 400 Bad Request (why)\r\n"
    )


@given(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80))
def test_arbitrary_request_uris_never_raise(uri: str) -> None:
    scan(wire(PLAIN, f"REGISTER {uri} SIP/2.0"))
