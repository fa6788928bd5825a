"""Checks every UAS makes before a handler sees a request (RFC 3261 §8.2.1–§8.2.2).

Pure functions: given the request and what this endpoint supports, return the response that
rejects it, or None to go on.  Order follows the RFC: method, then Request-URI scheme, then
Require.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection

from sightline.sip.errors import SipParseError
from sightline.sip.message import KNOWN_METHODS, Request, Response, build_response
from sightline.sip.parser import parse_request_uri
from sightline.sip.uri import SipUri

__all__ = ["KNOWN_METHODS", "precheck"]


_SCHEMES = frozenset({"sip", "sips"})


def precheck(
    request: Request, handled: Collection[str], supported: Collection[str] = ()
) -> Response | None:
    """The rejection RFC 3261 §8.2 requires for ``request``, or None when it may proceed."""
    if request.method not in handled:
        status = 405 if request.method in KNOWN_METHODS else 501
        allow = ", ".join(sorted(handled))
        return build_response(request, status, to_tag=_tag(), headers=[("Allow", allow)])
    try:
        uri = parse_request_uri(request.uri)
    except SipParseError:
        return build_response(request, 400, "Bad Request-URI", to_tag=_tag())
    if not isinstance(uri, SipUri) or uri.scheme not in _SCHEMES:
        return build_response(request, 416, to_tag=_tag())
    if request.method not in ("ACK", "CANCEL"):
        unknown = [t for t in request.headers.get_list("Require") if t not in supported]
        if unknown:
            return build_response(
                request, 420, to_tag=_tag(), headers=[("Unsupported", ", ".join(unknown))]
            )
    return None


def _tag() -> str:
    return secrets.token_hex(4)
