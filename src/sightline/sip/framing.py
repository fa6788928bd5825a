"""Cutting SIP messages out of a TCP/TLS byte stream (RFC 3261 §7.5, §18.3; RFC 5626 §3.5.1).

On a stream every message must carry Content-Length: the header section ends at the first
empty line, and the body is exactly Content-Length bytes. The framer reads Content-Length
itself (compact "l", any case, folded, repeated with the same value), then hands the cut-out
message to ``parse_message``. Two kinds of failure:

    the message is framed but does not parse   feed() yields a FramedParseError for it and
                                               carries on with the next message;
    the framing itself is lost                 no empty line within ``max_header_bytes``,
                                               Content-Length missing, malformed, negative,
                                               conflicting or over ``max_body_bytes``: feed()
                                               yields one FramedParseError, ``broken``
                                               becomes True, and every later feed() returns
                                               nothing. The transport closes the connection.

Keep-alives: CRLFs between messages are skipped (RFC 3261 §7.5). A double CRLF is an RFC 5626
ping, counted in ``pings`` (the transport answers each with a single CRLF "pong"); a single
CRLF is a pong, counted in ``pongs``. Compare the counters before and after feed().

Cost is linear in the bytes fed: the search for the empty line resumes where it stopped,
and consumed bytes are dropped from the buffer once per feed() call, not once per message.
"""

from __future__ import annotations

import re

from sightline.sip.errors import MessageTooLarge, SipParseError
from sightline.sip.message import Request, Response
from sightline.sip.parser import DEFAULT_LIMITS, Limits, parse_message

__all__ = ["FramedParseError", "StreamFramer"]

# A Content-Length field line (long or compact name), with any folded continuation lines.
# Only lines after a CRLF match, so the start line never does; the pieces never overlap, so
# the search stays linear.
_CONTENT_LENGTH = re.compile(
    rb"\r\n(?:content-length|l)[ \t]*:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", re.IGNORECASE
)


_PING = b"\r\n\r\n"


class FramedParseError(SipParseError):
    """A SipParseError from the stream, with the raw bytes it concerns.

    ``cause`` is the original error (e.g. VersionNotSupported); ``status``/``reason`` are
    copied from it; ``raw`` feeds ``parser.error_response`` to answer the sender.
    """

    def __init__(self, cause: SipParseError, raw: bytes) -> None:
        super().__init__(str(cause), status=cause.status, reason=cause.reason)
        self.cause = cause
        self.raw = raw
        self.__cause__ = cause


class StreamFramer:
    """Incremental framer for one stream connection: bytes in, messages out, no I/O."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.broken = False
        self.pings = 0
        self.pongs = 0
        self._buf = bytearray()
        self._pos = 0  # start of the first byte not yet consumed
        self._scan = 0  # where the search for the empty line resumes
        self._body_start = -1  # >= 0 once the current message's header section is complete
        self._length = 0  # its Content-Length
        self._error: FramedParseError | None = None  # the error that broke the framing

    def feed(self, data: bytes) -> list[Request | Response | SipParseError]:
        """Add received bytes; return every message completed by them, in order."""
        if self.broken:
            return []
        self._buf += data
        out: list[Request | Response | SipParseError] = []
        while not self.broken:
            item = self._next()
            if item is None:
                break
            out.append(item)
        self._compact()
        return out

    def _next(self) -> Request | Response | SipParseError | None:
        if self._body_start < 0 and not self._read_head():
            return None
        if self.broken:
            return self._error
        end = self._body_start + self._length
        if len(self._buf) < end:
            return None
        raw = bytes(self._buf[self._pos : end])
        self._pos = self._scan = end
        self._body_start = -1
        try:
            return parse_message(raw, self.limits)
        except SipParseError as exc:
            return FramedParseError(exc, raw)

    def _read_head(self) -> bool:
        """Find the end of the next header section; True once it and the length are known."""
        if not self._skip_keepalives():
            return False
        buf, pos, limit = self._buf, self._pos, self.limits.max_header_bytes
        end = buf.find(b"\r\n\r\n", max(self._scan, pos))
        if end < 0:
            self._scan = max(pos, len(buf) - 3)
            if len(buf) - pos > limit:
                self._break(MessageTooLarge("no end of header section"), buf[pos : pos + limit])
                return True
            return False
        head = bytes(buf[pos:end])
        if end - pos > limit:
            self._break(MessageTooLarge("header section too large"), head[:limit])
            return True
        try:
            self._length = self._content_length(head)
        except SipParseError as exc:
            self._break(exc, head)
            return True
        self._body_start = end + 4
        return True

    def _content_length(self, head: bytes) -> int:
        lengths = set()
        for raw in _CONTENT_LENGTH.findall(head):
            value = b" ".join(raw.split())  # bytes.isdigit() is ASCII-only
            if not (value.isdigit() and len(value) <= 10):
                raise SipParseError(f"bad Content-Length {value[:20]!r}")
            lengths.add(int(value))
        if not lengths:
            raise SipParseError("no Content-Length on a stream transport (RFC 3261 §18.3)")
        if len(lengths) > 1:
            raise SipParseError("conflicting Content-Length values")
        length = lengths.pop()
        if length > self.limits.max_body_bytes:
            raise MessageTooLarge(
                f"body of {length} bytes", status=413, reason="Request Entity Too Large"
            )
        if len(head) + 4 + length > self.limits.max_message_bytes:
            raise MessageTooLarge(
                f"message of {len(head) + 4 + length} bytes", status=513, reason="Message Too Large"
            )
        return length

    def _skip_keepalives(self) -> bool:
        """Consume CRLFs before a start line; False while a partial CRLF leaves it open."""
        buf, pos = self._buf, self._pos
        while True:
            rest = len(buf) - pos
            if buf.startswith(b"\r\n\r\n", pos):
                self.pings += 1
                pos += 4
            elif 0 < rest < 4 and _PING.startswith(buf[pos:]):
                self._pos = pos  # "\r", "\r\n" or "\r\n\r": a ping or a pong, wait and see
                return False
            elif buf.startswith(b"\r\n", pos):
                self.pongs += 1
                pos += 2
            else:
                self._pos = pos
                return True

    def _break(self, cause: SipParseError, raw: bytes | bytearray) -> None:
        self.broken = True
        self._error = FramedParseError(cause, bytes(raw))

    def _compact(self) -> None:
        if self.broken:
            self._buf = bytearray()
            self._pos = self._scan = 0
        elif self._pos:
            del self._buf[: self._pos]
            self._scan = max(0, self._scan - self._pos)
            if self._body_start >= 0:
                self._body_start -= self._pos
            self._pos = 0
