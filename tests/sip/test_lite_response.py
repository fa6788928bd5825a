"""The lite response scan against the full parser: whatever it accepts, parse_message reads into
an equal Response with the same client transaction key; plain responses take the lite path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.sip.errors import SipParseError
from sightline.sip.lite_response import scan_response
from sightline.sip.message import Response
from sightline.sip.parser import DEFAULT_LIMITS, Limits, parse_message
from sightline.sip.transaction import TransactionKey, client_key

DEVICE = "34020000001320000001"
VIA = "SIP/2.0/UDP 127.0.0.1:5061;rport=5061;branch=z9hG4bK4f2a;received=127.0.0.1"
CHALLENGE = 'Digest realm="3402000000",nonce="0123abcd",algorithm=MD5,qop="auth"'
PLAIN = [
    ("Via", VIA),
    ("From", f"<sip:{DEVICE}@3402000000>;tag=1r1"),
    ("To", f"<sip:{DEVICE}@3402000000>;tag=9f3c"),
    ("Call-ID", f"{DEVICE}-ab12.0-127.0.0.1"),
    ("CSeq", "1 REGISTER"),
    ("WWW-Authenticate", CHALLENGE),
    ("Server", "sightline"),
    ("Content-Length", "0"),
]


def wire(fields: list[tuple[str, str]], start: str = "SIP/2.0 401 Unauthorized") -> bytes:
    return "".join([start + "\r\n", *(f"{n}: {v}\r\n" for n, v in fields), "\r\n"]).encode()


def check_same(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Response | None:
    """The lite result, after checking it against the full parser."""
    lite = scan_response(data, limits)
    if lite is None:
        return None
    full = parse_message(data, limits)
    assert isinstance(full, Response)
    assert lite.response == full
    assert lite.key == client_key(full)
    return lite.response


def test_a_plain_challenge_is_read() -> None:
    response = check_same(wire(PLAIN))
    assert response is not None
    assert (response.status, response.reason) == (401, "Unauthorized")
    assert response.headers.get("WWW-Authenticate") == CHALLENGE
    lite = scan_response(wire(PLAIN), DEFAULT_LIMITS)
    assert lite is not None and lite.key == TransactionKey("REGISTER", "z9hG4bK4f2a")


def test_compact_names_and_a_missing_content_length_read_as_the_parser_reads_them() -> None:
    fields = [("v" if n == "Via" else "f" if n == "From" else n.lower(), v) for n, v in PLAIN]
    response = check_same(wire(fields[:-1], "SIP/2.0 200 OK"))
    assert response is not None
    assert response.headers.items()[-1] == ("Content-Length", "0")


@pytest.mark.parametrize(
    "data",
    [
        wire([*PLAIN[:-1], ("Content-Length", "4")]) + b"body",
        b"\r\n" + wire(PLAIN),
        wire(PLAIN, "sip/2.0 401 Unauthorized"),
        wire([*PLAIN, ("Via", VIA)]),
        wire([(n, f"{v}, {VIA}" if n == "Via" else v) for n, v in PLAIN]),
        wire([(n, v.replace("UDP", "TCP") if n == "Via" else v) for n, v in PLAIN]),
        wire([(n, v.replace("z9hG4bK", "") if n == "Via" else v) for n, v in PLAIN]),
        wire([(n, f"{v};maddr=1.2.3.4" if n == "Via" else v) for n, v in PLAIN]),
        wire([(n, f'"Cam" {v}' if n == "From" else v) for n, v in PLAIN]),
        wire([*PLAIN[:2], ("Server", "x"), (" folded", "y"), *PLAIN[2:]]),
        wire([("Server", "caf\u00e9"), *PLAIN]).replace(b"caf\xc3\xa9", b"caf\xe9"),
        wire([(n, v) for n, v in PLAIN if n != "CSeq"]),
        wire([(n, "99999999999 REGISTER" if n == "CSeq" else v) for n, v in PLAIN]),
        wire(PLAIN).replace(b"Server: sightline\r\n", b"Server: sight\nline\r\n"),
    ],
)
def test_anything_else_takes_the_full_path(data: bytes) -> None:
    assert scan_response(data, DEFAULT_LIMITS) is None


def test_a_status_line_without_reason_reads_as_the_parser_tolerates_it() -> None:
    response = check_same(wire(PLAIN, "SIP/2.0 401"))
    assert response is not None and response.reason == ""


def test_limits_are_kept() -> None:
    assert scan_response(wire(PLAIN), Limits(max_headers=4)) is None
    assert scan_response(wire(PLAIN), Limits(max_line_bytes=40)) is None
    assert check_same(wire(PLAIN), Limits(max_headers=8)) is not None


_TOKEN = st.text("abcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~", min_size=1, max_size=12)
_HOST = st.sampled_from(["127.0.0.1", "192.0.2.7", "platform.example", "a-b.c"])
_PORT = st.one_of(st.none(), st.integers(0, 70000))


@st.composite
def vias(draw: st.DrawFn) -> str:
    port = draw(_PORT)
    params = draw(
        st.lists(
            st.sampled_from(
                [
                    f"branch=z9hG4bK{draw(_TOKEN)}",
                    f"branch={draw(_TOKEN)}",
                    "rport",
                    f"rport={draw(st.integers(0, 70000))}",
                    "received=127.0.0.1",
                    "ttl=1",
                    "Branch=z9hG4bKx",
                ]
            ),
            max_size=4,
        )
    )
    host = draw(_HOST)
    sent_by = host if port is None else f"{host}:{port}"
    proto = draw(st.sampled_from(["SIP/2.0/UDP", "SIP/2.0/UDP", "SIP/2.0/TCP", "SIP/2.0/udp"]))
    return f"{proto} {sent_by}" + "".join(f";{p}" for p in params)


@st.composite
def name_addrs(draw: st.DrawFn) -> str:
    user = draw(st.sampled_from([DEVICE, "34020000002000000001", "a.b", "x y"]))
    uri = f"<sip:{user}@{draw(_HOST)}>"
    if draw(st.booleans()):
        uri = f'"Cam" {uri}'
    return uri + (f";tag={draw(_TOKEN)}" if draw(st.booleans()) else "")


_NAMES = {
    "Via": ["Via", "v", "VIA", "via "],
    "From": ["From", "f", "from"],
    "To": ["To", "t"],
    "Call-ID": ["Call-ID", "i", "call-id"],
    "CSeq": ["CSeq", "cseq"],
    "Content-Length": ["Content-Length", "l"],
}


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    status = draw(st.integers(90, 710))
    reason = draw(st.sampled_from(["OK", "Unauthorized", "", "Not  Found", "x:y"]))
    core = [
        ("Via", draw(vias())),
        ("From", draw(name_addrs())),
        ("To", draw(name_addrs())),
        ("Call-ID", draw(st.sampled_from(["a@b", f"{DEVICE}-1.0-127.0.0.1", "bad id", ""]))),
        (
            "CSeq",
            f"{draw(st.integers(0, 2**32))} {draw(st.sampled_from(['REGISTER', 'MESSAGE', 'x']))}",
        ),
    ]
    extras = draw(
        st.lists(
            st.sampled_from(
                [
                    ("WWW-Authenticate", CHALLENGE),
                    ("Expires", "3600"),
                    ("Date", "2026-11-25T23:00:00.000"),
                    ("Server", "sightline"),
                    ("Content-Length", draw(st.sampled_from(["0", "00", "3"]))),
                    ("Bad Name", "x"),
                    ("X-Empty", ""),
                ]
            ),
            max_size=4,
        )
    )
    fields = draw(st.permutations(core + extras))
    if draw(st.booleans()):
        fields = [*fields, draw(st.sampled_from(core))]  # a repeated core field
    named = [(draw(st.sampled_from(_NAMES.get(n, [n]))), v) for n, v in fields]
    body = draw(st.sampled_from([b"", b"", b"abc"]))
    return wire(named, f"SIP/2.0 {status} {reason}") + body


@settings(max_examples=400, deadline=None)
@given(responses())
def test_generated_responses_read_as_the_parser_reads_them(data: bytes) -> None:
    lite = check_same(data)
    if lite is None:
        return
    assert lite.status >= 100


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(wire(PLAIN)) - 1), st.binary(min_size=1, max_size=3))
def test_damaged_responses_are_never_read_differently(at: int, junk: bytes) -> None:
    data = wire(PLAIN)
    data = data[:at] + junk + data[at + len(junk) :]
    if scan_response(data, DEFAULT_LIMITS) is None:
        return
    try:
        full = parse_message(data)
    except SipParseError:
        pytest.fail(f"the lite scan read what the parser refuses: {data!r}")
    assert check_same(data) == full
