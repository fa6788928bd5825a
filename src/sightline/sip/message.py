"""SIP requests and responses as plain data (RFC 3261 §7).

Messages carry their header fields as a :class:`Headers` multi-map of raw strings and offer
typed accessors (``top_via``, ``cseq``, ``from_``, ``to``) for the fields the stack relies on.
Turning bytes into messages and back is :mod:`sightline.sip.parser`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sightline.sip.errors import SipParseError
from sightline.sip.fields import CSeq, NameAddr, Via
from sightline.sip.headers import Headers

__all__ = [
    "KNOWN_METHODS",
    "SIP_VERSION",
    "Message",
    "Request",
    "Response",
    "build_response",
    "reason_phrase",
]

SIP_VERSION = "SIP/2.0"
# Methods defined by RFC 3261 and its common extensions: an unhandled one of these gets 405,
# anything else 501 (§8.2.1).
KNOWN_METHODS = frozenset(
    {
        "ACK",
        "BYE",
        "CANCEL",
        "INFO",
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "OPTIONS",
        "PRACK",
        "PUBLISH",
        "REFER",
        "REGISTER",
        "SUBSCRIBE",
        "UPDATE",
    }
)

_REASONS: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def reason_phrase(status: int) -> str:
    """The usual reason phrase for a status code."""
    return _REASONS.get(status, "Unknown")


@dataclass(eq=True)
class Message:
    """Fields shared by requests and responses."""

    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = SIP_VERSION

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        """The Call-ID value (raises SipParseError when missing)."""
        return self._required("Call-ID").strip()

    @property
    def cseq(self) -> CSeq:
        """The parsed CSeq."""
        return CSeq.parse(self._required("CSeq"))

    @property
    def vias(self) -> list[Via]:
        """Every Via hop, top first."""
        return [Via.parse(v) for v in self.headers.get_list("Via")]

    @property
    def top_via(self) -> Via:
        """The topmost Via hop."""
        values = self.headers.get_list("Via")
        if not values:
            raise SipParseError("missing Via header")
        return Via.parse(values[0])

    @property
    def from_(self) -> NameAddr:
        """The parsed From field."""
        return NameAddr.parse(self._required("From"))

    @property
    def to(self) -> NameAddr:
        """The parsed To field."""
        return NameAddr.parse(self._required("To"))

    @property
    def content_type(self) -> str | None:
        """The Content-Type value, lower-cased media type without parameters."""
        value = self.headers.get("Content-Type")
        return None if value is None else value.split(";", 1)[0].strip().lower()


@dataclass(eq=True)
class Request(Message):
    """A SIP request: method, Request-URI (raw text), header fields and body."""

    method: str = "OPTIONS"
    uri: str = ""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.version = version


@dataclass(eq=True)
class Response(Message):
    """A SIP response: status code, reason phrase, header fields and body."""

    status: int = 200
    reason: str = "OK"

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = SIP_VERSION,
    ) -> None:
        self.status = status
        self.reason = reason_phrase(status) if reason is None else reason
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.version = version

    @property
    def status_class(self) -> int:
        """1 for provisional, 2 for success, ... 6 for global failure."""
        return self.status // 100


_COPIED_TO_RESPONSE = ("Via", "From", "To", "Call-ID", "CSeq")
# Position of each copied field in a response: Vias first, then From, To, Call-ID, CSeq.
_COPY_ORDER = {name: i for i, name in enumerate(_COPIED_TO_RESPONSE)}


def build_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Response:
    """Build a response to ``request`` per RFC 3261 §8.2.6.

    Via, From, To, Call-ID and CSeq are copied; ``to_tag`` is added to To when it has none
    (it must be given for every response but 100 that can create a dialog).
    """
    # one pass over the request's fields; the stable sort keeps each field's hops in order
    copied = [item for item in request.headers.items() if item[0] in _COPY_ORDER]
    copied.sort(key=lambda item: _COPY_ORDER[item[0]])
    resp_headers = Headers.from_canonical(copied)
    if to_tag is not None and status != 100:
        to_value = request.headers.get("To")
        if to_value is not None:
            to = NameAddr.parse(to_value)
            if to.tag is None:
                resp_headers.set("To", str(to.with_param("tag", to_tag)))
    for name, value in headers or ():
        resp_headers.add(name, value)
    return Response(status, reason, resp_headers, body)
