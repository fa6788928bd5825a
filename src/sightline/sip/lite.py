"""The lite scan: simple, common UDP requests read and answered without the full codec.

Most of what a registrar receives is the same short REGISTER over and over. ``scan_request``
reads such a datagram in one pass into a :class:`LiteRequest` (the fields a response and a
registrar need, as text) and ``lite_response`` writes the answer from a template. Both are
pure functions.

The scan is a strict subset of :func:`~sightline.sip.parser.parse_message`: it returns None,
and the caller takes the full path, for anything it was not written for — a body without a
Content-Type or whose length is not exactly its Content-Length, folded lines, non-ASCII bytes
in the head, header fields outside a short list, repeated fields, more than one Via hop, a Via
or From/To outside the plain forms devices send, RFC 2543 branches, IPv6, ``received``/
``maddr`` already in the Via, Contact ``*`` or an ``expires`` parameter. A body is kept as
bytes and not read (a keepalive's XML is its handler's business). What it accepts, the full
parser accepts with the same values, and ``lite_response`` writes the bytes
``build_response`` + ``stamp_received`` + ``serialize`` would (``tests/sip/test_lite.py``
checks both with generated messages).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sightline.sip.errors import SipParseError
from sightline.sip.message import reason_phrase
from sightline.sip.nat import same_host
from sightline.sip.parser import Limits, parse_request_uri
from sightline.sip.transaction import MAGIC_COOKIE
from sightline.sip.uri import SipUri

__all__ = [
    "LiteAnswer",
    "LiteRequest",
    "head_lines",
    "lite_response",
    "response_port",
    "scan_request",
]

# Only datagrams this short are scanned: a REGISTER with digest credentials is ~600 bytes.
MAX_LITE_BYTES = 2048

# the field names the scan accepts (any case; compact forms too) -> their key in LiteRequest
_NAMES = {
    "via": "via",
    "v": "via",
    "from": "from",
    "f": "from",
    "to": "to",
    "t": "to",
    "call-id": "call-id",
    "i": "call-id",
    "cseq": "cseq",
    "contact": "contact",
    "m": "contact",
    "expires": "expires",
    "authorization": "authorization",
    "max-forwards": "max-forwards",
    "user-agent": "user-agent",
    "content-length": "content-length",
    "l": "content-length",
    "content-type": "content-type",
    "c": "content-type",
    "x-gb-ver": "x-gb-ver",
}
# the usual spellings too, so that most lines need no lower()
_NAMES.update(
    {
        spelled: spelled.lower()
        for spelled in (
            "Via",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Contact",
            "Expires",
            "Authorization",
            "Max-Forwards",
            "User-Agent",
            "Content-Length",
            "Content-Type",
            "X-GB-Ver",
        )
    }
)
_TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
_VIA = re.compile(
    rf"SIP/2\.0/UDP ({_HOST})(?::([0-9]{{1,5}}))?((?:;[a-z]+(?:=[{_TOKEN_CHARS}]+)?)+)"
)
_USER = r"[A-Za-z0-9\-_.!~*'()]+"
_NAME_ADDR = re.compile(rf"<sip:({_USER})@{_HOST}(?::[0-9]{{1,5}})?>(?:;tag=([{_TOKEN_CHARS}]+))?")
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID = re.compile(f"{_WORD}(?:@{_WORD})?")
_CSEQ = re.compile(r"([0-9]{1,10}) ([A-Z]+)")
# printable ASCII, SP, HTAB and line ends only (the lines are checked for bare CR/LF after)
_HEAD_BYTES = re.compile(rb"[\x20-\x7e\t\r\n]*")
_MAX_CSEQ = 2**31 - 1


@dataclass(frozen=True, slots=True)
class LiteRequest:
    """A simple request as the lite scan read it (values as text, without SP/HTAB around)."""

    method: str
    uri: str
    via: str  # the one Via hop, as received
    branch: str
    via_host: str
    via_port: int | None
    rport: bool  # the Via carries a bare ``rport`` (RFC 3581): answer to the source port
    from_: str
    from_user: str  # the user part of the From URI
    to: str
    to_tagged: bool
    call_id: str
    cseq: str
    fields: dict[str, str]  # contact, expires, authorization, x-gb-ver... by lower-case name
    body: bytes = b""  # as received (with a Content-Type and an exact Content-Length)

    @property
    def sent_by(self) -> str:
        """The Via's sent-by as transaction keys spell it (``server_key``)."""
        return f"{self.via_host.lower()}:{self.via_port or ''}"


@dataclass(frozen=True, slots=True)
class LiteAnswer:
    """A handler's final answer to a LiteRequest: status, reason (None: the usual) and the
    fields after CSeq (Server and Content-Length are added)."""

    status: int
    headers: list[tuple[str, str]]
    reason: str | None = None


def head_lines(data: bytes, limits: Limits, *, body: bool = False) -> list[str] | None:
    """The lines of a datagram's plain head (ASCII, CRLF endings, within the line and header
    limits), or None for anything else; with ``body`` False, also None if anything follows the
    head."""
    split = _split_head(data, limits, body=body)
    return None if split is None else split[0]


