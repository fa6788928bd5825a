"""RTSP 1.0 (RFC 2326) for the server side, sans-IO: message codec, URLs, transports, sessions.

Grammar read (RFC 2326 §6, §7, §12.39)::

    Request       = Request-Line *( header CRLF ) CRLF [ message-body ]
    Request-Line  = Method SP Request-URI SP RTSP-Version CRLF
    Status-Line   = RTSP-Version SP Status-Code SP Reason-Phrase CRLF
    header        = field-name ":" [ field-value ]     (no line folding: rejected)
    interleaved   = "$" channel(1) length(2) data      (§10.12, between messages on TCP)

``RtspReader`` cuts requests and interleaved frames out of a byte stream with hard limits;
input it cannot frame raises ``RtspParseError`` carrying the status to answer (400, 413,
505) after which the connection is closed. A request that frames but is meaningless (unknown
method, missing CSeq) parses, and ``rtsp_session.RtspSession`` answers it (501, 400).

The session state machine, request URLs and transports are in ``rtsp_session``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from sightline.media.errors import MediaError

__all__ = [
    "PUBLIC",
    "REASONS",
    "SUPPORTED",
    "InterleavedFrame",
    "Method",
    "RtspError",
    "RtspParseError",
    "RtspReader",
    "RtspRequest",
    "RtspResponse",
    "parse_response",
]

MAX_HEAD_BYTES = 8192
MAX_BODY_BYTES = 4096
MAX_HEADERS = 64
VERSION = "RTSP/1.0"

# token = 1*<any CHAR except CTLs or tspecials> (RFC 2326 §15.1, as in HTTP/1.1)
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rf"({_TOKEN}) (\S+) (RTSP/\d\.\d)")
_STATUS_LINE = re.compile(r"(RTSP/\d\.\d) (\d{3}) ([^\x00-\x08\x0a-\x1f\x7f]*)")
_HEADER_NAME = re.compile(_TOKEN)

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "RTSP Version Not Supported",
}


class RtspError(MediaError):
    """Base class of RTSP errors."""


class RtspParseError(RtspError):
    """Input that cannot be framed or understood; ``status`` is what to answer before closing."""

    def __init__(self, message: str, *, status: int = 400, cseq: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.cseq = cseq


class Method(enum.StrEnum):
    """RTSP methods this server knows; others parse and are answered 501."""

    OPTIONS = "OPTIONS"
    DESCRIBE = "DESCRIBE"
    SETUP = "SETUP"
    PLAY = "PLAY"
    PAUSE = "PAUSE"
    TEARDOWN = "TEARDOWN"
    GET_PARAMETER = "GET_PARAMETER"
    SET_PARAMETER = "SET_PARAMETER"
    ANNOUNCE = "ANNOUNCE"
    RECORD = "RECORD"
    REDIRECT = "REDIRECT"


SUPPORTED = (
    Method.OPTIONS,
    Method.DESCRIBE,
    Method.SETUP,
    Method.PLAY,
    Method.PAUSE,
    Method.TEARDOWN,
    Method.GET_PARAMETER,
)
PUBLIC = ", ".join(SUPPORTED)


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers if k.lower() == wanted), None)


def _serialise(start: str, headers: tuple[tuple[str, str], ...], body: bytes) -> bytes:
    lines = [start, *(f"{k}: {v}" for k, v in headers)]
    if body and _header(headers, "Content-Length") is None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


@dataclass(frozen=True, slots=True)
class RtspRequest:
    """One request; ``headers`` in wire order, names as sent."""

    method: str
    uri: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header, matched case-insensitively."""
        return _header(self.headers, name)

    @property
    def cseq(self) -> int | None:
        """The CSeq as a number; None when missing or not a number."""
        return _cseq(self.header("CSeq"))

    def __bytes__(self) -> bytes:
        return _serialise(f"{self.method} {self.uri} {VERSION}", self.headers, self.body)


@dataclass(frozen=True, slots=True)
class RtspResponse:
    """One response."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header, matched case-insensitively."""
        return _header(self.headers, name)

    def __bytes__(self) -> bytes:
        return _serialise(f"{VERSION} {self.status} {self.reason}", self.headers, self.body)


@dataclass(frozen=True, slots=True)
class InterleavedFrame:
    """An RTP/RTCP packet sent on the RTSP connection (RFC 2326 §10.12)."""

    channel: int
    data: bytes

    def __bytes__(self) -> bytes:
        if not 0 <= self.channel <= 255 or len(self.data) > 0xFFFF:
            raise RtspError("interleaved frame channel or length out of range")
        return b"$" + bytes((self.channel,)) + len(self.data).to_bytes(2, "big") + self.data


