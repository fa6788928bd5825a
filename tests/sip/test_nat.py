"""RFC 3581 rport/received stamping and the response target it leads to."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sightline.sip.fields import Via
from sightline.sip.headers import Headers
from sightline.sip.message import Request, build_response
from sightline.sip.nat import response_target, stamp_received


def _request(via: str, *extra_vias: str) -> Request:
    headers = Headers([("Via", via)])
    for v in extra_vias:
        headers.add("Via", v)
    headers.add("From", "<sip:34020000001320000001@3402000000>;tag=1")
    headers.add("To", "<sip:34020000001320000001@3402000000>")
    headers.add("Call-ID", "abc")
    headers.add("CSeq", "1 REGISTER")
    return Request("REGISTER", "sip:34020000002000000001@3402000000", headers)


def test_rport_is_filled_and_response_goes_to_the_nat_binding() -> None:
    req = _request("SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1")
    stamp_received(req, "127.0.0.5", 40123)
    via = req.top_via
    assert via.param("rport") == "40123"
    assert via.param("received") == "127.0.0.5"
    assert via.branch == "z9hG4bK1"
    resp = build_response(req, 200)
    assert response_target(resp, ("127.0.0.5", 40123)) == ("127.0.0.5", 40123)


def test_received_added_only_when_host_differs() -> None:
    same = _request("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2")
    stamp_received(same, "127.0.0.1", 5070)
    assert same.top_via.param("received") is None
    other = _request("SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK2")
    stamp_received(other, "127.0.0.9", 5999)
    assert other.top_via.param("received") == "127.0.0.9"
    # without rport the response goes to received with the Via port (RFC 3261 §18.2.2)
    assert response_target(build_response(other, 200), ("127.0.0.9", 5999)) == ("127.0.0.9", 5070)


def test_hostname_in_via_gets_received() -> None:
    req = _request("SIP/2.0/UDP camera.example:5060;branch=z9hG4bK3")
    stamp_received(req, "127.0.0.2", 5060)
    assert req.top_via.param("received") == "127.0.0.2"


def test_only_the_top_hop_changes_and_order_is_kept() -> None:
    req = _request(
        "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb",
        "SIP/2.0/TCP 10.0.0.3;branch=z9hG4bKc",
    )
    stamp_received(req, "127.0.0.1", 7000)
    vias = req.vias
    assert [v.branch for v in vias] == ["z9hG4bKa", "z9hG4bKb", "z9hG4bKc"]
    assert vias[0].param("rport") == "7000"
    assert vias[1].param("received") is None
    assert next(name for name, _ in req.headers) == "Via"


def test_ipv6_reference() -> None:
    req = _request("SIP/2.0/UDP [2001:db8::9]:5060;rport;branch=z9hG4bK6")
    stamp_received(req, "::1", 6000)
    via = req.top_via
    assert via.host == "[2001:db8::9]"
    assert via.param("received") == "::1"
    assert response_target(build_response(req, 200), ("::1", 6000)) == ("::1", 6000)
    same = _request("SIP/2.0/UDP [::1]:5060;branch=z9hG4bK7")
    stamp_received(same, "::1", 5060)
    assert same.top_via.param("received") is None


def test_response_never_goes_to_an_address_named_in_the_message() -> None:
    forged = _request("SIP/2.0/UDP 127.0.0.1:5060;received=192.0.2.66;branch=z9hG4bK8")
    stamp_received(forged, "127.0.0.1", 5060)
    assert forged.top_via.param("received") == "127.0.0.1"
    named = _request("SIP/2.0/UDP victim.example:5070;branch=z9hG4bK9")
    # even unstamped (e.g. an error response built from raw bytes), the source IP is used
    assert response_target(build_response(named, 400), ("127.0.0.3", 4000)) == ("127.0.0.3", 5070)


_SOURCES = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))
_VIA_HOSTS = st.one_of(
    _SOURCES.map(lambda ip: f"[{ip}]" if ":" in ip else ip),
    st.from_regex(r"[a-z][a-z0-9\-]{0,8}(\.[a-z]{2,4}){0,2}", fullmatch=True),
)
_EXTRA = st.sampled_from(
    ["", ";rport", ";received=192.0.2.7", ";rport=1;received=x.example", ";lr"]
)


@given(_VIA_HOSTS, st.none() | st.integers(1, 65535), _EXTRA, _SOURCES, st.integers(1, 65535))
def test_stamped_via_remembered_for_the_stack_is_what_parsing_gives(
    host: str, port: int | None, extra: str, source: str, source_port: int
) -> None:
    sent_by = host if port is None else f"{host}:{port}"
    req = _request(f"SIP/2.0/UDP {sent_by}{extra};branch=z9hG4bKprop")
    stamp_received(req, source, source_port)
    text = req.headers.get("Via")
    assert text is not None
    assert req.top_via == Via._parse(text)  # the remembered value equals a fresh parse
    assert req.top_via.param("received") in (None, source)
