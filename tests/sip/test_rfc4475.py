"""Every RFC 4475 torture message against the expectations in rfc4475_table.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from sightline.sip.errors import SipParseError, VersionNotSupported
from sightline.sip.fields import NameAddr
from sightline.sip.framing import StreamFramer
from sightline.sip.message import Request, Response
from sightline.sip.parser import error_response, parse_message, serialize
from sightline.sip.uri import AbsoluteUri, SipUri, parse_any_uri
from tests.sip.rfc4475_table import RFC4475_EXPECTED, TortureCase

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
TORTURE_DIR = CONFORMANCE / "rfc4475"

pytestmark = pytest.mark.skipif(
    not TORTURE_DIR.is_dir(), reason=f"RFC 4475 messages not found in {TORTURE_DIR}"
)


def _load(name: str) -> bytes:
    return (TORTURE_DIR / f"{name}.dat").read_bytes()


def _parse(name: str) -> Request | Response:
    return parse_message(_load(name))


def test_table_covers_every_file() -> None:
    assert {p.stem for p in TORTURE_DIR.glob("*.dat")} == set(RFC4475_EXPECTED)


ACCEPTED = sorted(k for k, v in RFC4475_EXPECTED.items() if v.parse_status is None)
REJECTED = sorted(k for k, v in RFC4475_EXPECTED.items() if v.parse_status is not None)


def _check_values(message: Request | Response, case: TortureCase) -> None:
    if case.method is not None:
        assert isinstance(message, Request)
        assert message.method == case.method
        assert message.cseq.method == case.method
    if case.uri is not None:
        assert isinstance(message, Request)
        assert message.uri == case.uri
    if case.status is not None:
        assert isinstance(message, Response)
        assert message.status == case.status
    if case.call_id is not None:
        assert message.call_id == case.call_id
    if case.body_len is not None:
        assert len(message.body) == case.body_len
    if case.via_count is not None:
        assert len(message.vias) == case.via_count
    for name, value in case.fields:
        assert message.headers.get(name) == value, name


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_message_parses_with_expected_values(name: str) -> None:
    message = _parse(name)
    _check_values(message, RFC4475_EXPECTED[name])
    # exactly one Content-Length, equal to the body
    assert message.headers.get_all("Content-Length") == [str(len(message.body))]
    # the typed accessors the stack relies on all work
    assert message.top_via.transport
    assert message.from_.uri and message.to.uri


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_message_round_trips(name: str) -> None:
    message = _parse(name)
    assert parse_message(serialize(message)) == message


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_message_frames_on_a_stream(name: str) -> None:
    wire = serialize(_parse(name))
    framer = StreamFramer()
    items = framer.feed(wire + wire[:10]) + framer.feed(wire[10:])
    assert items == [parse_message(wire), parse_message(wire)]
    assert not framer.broken


@pytest.mark.parametrize("name", REJECTED)
def test_rejected_message_raises_expected_status(name: str) -> None:
    case = RFC4475_EXPECTED[name]
    with pytest.raises(SipParseError) as info:
        _parse(name)
    assert info.value.status == case.parse_status


@pytest.mark.parametrize("name", REJECTED)
def test_rejected_request_gets_an_answer_unless_it_cannot(name: str) -> None:
    case = RFC4475_EXPECTED[name]
    data = _load(name)
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    response = error_response(data, info.value)
    if case.drop:
        assert response is None
        return
    assert response is not None
    assert response.status == case.parse_status
    assert response.headers.get("Warning", "").startswith("399 sightline ")
    # what the client needs to match the answer to its transaction
    assert response.top_via.branch is not None or name in ("badinv01", "ltgtruri")
    assert response.headers.get("Call-ID")
    wire = serialize(response)
    assert wire.startswith(f"SIP/2.0 {case.parse_status} ".encode())
    if name not in ("badaspec", "baddn", "quotbal", "scalar02"):
        # a well-formed answer, unless it had to echo the sender's malformed From, To or CSeq
        assert serialize(parse_message(wire)) == wire


def test_badvers_is_version_not_supported() -> None:
    with pytest.raises(VersionNotSupported):
        _parse("badvers")


def test_dblreq_ignores_the_trailing_invite() -> None:
    message = _parse("dblreq")
    assert isinstance(message, Request)
    assert b"INVITE" not in serialize(message)


def test_wsinv_folded_and_spaced_fields_parse() -> None:
    message = _parse("wsinv")
    assert [v.branch for v in message.vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert [v.transport for v in message.vias] == ["UDP", "TCP", "UDP"]
    assert message.to.tag == "1918181833n"
    assert message.from_.tag == "98asjd8"
    assert message.from_.display_name == '"J Rosenberg \\\\\\""'
    assert message.cseq.number == 9
    contact = NameAddr.parse(message.headers.get_list("Contact")[0])
    assert contact.param("newparam") == "newvalue"
    assert contact.param("secondparam") == ""
    assert contact.param("q") == "0.33"
    route = SipUri.parse(NameAddr.parse(message.headers.get("Route", "")).uri)
    assert route.param("lr") == "" and route.param("unknownwith") == "value"


def test_intmeth_uri_user_and_password() -> None:
    message = _parse("intmeth")
    assert isinstance(message, Request)
    uri = SipUri.parse(message.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert message.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"
    assert message.from_.tag == "_token~1'+`*%!-."
    assert (
        message.from_.param("fromParam''~+*_!.-%")
        == '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"'
    )


def test_esc01_escapes_are_equivalent_to_the_characters() -> None:
    message = _parse("esc01")
    assert isinstance(message, Request)
    ruri = SipUri.parse(message.uri)
    assert (ruri.user, ruri.host) == ("sips:user@example.com", "example.net")
    assert SipUri.parse(message.to.uri).user == "user"
    assert SipUri.parse(message.from_.uri).user == "I have spaces"
    contact = SipUri.parse(NameAddr.parse(message.headers.get("Contact", "")).uri)
    assert contact.user == "caller"
    assert contact.params == (("lr", None), ("name", "value%41"))


def test_escnull_keeps_nulls_and_two_distinct_contacts() -> None:
    message = _parse("escnull")
    users = [SipUri.parse(NameAddr.parse(c).uri).user for c in message.headers.get_list("m")]
    assert users == ["\x00", "\x00\x00"]
    assert SipUri.parse(message.to.uri).user == "null-\x00-null"


def test_esc02_percent_is_literal_outside_uris() -> None:
    message = _parse("esc02")
    assert len(message.headers.get_list("Contact")) == 2
    assert message.top_via.branch == "z9hG4bK209%fzsnel234"
    assert message.to.display_name == '"%Z%45"'


def test_semiuri_user_holds_the_parameter() -> None:
    message = _parse("semiuri")
    assert isinstance(message, Request)
    assert SipUri.parse(message.uri).user == "user;par=u@example.net"
    assert len(message.headers.get_list("Accept")) == 6


def test_transports_lists_every_transport() -> None:
    vias = _parse("transports").vias
    assert [v.transport for v in vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_unreason_keeps_the_utf8_reason_phrase() -> None:
    message = _parse("unreason")
    assert isinstance(message, Response)
    assert message.reason.startswith("= 2**3 * 5**2 ")
    assert "\u043d\u043e" in message.reason  # Cyrillic from the UTF-8 phrase


def test_noreason_has_an_empty_reason() -> None:
    message = _parse("noreason")
    assert isinstance(message, Response)
    assert message.reason == ""
    assert serialize(message).startswith(b"SIP/2.0 100 \r\n")


def test_unknown_schemes_pass_as_absolute_uris() -> None:
    for name, scheme in (("unkscm", "nobodyknowsthisscheme"), ("novelsc", "soap.beep")):
        message = _parse(name)
        assert isinstance(message, Request)
        parsed = parse_any_uri(message.uri)
        assert isinstance(parsed, AbsoluteUri)
        assert parsed.scheme == scheme


def test_cparam_contact_versus_uri_parameter() -> None:
    header_param = NameAddr.parse(_parse("cparam01").headers.get("Contact", ""))
    assert header_param.param("unknownparam") == ""
    assert SipUri.parse(header_param.uri).param("unknownparam") is None
    uri_param = NameAddr.parse(_parse("cparam02").headers.get("Contact", ""))
    assert uri_param.param("unknownparam") is None
    assert SipUri.parse(uri_param.uri).param("unknownparam") == ""


def test_regescrt_contact_keeps_its_escaped_header() -> None:
    contact = NameAddr.parse(_parse("regescrt").headers.get("Contact", ""))
    uri = SipUri.parse(contact.uri)
    assert uri.headers == (("Route", "<sip:sip.example.com>"),)
    assert str(uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def test_regbadct_contact_is_rejected_by_whoever_reads_it() -> None:
    with pytest.raises(SipParseError):
        NameAddr.parse(_parse("regbadct").headers.get("Contact", ""))


def test_mpart01_binary_body_is_framed_exactly() -> None:
    message = _parse("mpart01")
    assert message.body.endswith(b"--7a9cbec02ceef655--\r\n")
    assert b"\x00" in message.body
    assert message.content_type == "multipart/mixed"
