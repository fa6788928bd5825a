"""Shared builders for endpoint-level SIP tests: real sockets on loopback."""

from __future__ import annotations

import secrets

from sightline.sip.headers import Headers
from sightline.sip.message import Request

DEVICE = "34020000001320000001"
SERVER = "34020000002000000001"
REALM = "3402000000"


def register_request(
    device: str = DEVICE, *, expires: int = 3600, call_id: str | None = None, cseq: int = 1
) -> Request:
    """A device's REGISTER without Via (the endpoint adds its own)."""
    headers = Headers(
        [
            ("From", f"<sip:{device}@{REALM}>;tag={secrets.token_hex(4)}"),
            ("To", f"<sip:{device}@{REALM}>"),
            ("Call-ID", call_id or secrets.token_hex(8)),
            ("CSeq", f"{cseq} REGISTER"),
            ("Contact", f"<sip:{device}@127.0.0.1:5060>"),
            ("Expires", str(expires)),
        ]
    )
    return Request("REGISTER", f"sip:{SERVER}@{REALM}", headers)


def options_request() -> Request:
    """A plain OPTIONS without Via."""
    headers = Headers(
        [
            ("From", f"<sip:{DEVICE}@{REALM}>;tag={secrets.token_hex(4)}"),
            ("To", f"<sip:{SERVER}@{REALM}>"),
            ("Call-ID", secrets.token_hex(8)),
            ("CSeq", "1 OPTIONS"),
        ]
    )
    return Request("OPTIONS", f"sip:{SERVER}@{REALM}", headers)
