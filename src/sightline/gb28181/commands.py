"""SIP requests the platform sends to devices: MESSAGE and SUBSCRIBE with MANSCDP bodies.

Builders are pure (request in, nothing sent); :func:`send` is the one place that turns SIP
outcomes into the device errors callers see:

    2xx                      the response
    3xx-6xx                  DeviceRejectedError (status kept)
    no final response        DeviceTimeoutError
    transport gone           DeviceOfflineError (e.g. the device's TCP connection closed)

Addressing follows §6.1.2: Request-URI and To are ``sip:<device>@<domain>``, From is the
platform's ID. Requests always go to the address the registration came from (the caller's
``peer``), never to one written in a Contact or Via: the device may be behind NAT, and
following addresses from messages would let anyone aim the platform at a third party.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from sightline.gb28181.errors import DeviceOfflineError, DeviceRejectedError, DeviceTimeoutError
from sightline.gb28181.manscdp import Edition, ManscdpMessage, encode
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.errors import SipTimeoutError, SipTransportError
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response
from sightline.sip.transport import Peer

__all__ = [
    "MANSCDP_CONTENT_TYPE",
    "Addressing",
    "SubscribeParams",
    "message_request",
    "new_call_id",
    "new_tag",
    "send",
    "subscribe_request",
]

log = logging.getLogger(__name__)

MANSCDP_CONTENT_TYPE = "Application/MANSCDP+xml"


def new_call_id() -> str:
    """A fresh Call-ID (128 random bits)."""
    return secrets.token_hex(16)


def new_tag() -> str:
    """A fresh From/To tag."""
    return secrets.token_hex(5)


@dataclass(frozen=True)
class Addressing:
    """Who the platform is: its 20-digit ID and SIP domain."""

    platform_id: str
    domain: str

    def uri(self, user: str) -> str:
        """``sip:<user>@<domain>``."""
        return f"sip:{user}@{self.domain}"

    def body(self, msg: ManscdpMessage, charset: str, edition: Edition) -> bytes:
        """``msg`` encoded for a device with this charset and edition."""
        return encode(msg, charset, edition=edition)


def message_request(
    addressing: Addressing,
    target_id: str,
    body: bytes,
    *,
    call_id: str | None = None,
    from_tag: str | None = None,
    cseq: int = 1,
) -> Request:
    """A MESSAGE carrying a MANSCDP body to ``target_id`` (a device or one of its channels)."""
    headers = Headers(
        [
            ("From", f"<{addressing.uri(addressing.platform_id)}>;tag={from_tag or new_tag()}"),
            ("To", f"<{addressing.uri(target_id)}>"),
            ("Call-ID", call_id or new_call_id()),
            ("CSeq", f"{cseq} MESSAGE"),
            ("Content-Type", MANSCDP_CONTENT_TYPE),
        ]
    )
    return Request("MESSAGE", addressing.uri(target_id), headers, body)


@dataclass(frozen=True)
class SubscribeParams:
    """What distinguishes one subscription's SUBSCRIBE: event package, expiry, dialog IDs."""

    event: str
    expires_s: int
    call_id: str
    from_tag: str
    cseq: int
    contact: str
    to_tag: str | None = None


def subscribe_request(
    addressing: Addressing, target_id: str, body: bytes, params: SubscribeParams
) -> Request:
    """A SUBSCRIBE (initial when ``to_tag`` is None, else a refresh or, with 0, an end)."""
    to = f"<{addressing.uri(target_id)}>"
    if params.to_tag:
        to += f";tag={params.to_tag}"
    headers = Headers(
        [
            ("From", f"<{addressing.uri(addressing.platform_id)}>;tag={params.from_tag}"),
            ("To", to),
            ("Call-ID", params.call_id),
            ("CSeq", f"{params.cseq} SUBSCRIBE"),
            ("Contact", params.contact),
            ("Event", params.event),
            ("Expires", str(params.expires_s)),
            ("Content-Type", MANSCDP_CONTENT_TYPE),
        ]
    )
    return Request("SUBSCRIBE", addressing.uri(target_id), headers, body)


async def send(endpoint: SipEndpoint, request: Request, peer: Peer, timeout_s: float) -> Response:
    """Send ``request`` to ``peer``; return the 2xx or raise a device error (module doc)."""
    target = request.uri
    try:
        response = await endpoint.request(request, peer, timeout_s)
    except SipTimeoutError as exc:
        raise DeviceTimeoutError(f"{request.method} to {target}: no answer ({exc})") from None
    except SipTransportError as exc:
        raise DeviceOfflineError(f"{request.method} to {target}: {exc}") from None
    if response.status >= 300:
        log.info(
            "%s to %s (Call-ID %s) rejected: %d %s",
            request.method,
            target,
            request.headers.get("Call-ID"),
            response.status,
            response.reason,
        )
        raise DeviceRejectedError(
            f"{request.method} to {target}: {response.status} {response.reason}",
            status=response.status,
        )
    return response
