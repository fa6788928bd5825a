"""Bytes to SIP messages and back (RFC 3261 §7, §18.3, §25).

``parse_message`` takes one datagram, or one message the stream framer has cut out, and
returns a Request or Response. It raises nothing but SipParseError (and its subclasses
MessageTooLarge, VersionNotSupported), whatever the input; ``status`` on the error is what a
server answers with, and ``error_response`` builds that answer when the request still yields
the fields a response needs.

What parse_message checks, and what it leaves to the layers above:

    start line     method token; Request-URI present, without spaces or controls; sip:/sips:
                   Request-URIs must parse and carry no ?headers (RFC 3261 §19.1.1), other
                   schemes pass through (the server answers 416); version SIP/2.0, else 505;
                   status code of 3 digits in 100-699. Exactly one SP between the elements:
                   extra or trailing SP is rejected (RFC 4475 §3.1.2.9/10 allow that).
    header section CRLF line ends only; folding (continuation lines) joined with one SP; names
                   are tokens, compact forms and any case accepted; UTF-8, with undecodable
                   bytes kept as surrogate escapes so GB2312 display names survive byte-exact;
                   field count, line length and section size limits.
    core fields    Via (every hop), From, To, Call-ID and CSeq present and well formed in
                   requests and responses; Call-ID, CSeq, From and To repeated with different
                   values is a 400 (RFC 4475 multi01); CSeq method must equal the request
                   method. Max-Forwards is optional (RFC 2543 peers, inv2543).
    body           Content-Length given: the body is cut to it, a shorter body is a 400, two
                   different values are a 400; absent: the rest of the datagram is the body
                   (§18.3). Stream framing (Content-Length mandatory) is framing.py's job.

Everything else (Contact, Expires, Max-Forwards, Require, Date, Accept, ...) is parsed lazily
by whoever reads it, through the typed accessors in fields.py and uri.py.

Normal form, so that ``parse_message(serialize(m)) == m`` for every parsed ``m``: names take
their canonical long spelling, values lose surrounding SP/HTAB, folded lines join with one SP,
the version is "SIP/2.0", and the message carries exactly one Content-Length equal to
``len(body)`` (where the first one stood, or appended when the datagram had none).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from sightline.sip.errors import MessageTooLarge, SipParseError, VersionNotSupported
from sightline.sip.fields import CSeq, NameAddr, Via
from sightline.sip.headers import Headers, canonical_name, split_list
from sightline.sip.message import SIP_VERSION, Request, Response
from sightline.sip.uri import AbsoluteUri, SipUri, parse_any_uri

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "error_response",
    "is_keepalive",
    "parse_message",
    "parse_request_uri",
    "serialize",
]


@dataclass(frozen=True)
class Limits:
    """Size limits applied while parsing; each breach raises MessageTooLarge.

    The defaults accept every valid RFC 4475 message (longreq: 44 lines, longest 593 bytes)
    and GB/T 28181 catalog bodies sent over TCP, and bound memory per message.
    """

    max_message_bytes: int = 1_114_112  # body limit plus 64 KiB of header section
    max_body_bytes: int = 1_048_576
    max_headers: int = 128
    max_line_bytes: int = 8192
    max_header_bytes: int = 65_536  # start line and header fields, without the blank line


DEFAULT_LIMITS = Limits()

_WS = " \t"
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
# Call-ID = word [ "@" word ]
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID = re.compile(f"{_WORD}(?:@{_WORD})?")
_CORE = frozenset(("Via", "From", "To", "Call-ID", "CSeq", "Content-Length"))


def is_keepalive(data: bytes) -> bool:
    """True for a datagram of only CRLFs (a keep-alive some devices send): drop it silently."""
    return bool(data) and not data.strip(b"\r\n")


def parse_message(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one datagram into a Request or Response; raises only SipParseError."""
    try:
        return _parse(data, limits)
    except SipParseError:
        raise
    except (ValueError, LookupError, ArithmeticError) as exc:
        # Anything a decoder or int() raises on hostile input still means "malformed".
        raise SipParseError(f"malformed message: {exc}") from exc