def _split_head(data: bytes, limits: Limits, *, body: bool) -> tuple[list[str], int] | None:
    """:func:`head_lines` and the head's length (where the blank line starts)."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or (end + 4 != len(data) and not body):
        return None
    if _HEAD_BYTES.fullmatch(data, 0, end) is None:
        return None
    head = data[:end].decode("ascii")
    lines = head.split("\r\n")
    breaks = len(lines) - 1
    if head.count("\r") != breaks or head.count("\n") != breaks:
        return None  # a bare CR or LF
    if breaks > limits.max_headers or max(map(len, lines)) > limits.max_line_bytes:
        return None
    return lines, end


def scan_request(data: bytes, limits: Limits) -> LiteRequest | None:
    """Read a simple UDP request, or return None for anything else (see the module doc)."""
    if len(data) > MAX_LITE_BYTES or len(data) > limits.max_message_bytes:
        return None
    split = _split_head(data, limits, body=True)
    if split is None:
        return None
    lines, head = split
    body = data[head + 4 :]
    if head > limits.max_header_bytes or len(body) > limits.max_body_bytes:
        return None  # the full path says which limit
    method, uri = _request_line(lines[0])
    if not method:
        return None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        raw_name, colon, raw_value = line.partition(":")
        key = _NAMES.get(raw_name) or _NAMES.get(raw_name.rstrip(" \t").lower())
        if key is None or not colon or key in fields:
            return None  # an unknown field, folding, or a repeated field: the full path
        fields[key] = raw_value.strip(" \t")
    return _assemble(method, uri, fields, body)


def _request_line(line: str) -> tuple[str, str]:
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[0].isalpha():
        return "", ""
    method, uri = parts[0], parts[1]
    if not (method.isupper() and uri.isprintable()):
        return "", ""
    try:
        parsed = parse_request_uri(uri)
    except (SipParseError, ValueError, LookupError, ArithmeticError):
        return "", ""  # what parse_message turns into a parse error
    if not isinstance(parsed, SipUri) or parsed.scheme not in ("sip", "sips") or parsed.headers:
        return "", ""
    return method, uri


def _assemble(method: str, uri: str, fields: dict[str, str], body: bytes) -> LiteRequest | None:
    via, from_, to = fields.pop("via", ""), fields.pop("from", ""), fields.pop("to", "")
    call_id, cseq = fields.pop("call-id", ""), fields.pop("cseq", "")
    if body:
        if fields.get("content-length") != str(len(body)) or not fields.get("content-type"):
            return None  # no length, another length, no type: the full path decides
    elif fields.get("content-length", "0") != "0":
        return None
    via_match = _VIA.fullmatch(via)
    from_match = _NAME_ADDR.fullmatch(from_)
    to_match = _NAME_ADDR.fullmatch(to)
    cseq_match = _CSEQ.fullmatch(cseq)
    if (
        via_match is None
        or from_match is None
        or from_match.group(2) is None
        or to_match is None
        or cseq_match is None
        or cseq_match.group(2) != method
        or int(cseq_match.group(1)) > _MAX_CSEQ
        or _CALL_ID.fullmatch(call_id) is None
    ):
        return None
    contact = fields.get("contact")
    if contact is not None and (
        not contact.startswith("<") or "expires=" in contact.lower() or "," in contact
    ):
        return None
    branch = ""
    rport = False
    for param in via_match.group(3)[1:].split(";"):
        name, _, value = param.partition("=")
        if name == "branch" and value.startswith(MAGIC_COOKIE) and not branch:
            branch = value
        elif name == "rport" and not value and not rport:
            rport = True
        else:
            return None  # received, maddr, ttl, a repeated parameter...: the full path
    port_text = via_match.group(2)
    port = int(port_text) if port_text is not None else None
    if not branch or (port is not None and not 0 < port < 65536):
        return None
    return LiteRequest(
        method,
        uri,
        via,
        branch,
        via_match.group(1),
        port,
        rport,
        from_,
        from_match.group(1),
        to,
        to_match.group(2) is not None,
        call_id,
        cseq,
        fields,
        body,
    )


def response_port(request: LiteRequest, source_port: int) -> int:
    """Where the response goes on the source host (RFC 3261 §18.2.2, RFC 3581 §4)."""
    if request.rport:
        return source_port
    return request.via_port or 5060


def lite_response(
    request: LiteRequest,
    answer: LiteAnswer,
    source: tuple[str, int],
    *,
    to_tag: str,
    server: str,
) -> bytes:
    """The wire form of ``answer`` to ``request`` received from ``source``."""
    host, port = source
    via = request.via
    if request.rport:
        via = via.replace(";rport", f";rport={port}", 1) + f";received={host}"
    elif not same_host(request.via_host, host):
        via = f"{via};received={host}"
    to = request.to if request.to_tagged or answer.status == 100 else f"{request.to};tag={to_tag}"
    reason = reason_phrase(answer.status) if answer.reason is None else answer.reason
    return "".join(
        (
            f"SIP/2.0 {answer.status} {reason}\r\nVia: {via}\r\nFrom: {request.from_}\r\n"
            f"To: {to}\r\nCall-ID: {request.call_id}\r\nCSeq: {request.cseq}\r\n",
            *_fields(answer.headers),
            f"Server: {server}\r\nContent-Length: 0\r\n\r\n",
        )
    ).encode("utf-8", "surrogateescape")


def _fields(headers: Iterable[tuple[str, str]]) -> Iterable[str]:
    return (f"{name}: {value}\r\n" for name, value in headers)
