"""The SIP requests a simulated device sends: REGISTER, MESSAGE and in-dialog NOTIFY.

Pure builders: no Via (the endpoint adds one per transaction) and no I/O. URIs follow the
standard's examples: ``sip:<server id>@<domain>`` as Request-URI, ``sip:<device id>@<domain>``
in From, and a Contact with the address the device listens on.
"""

from __future__ import annotations

from sightline.sim.device import Subscription
from sightline.sip.headers import Headers
from sightline.sip.message import Request

__all__ = ["MANSCDP", "message_request", "notify_request", "register_request"]

MANSCDP = "Application/MANSCDP+xml"


def register_request(
    *,
    device_id: str,
    server_id: str,
    domain: str,
    contact: str,
    call_id: str,
    from_tag: str,
    cseq: int,
    expires: int,
    x_gb_ver: str,
    authorization: str | None = None,
) -> Request:
    """A REGISTER (``expires`` 0 unregisters)."""
    me = f"<sip:{device_id}@{domain}>"
    headers = Headers(
        [
            ("From", f"{me};tag={from_tag}"),
            ("To", me),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} REGISTER"),
            ("Contact", contact),
            ("Expires", str(expires)),
            ("X-GB-Ver", x_gb_ver),
        ]
    )
    if authorization is not None:
        headers.add("Authorization", authorization)
    return Request("REGISTER", f"sip:{server_id}@{domain}", headers)


def message_request(
    *, device_id: str, to_uri: str, domain: str, call_id: str, from_tag: str, body: bytes
) -> Request:
    """An out-of-dialog MESSAGE carrying a MANSCDP body to ``to_uri``."""
    headers = Headers(
        [
            ("From", f"<sip:{device_id}@{domain}>;tag={from_tag}"),
            ("To", f"<{to_uri}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 MESSAGE"),
            ("Content-Type", MANSCDP),
        ]
    )
    return Request("MESSAGE", to_uri, headers, body)


def notify_request(
    sub: Subscription, *, device_id: str, domain: str, contact: str, state: str, body: bytes
) -> Request:
    """The next NOTIFY of subscription ``sub`` (``state`` e.g. ``active;expires=3600``)."""
    sub.cseq += 1
    headers = Headers(
        [
            ("From", f"<sip:{device_id}@{domain}>;tag={sub.local_tag}"),
            ("To", sub.remote),
            ("Call-ID", sub.call_id),
            ("CSeq", f"{sub.cseq} NOTIFY"),
            ("Contact", contact),
            ("Event", sub.event),
            ("Subscription-State", state),
            ("Content-Type", MANSCDP),
        ]
    )
    return Request("NOTIFY", sub.target, headers, body)