def _parse(data: bytes, limits: Limits) -> Request | Response:
    if len(data) > limits.max_message_bytes:
        raise MessageTooLarge(
            f"message of {len(data)} bytes", status=513, reason="Message Too Large"
        )
    start = _skip_crlfs(data)
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise SipParseError("no empty line after the header section")
    if end - start > limits.max_header_bytes:
        raise MessageTooLarge(
            f"header section of {end - start} bytes", status=513, reason="Message Too Large"
        )
    head = data[start:end].decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    if head.count("\n") >= len(lines) or head.count("\r") >= len(lines):
        raise SipParseError("bare CR or LF in the header section")
    first = lines[0]
    is_response = first[:4].upper() == "SIP/"
    # the start line first, so a bad version is a 505 whatever else is wrong
    status, reason = _status_line(first) if is_response else (0, "")
    method, uri = ("", "") if is_response else _request_line(first)
    fields, core = _parse_fields(lines, limits)
    body = _take_body(data, end + 4, core.get("Content-Length", []), limits)
    headers = Headers.from_canonical(_normalize_content_length(fields, len(body)))
    if is_response:
        _check_core(core, None)
        return Response(status, reason, headers, body)
    _check_core(core, method)
    return Request(method, uri, headers, body)


def _skip_crlfs(data: bytes) -> int:
    """Index of the start line: CRLFs before it are ignored (RFC 3261 §7.5)."""
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    return start


def _parse_fields(
    lines: list[str], limits: Limits
) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """Header lines to (name, value) pairs, plus the values of the core fields by name."""
    fields: list[tuple[str, str]] = []
    max_chars = limits.max_line_bytes // 4  # a char is 1-4 bytes: encode only when it matters
    if max(map(len, lines)) > max_chars:
        for line in lines:
            if len(line.encode("utf-8", "surrogateescape")) > limits.max_line_bytes:
                raise MessageTooLarge(f"line of more than {limits.max_line_bytes} bytes")
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not fields:
                raise SipParseError("continuation line before the first header field")
            name, value = fields[-1]
            more = line.strip(_WS)
            fields[-1] = (name, f"{value} {more}" if value and more else value or more)
            continue
        raw_name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without a colon: {line[:40]!r}")
        fields.append((_field_name(raw_name), value.strip(_WS)))
    if len(fields) > limits.max_headers:
        raise MessageTooLarge(f"more than {limits.max_headers} header fields")
    core: dict[str, list[str]] = {}
    for name, value in fields:
        if name in _CORE:
            core.setdefault(name, []).append(value)
    return fields, core


@lru_cache(maxsize=1024)
def _field_name(raw: str) -> str:
    """Canonical name of a header field; raises for a name that is not a token."""
    name = raw.rstrip(_WS)  # HCOLON = *( SP / HTAB ) ":" SWS
    if _TOKEN.fullmatch(name) is None:
        raise SipParseError(f"bad header field name {raw[:40]!r}")
    return canonical_name(name)


def _take_body(data: bytes, body_start: int, lengths: list[str], limits: Limits) -> bytes:
    available = len(data) - body_start
    if lengths:
        length = _content_length(lengths)
        if length > available:
            raise SipParseError(f"body of {available} bytes, Content-Length says {length}")
    else:
        length = available  # no Content-Length on a datagram: the rest is the body (§18.3)
    if length > limits.max_body_bytes:
        raise MessageTooLarge(
            f"body of {length} bytes", status=413, reason="Request Entity Too Large"
        )
    return data[body_start : body_start + length]


