"""SDP (RFC 4566) as GB/T 28181 devices write it: frozen dataclasses, ``parse`` and ``__bytes__``.

GB/T 28181 Annex F (2016) / G (2022) adds two line types to RFC 4566: ``y=`` (the SSRC as a decimal
string) and ``f=`` (the media description, see :mod:`sightline.gb28181.invite`). Devices put them
at the end, after the media section, so a strict parser would give them to the last ``m=``; here
they belong to the session, wherever they appear, and :meth:`SessionDescription.__bytes__` writes
them last, as the standard's examples do.

What devices do and this parser accepts (it raises :class:`SdpError` only for what is unusable):

* LF, CRLF or CR line ends, a body without a final line end, blank lines, trailing NULs;
* whitespace around values and around ``=`` (``y = 0100000001`` in the standard's own text);
* missing ``v=``, ``o=``, ``s=``, ``t=`` or ``c=`` lines, and lines in a non-RFC order;
* session names such as ``s=EmbeddedNetDVR`` or ``s=Embedded Net DVR`` instead of ``Play``;
* UTF-8 or, failing that, GB 18030 text (Chinese session names);
* ``a=`` attributes with or without a value (``a=recvonly``, ``a=filesize:-1``, ``a=filesize:``);
* unknown line types (``i=``, ``e=``, ``k=``...), kept in order so nothing is lost.

Values are stored stripped; :meth:`SessionDescription.__bytes__` refuses values it could not write
back (line breaks, NUL), so ``parse(bytes(x)) == x`` for every description it accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sightline.gb28181.errors import Gb28181Error

__all__ = [
    "DEFAULT_LIMITS",
    "Attribute",
    "Connection",
    "Media",
    "Origin",
    "SdpError",
    "SdpLimits",
    "SessionDescription",
    "SessionName",
    "Timing",
    "parse",
]


class SdpError(Gb28181Error, ValueError):
    """An SDP body cannot be parsed or written; ``line`` is the 1-based line number if known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


class SessionName(StrEnum):
    """``s=`` values GB/T 28181 defines (``Talk`` is 2016 only)."""

    PLAY = "Play"
    PLAYBACK = "Playback"
    DOWNLOAD = "Download"
    TALK = "Talk"


@dataclass(frozen=True, slots=True)
class SdpLimits:
    """Bounds on what :func:`parse` accepts, so a hostile peer cannot make it work hard."""

    max_bytes: int = 16 * 1024
    max_lines: int = 256
    max_media: int = 8


