"""Request builders and the SIP-outcome-to-device-error mapping of ``send``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sightline.gb28181.commands import (
    MANSCDP_CONTENT_TYPE,
    Addressing,
    SubscribeParams,
    message_request,
    send,
    subscribe_request,
)
from sightline.gb28181.errors import DeviceOfflineError, DeviceRejectedError, DeviceTimeoutError
from sightline.gb28181.manscdp import CatalogQuery, DeviceInfoQuery, Edition, decode
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.message import Response, build_response
from sightline.sip.parser import parse_message, serialize
from sightline.sip.transport import Peer
from tests.gb28181.device_peer import FAST

PLATFORM = "34020000002000000001"
DEVICE = "34020000001320000001"
ADDR = Addressing(PLATFORM, "3402000000")


def test_message_request_addresses_the_device_by_id_and_domain() -> None:
    body = ADDR.body(DeviceInfoQuery(sn=5, device_id=DEVICE), "GB2312", Edition.V2016)
    request = message_request(ADDR, DEVICE, body, call_id="c1", from_tag="t1", cseq=3)
    assert request.method == "MESSAGE"
    assert request.uri == "sip:34020000001320000001@3402000000"
    assert request.headers.get("From") == "<sip:34020000002000000001@3402000000>;tag=t1"
    assert request.headers.get("To") == "<sip:34020000001320000001@3402000000>"
    assert request.headers.get("Call-ID") == "c1"
    assert request.headers.get("CSeq") == "3 MESSAGE"
    assert request.headers.get("Content-Type") == MANSCDP_CONTENT_TYPE
    assert body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    request.headers.prepend("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtest")
    reparsed = parse_message(serialize(request))
    assert decode(reparsed.body) == DeviceInfoQuery(sn=5, device_id=DEVICE)


def test_message_request_makes_fresh_identifiers() -> None:
    a = message_request(ADDR, DEVICE, b"")
    b = message_request(ADDR, DEVICE, b"")
    assert a.call_id != b.call_id
    assert a.from_.tag and a.from_.tag != b.from_.tag


def test_utf8_device_gets_a_utf8_body() -> None:
    body = ADDR.body(CatalogQuery(sn=1, device_id=DEVICE), "UTF-8", Edition.V2022)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_subscribe_request_initial_and_refresh() -> None:
    params = SubscribeParams(
        event="Catalog;id=9",
        expires_s=600,
        call_id="call",
        from_tag="ftag",
        cseq=1,
        contact="<sip:34020000002000000001@127.0.0.1:5060>",
    )
    initial = subscribe_request(ADDR, DEVICE, b"<Query/>", params)
    assert initial.method == "SUBSCRIBE"
    assert initial.headers.get("Event") == "Catalog;id=9"
    assert initial.headers.get("Expires") == "600"
    assert initial.headers.get("Contact") == "<sip:34020000002000000001@127.0.0.1:5060>"
    assert initial.to.tag is None
    refresh = subscribe_request(
        ADDR, DEVICE, b"", SubscribeParams(**{**vars(params), "to_tag": "dtag", "cseq": 2})
    )
    assert refresh.to.tag == "dtag"
    assert refresh.headers.get("CSeq") == "2 SUBSCRIBE"
    assert refresh.call_id == "call"


class _Answering:
    def __init__(self, status: int) -> None:
        self.status = status

    def __call__(self, incoming: IncomingRequest) -> Response:
        return build_response(incoming.request, self.status, to_tag="x")


@pytest.fixture
async def endpoints() -> AsyncIterator[tuple[SipEndpoint, SipEndpoint, Peer]]:
    platform = SipEndpoint(timers=FAST)
    device = SipEndpoint(timers=FAST)
    await platform.start_udp("127.0.0.1", 0)
    host, port = await device.start_udp("127.0.0.1", 0)
    yield platform, device, Peer("UDP", host, port)
    await platform.close()
    await device.close()


async def test_send_returns_the_2xx(endpoints: tuple[SipEndpoint, SipEndpoint, Peer]) -> None:
    platform, device, peer = endpoints
    device.on("MESSAGE", _Answering(200))
    response = await send(platform, message_request(ADDR, DEVICE, b"x"), peer, 2.0)
    assert response.status == 200


async def test_send_maps_an_error_status_to_rejected(
    endpoints: tuple[SipEndpoint, SipEndpoint, Peer],
) -> None:
    platform, device, peer = endpoints
    device.on("MESSAGE", _Answering(486))
    with pytest.raises(DeviceRejectedError) as info:
        await send(platform, message_request(ADDR, DEVICE, b"x"), peer, 2.0)
    assert info.value.status == 486


async def test_send_maps_silence_to_timeout(
    endpoints: tuple[SipEndpoint, SipEndpoint, Peer],
) -> None:
    platform, device, peer = endpoints
    await device.close()  # nobody answers at that port any more
    with pytest.raises(DeviceTimeoutError):
        await send(platform, message_request(ADDR, DEVICE, b"x"), peer, 0.2)


async def test_send_maps_a_missing_connection_to_offline(
    endpoints: tuple[SipEndpoint, SipEndpoint, Peer],
) -> None:
    platform, _, peer = endpoints
    gone = Peer("TCP", peer.host, peer.port)
    with pytest.raises(DeviceOfflineError):
        await send(platform, message_request(ADDR, DEVICE, b"x"), gone, 0.5)