def _content_length(values: list[str]) -> int:
    """The one Content-Length value; several that disagree are an error (RFC 4475 mcl01)."""
    lengths = set()
    for value in values:
        # isascii: str.isdigit() accepts other scripts' digits; 10 digits is already > 4 GiB
        if not (value.isascii() and value.isdigit() and len(value) <= 10):
            raise SipParseError(f"bad Content-Length {value[:20]!r}")
        lengths.add(int(value))
    if len(lengths) > 1:
        raise SipParseError(f"conflicting Content-Length values {sorted(lengths)}")
    return lengths.pop()


def _normalize_content_length(fields: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    written = False
    for name, value in fields:
        if name == "Content-Length":
            if not written:
                out.append((name, str(length)))
                written = True
        else:
            out.append((name, value))
    if not written:
        out.append(("Content-Length", str(length)))
    return out


def _check_version(version: str) -> None:
    if version.upper() == SIP_VERSION:
        return
    if _VERSION.fullmatch(version):
        raise VersionNotSupported(f"unsupported version {version!r}")
    raise SipParseError(f"bad SIP version {version[:20]!r}")


def _status_line(line: str) -> tuple[int, str]:
    """Status-Line = SIP-Version SP Status-Code SP Reason-Phrase."""
    version, _, rest = line.partition(" ")
    _check_version(version)
    code, _, reason = rest.partition(" ")  # a missing SP before an empty reason is tolerated
    if not (len(code) == 3 and code.isascii() and code.isdigit() and 100 <= int(code) <= 699):
        raise SipParseError(f"bad status code {code[:20]!r}")
    return int(code), reason


def _request_line(line: str) -> tuple[str, str]:
    """Request-Line = Method SP Request-URI SP SIP-Version."""
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError(f"bad request line {line[:80]!r}")
    method, uri, version = parts
    _check_version(version)
    if _TOKEN.fullmatch(method) is None:
        raise SipParseError(f"bad method {method[:40]!r}")
    if not (uri.isascii() and uri.isprintable()):
        raise SipParseError(f"bad Request-URI {uri[:80]!r}")
    parsed = parse_request_uri(uri)
    if isinstance(parsed, SipUri) and parsed.headers:
        raise SipParseError(f"headers in Request-URI {uri[:80]!r}")
    return method, uri


# Most requests a node receives name one of a handful of URIs (its own ID), and the URI is read
# again by the UAS checks: memoize (the parsed URIs are frozen; bounded, the text is remote).
@lru_cache(maxsize=1024)
def parse_request_uri(text: str) -> SipUri | AbsoluteUri:
    """``parse_any_uri``, memoized: the Request-URI of most requests is one of a few."""
    return parse_any_uri(text)


def _check_core(core: dict[str, list[str]], method: str | None) -> None:
    """The fields every request and response needs (RFC 3261 §8.1.1, §20)."""
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        values = core.get(name)
        if not values:
            raise SipParseError(f"missing {name} header field")
        if name != "Via" and len(values) > 1 and len(set(values)) > 1:
            raise SipParseError(f"{name} appears with different values")
    hops = [hop for value in core["Via"] for hop in split_list(value)]
    if not hops:
        raise SipParseError("empty Via header field")
    for hop in hops:
        Via.parse(hop)
    NameAddr.parse(core["From"][0])
    NameAddr.parse(core["To"][0])
    call_id = core["Call-ID"][0]
    if _CALL_ID.fullmatch(call_id) is None:
        raise SipParseError(f"bad Call-ID {call_id[:80]!r}")
    cseq = CSeq.parse(core["CSeq"][0])
    if method is not None and cseq.method != method:
        raise SipParseError(f"CSeq method {cseq.method!r} does not match {method!r}")


def serialize(message: Request | Response) -> bytes:
    """Wire form: long names, CRLF line ends and exactly one correct Content-Length."""
    if isinstance(message, Request):
        start = f"{message.method} {message.uri} {message.version}"
    else:
        start = f"{message.version} {message.status} {message.reason}"
    lines = [start]
    length_written = False
    for name, value in message.headers:
        if name != "Content-Length":
            lines.append(f"{name}: {value}")
        elif not length_written:
            lines.append(f"Content-Length: {len(message.body)}")
            length_written = True
    if not length_written:
        lines.append(f"Content-Length: {len(message.body)}")
    lines += ["", ""]
    text = "\r\n".join(lines)
    if text.count("\n") != len(lines) - 1 or text.count("\r") != len(lines) - 1:
        # a CR or LF inside a value would inject header fields into the message
        raise ValueError("CR or LF inside the start line or a header field")
    return text.encode("utf-8", "surrogateescape") + message.body


# --- answering what did not parse ------------------------------------------------------


def error_response(data: bytes, error: SipParseError) -> Response | None:
    """Best-effort response with ``error.status`` to a request that failed to parse.

    Via, From, To, Call-ID and CSeq are taken leniently from the raw bytes; None when the data
    is a response, has no request line, or lacks one of those (the caller drops and logs).
    The response carries a Warning (399) naming the problem.
    """
    found = _lenient_fields(data)
    if found is None:
        return None
    first, fields = found
    parts = first.split()
    if len(parts) < 2 or parts[0][:4].upper() == "SIP/" or not _TOKEN.fullmatch(parts[0]):
        return None
    vias = _usable_vias(fields.get_list("Via"))
    from_ = fields.get("From")
    to = fields.get("To")
    call_id = fields.get("Call-ID")
    cseq = fields.get("CSeq")
    if not (vias and from_ and to and call_id and cseq and _lenient_cseq(cseq)):
        return None
    headers = Headers([("Via", hop) for hop in vias])
    headers.add("From", from_)
    headers.add("To", _with_to_tag(to, f"{call_id} {from_} {vias[0]}"))
    headers.add("Call-ID", call_id)
    headers.add("CSeq", cseq)
    headers.add("Warning", f'399 sightline "{_warning_text(str(error))}"')
    return Response(error.status, error.reason, headers)


def _lenient_fields(data: bytes) -> tuple[str, Headers] | None:
    start = _skip_crlfs(data)
    limit = start + DEFAULT_LIMITS.max_header_bytes  # a bounded look, whatever the input
    end = data.find(b"\r\n\r\n", start, limit)
    raw = data[start : end if end >= 0 else limit]
    lines = [line.rstrip("\r") for line in raw.decode("utf-8", "surrogateescape").split("\n")]
    if not lines[0]:
        return None
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip(_WS)}".strip(_WS))
            continue
        name, colon, value = line.partition(":")
        name = name.strip(_WS)
        if colon and _TOKEN.fullmatch(name):
            fields.append((name, value.strip(_WS)))
    return lines[0], Headers(fields)


def _usable_vias(hops: list[str]) -> list[str]:
    """The Via hops from the top down to the first one that does not parse."""
    usable: list[str] = []
    for hop in hops:
        try:
            Via.parse(hop)
        except SipParseError:
            break
        usable.append(hop)
    return usable


def _lenient_cseq(value: str) -> bool:
    # the number may be out of range (RFC 4475 scalar02): the client still matches on it
    parts = value.split()
    return (
        len(parts) == 2
        and parts[0].isascii()
        and parts[0].isdigit()
        and _TOKEN.fullmatch(parts[1]) is not None
    )


def _with_to_tag(to: str, seed: str) -> str:
    """Add a To tag derived from the request, so retransmissions get the same response."""
    try:
        address = NameAddr.parse(to)
    except SipParseError:
        return to
    if address.tag is not None:
        return to
    tag = hashlib.blake2s(seed.encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()
    return str(address.with_param("tag", tag))


def _warning_text(message: str) -> str:
    """The error text as a safe quoted-string body: printable ASCII, no quotes, bounded."""
    safe = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "?" for c in message
    )
    return safe[:120]