DEFAULT_LIMITS = SdpLimits()


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>``."""

    username: str
    session_id: str
    session_version: str
    address: str
    net_type: str = "IN"
    addr_type: str = "IP4"


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <address>``; ``address`` may carry ``/ttl`` as written."""

    address: str
    net_type: str = "IN"
    addr_type: str = "IP4"


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=<start> <stop>``; GB/T 28181 writes Unix seconds here, not NTP seconds."""

    start: int = 0
    stop: int = 0


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=<name>`` (``value`` None) or ``a=<name>:<value>``."""

    name: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """One ``m=<media> <port>[/<count>] <proto> <fmt>...`` section and its lines."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...] = ()
    port_count: int | None = None
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    other: tuple[tuple[str, str], ...] = ()

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=name`` (``""`` for a flag), or None when absent."""
        for attr in self.attributes:
            if attr.name.lower() == name.lower():
                return "" if attr.value is None else attr.value
        return None

    def rtpmap(self) -> dict[int, str]:
        """``a=rtpmap`` as payload type → ``encoding/clock[/params]``; malformed entries skipped."""
        result: dict[int, str] = {}
        for attr in self.attributes:
            if attr.name.lower() != "rtpmap" or not attr.value:
                continue
            pt, _, encoding = attr.value.partition(" ")
            if pt.isascii() and pt.isdigit() and encoding.strip():
                result.setdefault(int(pt), encoding.strip())
        return result


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body; ``ssrc`` and ``media_format`` are the GB ``y=`` and ``f=`` lines."""

    origin: Origin | None = None
    session_name: str | None = None
    uri: str | None = None
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    timings: tuple[Timing, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    media: tuple[Media, ...] = ()
    ssrc: str | None = None
    media_format: str | None = None
    other: tuple[tuple[str, str], ...] = ()
    version: int = 0

    @property
    def timing(self) -> Timing | None:
        """The first ``t=`` line, or None."""
        return self.timings[0] if self.timings else None

    def attribute(self, name: str) -> str | None:
        """A session-level ``a=name`` value, as :meth:`Media.attribute`."""
        return Media("", 0, "", attributes=self.attributes).attribute(name)

    def __bytes__(self) -> bytes:
        """The body with CRLF line ends, in RFC 4566 order, ``y=``/``f=`` last."""
        text = "".join(f"{kind}={value}\r\n" for kind, value in _lines(self))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SdpError("a value holds a lone surrogate and cannot be encoded") from exc


# --- serialising -------------------------------------------------------------------------------

_BAD_VALUE = re.compile(r"[\r\n\x00]")
_SPACE = re.compile(r"\s")


def _value(kind: str, value: str) -> tuple[str, str]:
    if _BAD_VALUE.search(value) or value != value.strip():
        raise SdpError(f"{kind}= value {value!r} cannot be written as one SDP line")
    return kind, value


def _token(text: str, what: str) -> str:
    if not text or _SPACE.search(text) or _BAD_VALUE.search(text):
        raise SdpError(f"{what} {text!r} must be one non-empty token")
    return text


def _attr_text(attr: Attribute) -> str:
    if ":" in attr.name:
        raise SdpError(f"attribute name {attr.name!r} contains ':'")
    name = _token(attr.name, "attribute name")
    return name if attr.value is None else f"{name}:{attr.value}"


def _connection_text(conn: Connection) -> str:
    parts = (conn.net_type, conn.addr_type, conn.address)
    return " ".join(_token(p, "c= field") for p in parts)


def _origin_text(o: Origin) -> str:
    parts = (o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address)
    return " ".join(_token(p, "o= field") for p in parts)


def _number(value: int, what: str, maximum: int) -> str:
    if not 0 <= value <= maximum:
        raise SdpError(f"{what} {value} is outside 0..{maximum}")
    return str(value)


def _lines(sdp: SessionDescription) -> list[tuple[str, str]]:
    out = [("v", _number(sdp.version, "version", 9))]
    if sdp.origin is not None:
        out.append(("o", _origin_text(sdp.origin)))
    if sdp.session_name is not None:
        out.append(("s", sdp.session_name))
    out.extend(_other(sdp.other))
    if sdp.uri is not None:
        out.append(("u", sdp.uri))
    if sdp.connection is not None:
        out.append(("c", _connection_text(sdp.connection)))
    out.extend(("b", b) for b in sdp.bandwidths)
    out.extend(
        ("t", f"{_number(t.start, 't=', _T_MAX)} {_number(t.stop, 't=', _T_MAX)}")
        for t in sdp.timings
    )
    out.extend(("a", _attr_text(a)) for a in sdp.attributes)
    for media in sdp.media:
        out.extend(_media_lines(media))
    if sdp.ssrc is not None:
        out.append(("y", sdp.ssrc))
    if sdp.media_format is not None:
        out.append(("f", sdp.media_format))
    return [_value(kind, value) for kind, value in out]


def _other(lines: tuple[tuple[str, str], ...], *, media: bool = False) -> list[tuple[str, str]]:
    for kind, _ in lines:
        misplaced = media and kind in _SESSION_ONLY
        if len(kind) != 1 or not "a" <= kind <= "z" or kind in _KNOWN or misplaced:
            raise SdpError(f"{kind!r} cannot be written as an extra line type")
    return list(lines)


def _media_lines(media: Media) -> list[tuple[str, str]]:
    port = _number(media.port, "port", 65535)
    if media.port_count is not None:
        port = f"{port}/{_number(media.port_count, 'port count', 65535)}"
    words = (_token(media.kind, "media"), port, _token(media.proto, "proto"))
    out = [("m", " ".join((*words, *(_token(f, "format") for f in media.formats))))]
    out.extend(_other(media.other, media=True))
    if media.connection is not None:
        out.append(("c", _connection_text(media.connection)))
    out.extend(("b", b) for b in media.bandwidths)
    out.extend(("a", _attr_text(a)) for a in media.attributes)
    return out


# --- parsing -----------------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DIGITS = re.compile(r"[0-9]{1,20}")
_T_MAX = 10**20 - 1
# Line types that only exist at session level; after an m= line they still go to the session.
_SESSION_ONLY = frozenset("vosueptrzyf")
# Line types with a field of their own, never kept in ``other``.
_KNOWN = frozenset("vosuctbamyf")


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise SdpError("body is neither UTF-8 nor GB 18030 text") from exc


def _int(text: str, what: str, line: int, maximum: int = _T_MAX) -> int:
    if not _DIGITS.fullmatch(text):
        raise SdpError(f"{what} {text!r} is not a decimal number", line=line)
    value = int(text)
    if value > maximum:
        raise SdpError(f"{what} {value} is over {maximum}", line=line)
    return value


def _words(value: str, count: int, what: str, line: int) -> list[str]:
    parts = value.split()
    if len(parts) != count:
        raise SdpError(f"malformed {what} {value!r}", line=line)
    return parts


def _origin(value: str, line: int) -> Origin:
    user, sid, version, net, addr_type, address = _words(value, 6, "o= line", line)
    return Origin(user, sid, version, address, net, addr_type)


def _connection(value: str, line: int) -> Connection:
    net, addr_type, address = _words(value, 3, "c= line", line)
    return Connection(address, net, addr_type)


def _timing(value: str, line: int) -> Timing:
    start, stop = _words(value, 2, "t= line", line)
    return Timing(_int(start, "t= start", line), _int(stop, "t= stop", line))


def _attribute(value: str, line: int) -> Attribute:
    name, sep, rest = value.partition(":")
    name = name.strip()
    if not name or _SPACE.search(name):
        raise SdpError(f"malformed attribute {value!r}", line=line)
    return Attribute(name, rest.strip() if sep else None)


def _media(value: str, line: int) -> Media:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"m= line needs media, port and proto: {value!r}", line=line)
    kind, port_text, proto, *formats = parts
    port, slash, count = port_text.partition("/")
    port_count = _int(count, "port count", line, 65535) if slash else None
    return Media(kind, _int(port, "port", line, 65535), proto, tuple(formats), port_count)


@dataclass
class _Builder:
    """Mutable collector for one pass over the lines."""

    limits: SdpLimits
    session: dict[str, Any] = field(default_factory=dict)
    attributes: list[Attribute] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)
    bandwidths: list[str] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)

    def add_media(self, media: Media, line: int) -> None:
        if len(self.media) >= self.limits.max_media:
            raise SdpError(f"more than {self.limits.max_media} m= sections", line=line)
        self.media.append(media)

    def media_line(self, kind: str, value: str, line: int) -> None:
        current = self.media[-1]
        if kind == "c":
            self.media[-1] = replace(current, connection=_connection(value, line))
        elif kind == "a":
            attrs = (*current.attributes, _attribute(value, line))
            self.media[-1] = replace(current, attributes=attrs)
        elif kind == "b":
            self.media[-1] = replace(current, bandwidths=(*current.bandwidths, value))
        else:
            self.media[-1] = replace(current, other=(*current.other, (kind, value)))

    def session_line(self, kind: str, value: str, line: int) -> None:
        if kind == "a":
            self.attributes.append(_attribute(value, line))
        elif kind == "t":
            self.timings.append(_timing(value, line))
        elif kind == "b":
            self.bandwidths.append(value)
        elif kind in _ONCE:
            # Devices occasionally repeat a line (two y= lines); the first one wins.
            name, convert = _ONCE[kind]
            if name not in self.session:
                self.session[name] = convert(value, line)
        else:
            self.other.append((kind, value))

    def build(self) -> SessionDescription:
        return replace(
            SessionDescription(),
            **self.session,
            bandwidths=tuple(self.bandwidths),
            timings=tuple(self.timings),
            attributes=tuple(self.attributes),
            media=tuple(self.media),
            other=tuple(self.other),
        )


def _text(value: str, line: int) -> str:
    return value


def _version(value: str, line: int) -> int:
    return _int(value, "v= version", line, 9)


_ONCE: dict[str, tuple[str, Callable[[str, int], object]]] = {
    "v": ("version", _version),
    "o": ("origin", _origin),
    "s": ("session_name", _text),
    "u": ("uri", _text),
    "c": ("connection", _connection),
    "y": ("ssrc", _text),
    "f": ("media_format", _text),
}


def parse(data: bytes | str, limits: SdpLimits = DEFAULT_LIMITS) -> SessionDescription:
    """Parse an SDP body; raises :class:`SdpError` (and nothing else) on what it cannot use."""
    if len(data) > limits.max_bytes:
        raise SdpError(f"body of {len(data)} bytes is over the {limits.max_bytes}-byte limit")
    lines = _LINE_BREAK.split(_decode(data).rstrip("\x00 \t\r\n"))
    if len(lines) > limits.max_lines:
        raise SdpError(f"{len(lines)} lines is over the limit of {limits.max_lines}")
    builder = _Builder(limits)
    seen = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        kind, sep, value = raw.partition("=")
        kind = kind.strip().lower()
        if not sep or len(kind) != 1 or not "a" <= kind <= "z":
            raise SdpError(f"not an SDP line: {raw[:40]!r}", line=number)
        value = value.strip()
        if "\x00" in value:
            raise SdpError("NUL inside a line", line=number)
        seen += 1
        if kind == "m":
            builder.add_media(_media(value, number), number)
        elif builder.media and kind not in _SESSION_ONLY:
            builder.media_line(kind, value, number)
        else:
            builder.session_line(kind, value, number)
    if not seen:
        raise SdpError("empty body")
    return builder.build()