def _cseq(value: str | None) -> int | None:
    if value is None or not value.strip().isascii() or not value.strip().isdigit():
        return None
    number = int(value.strip())
    return number if number < 1 << 32 else None


def _parse_head(head: bytes) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Start line and headers of a message head (without the blank line)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise RtspParseError("message head is not UTF-8") from None
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    if len(lines) - 1 > MAX_HEADERS:
        raise RtspParseError(f"more than {MAX_HEADERS} headers")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise RtspParseError(f"malformed header line {line[:40]!r}")
        value = value.strip(" \t")
        if any((c < " " and c != "\t") or c == "\x7f" for c in value):
            raise RtspParseError(f"control character in header {name}")
        headers.append((name, value))
    return lines[0], tuple(headers)


def _content_length(headers: tuple[tuple[str, str], ...], cseq: int | None) -> int:
    value = _header(headers, "Content-Length")
    if value is None:
        return 0
    if not value.isascii() or not value.isdigit():
        raise RtspParseError(f"Content-Length {value[:20]!r} is not a number", cseq=cseq)
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise RtspParseError(f"body of {length} bytes is too large", status=413, cseq=cseq)
    return length


def _parse_request_head(head: bytes) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    start, headers = _parse_head(head)
    cseq = _cseq(_header(headers, "CSeq"))
    match = _REQUEST_LINE.fullmatch(start)
    if match is None:
        raise RtspParseError(f"malformed request line {start[:60]!r}", cseq=cseq)
    method, uri, version = match.groups()
    if version != VERSION:
        raise RtspParseError(f"{version} is not supported", status=505, cseq=cseq)
    return method, uri, headers


def parse_response(data: bytes) -> RtspResponse:
    """Parse one complete response (head and body); for clients and tests."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise RtspParseError("response head is not terminated")
    start, headers = _parse_head(head)
    match = _STATUS_LINE.fullmatch(start)
    if match is None or match.group(1) != VERSION:
        raise RtspParseError(f"malformed status line {start[:60]!r}")
    length = _content_length(headers, None)
    if len(body) != length:
        raise RtspParseError(f"body of {len(body)} bytes, Content-Length says {length}")
    return RtspResponse(int(match.group(2)), match.group(3), headers, body)


@dataclass(slots=True)
class RtspReader:
    """Bytes from a client in; requests and interleaved frames out, in order."""

    _buf: bytearray = field(default_factory=bytearray)
    _pending: tuple[str, str, tuple[tuple[str, str], ...], int] | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for an incomplete message (bounded by the limits)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[RtspRequest | InterleavedFrame]:
        """Add bytes; return what they complete. RtspParseError means: answer, then close."""
        self._buf += data
        out: list[RtspRequest | InterleavedFrame] = []
        while (item := self._next()) is not None:
            out.append(item)
        return out

    def _next(self) -> RtspRequest | InterleavedFrame | None:
        buf = self._buf
        if self._pending is not None:
            return self._body()
        while buf[:1] == b"\r" or buf[:1] == b"\n":
            del buf[:1]  # stray line ends between messages are allowed (RFC 2326 §15.1)
        if buf[:1] == b"$":
            if len(buf) < 4:
                return None
            size = int.from_bytes(buf[2:4], "big")
            if len(buf) < 4 + size:
                return None
            frame = InterleavedFrame(buf[1], bytes(buf[4 : 4 + size]))
            del buf[: 4 + size]
            return frame
        end, sep_len = _head_end(buf)
        if end < 0:
            if len(buf) > MAX_HEAD_BYTES:
                raise RtspParseError("request head too large", status=413)
            return None
        if end > MAX_HEAD_BYTES:
            raise RtspParseError("request head too large", status=413)
        method, uri, headers = _parse_request_head(bytes(buf[:end]))
        del buf[: end + sep_len]
        length = _content_length(headers, _cseq(_header(headers, "CSeq")))
        self._pending = (method, uri, headers, length)
        return self._body()

    def _body(self) -> RtspRequest | None:
        assert self._pending is not None
        method, uri, headers, length = self._pending
        if len(self._buf) < length:
            return None
        body = bytes(self._buf[:length])
        del self._buf[:length]
        self._pending = None
        return RtspRequest(method, uri, headers, body)


def _head_end(buf: bytearray) -> tuple[int, int]:
    crlf = buf.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
    lf = buf.find(b"\n\n", 0, MAX_HEAD_BYTES + 2)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf, 2
    return crlf, 4
