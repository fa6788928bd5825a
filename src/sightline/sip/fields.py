"""Typed views of the header fields the stack itself relies on: Via, CSeq, From/To/Contact.

Each type is a frozen dataclass with a ``parse`` classmethod raising ``SipParseError`` and a
``__str__`` giving the wire form.  Parameters keep their order; names compare case-insensitively.

ABNF (RFC 3261 §25.1, RFC 5118 for IPv6 references):
    via-parm   = sent-protocol LWS sent-by *( SEMI via-params )
    sent-by    = host [ COLON port ]
    host       = hostname / IPv4address / IPv6reference
    CSeq       = "CSeq" HCOLON 1*DIGIT LWS Method
    name-addr  = [ display-name ] LAQUOT addr-spec RAQUOT
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sightline.sip.errors import SipParseError

__all__ = [
    "CSeq",
    "NameAddr",
    "Params",
    "Via",
    "format_params",
    "parse_params",
    "remember_via",
    "split_host_port",
]

Params = tuple[tuple[str, str | None], ...]

# \Z, not $: "$" would also accept a trailing newline
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_METHOD = _TOKEN
_MAX_CSEQ = 2**31 - 1
# quoted-string = DQUOTE *(qdtext / quoted-pair) DQUOTE; quoted-pair excludes CR and LF
_QUOTED_STRING = re.compile(r'"(?:[^"\\\r\n]|\\[^\r\n])*"')
_GEN_VALUE = re.compile(rf"(?:[A-Za-z0-9\-.!%*_+`'~:\[\]]+|{_QUOTED_STRING.pattern})\Z")
_ADDR_SPEC_BAD = re.compile(r'[\s,?<>"]')
_BRACKETED_BAD = re.compile(r'[\s<"]')
# sent-protocol LWS sent-by; the groups never overlap, so matching stays linear
_SENT_PROTOCOL = re.compile(r"([^/\s]+)\s*/\s*([^/\s]+)\s*/\s*([^/\s]+)\s+(\S.*)", re.S)
# The stack parses the same field text several times per message (the parser's check, the
# transaction key, the NAT stamp, response routing, the TU) and the parsed values are frozen,
# so parses are memoized by text. Bounded because the text comes from the network; the repeats
# come within a millisecond or so of each other, which a thousand entries cover many times over.
_PARSE_CACHE_SIZE = 1024

_T = TypeVar("_T")


class _Memo(Generic[_T]):
    """Parsed values by text, forgotten all at once when full (cheaper than LRU upkeep)."""

    __slots__ = ("_parse", "_size", "_values")

    def __init__(self, parse: Callable[[str], _T], size: int) -> None:
        self._parse = parse
        self._size = size
        self._values: dict[str, _T] = {}

    def get(self, text: str) -> _T:
        value = self._values.get(text)
        if value is None:
            value = self._parse(text)  # errors are not remembered: bad input re-raises
            self.put(text, value)
        return value

    def put(self, text: str, value: _T) -> None:
        if len(self._values) >= self._size:
            self._values.clear()
        self._values[text] = value


def parse_params(text: str) -> Params:
    """Parse ``;a=b;c`` (leading semicolon optional) into ordered pairs; quoted values kept."""
    out: list[tuple[str, str | None]] = []
    for raw in _split_semicolons(text):
        part = raw.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not name or not _TOKEN.match(name):
            raise SipParseError(f"bad parameter name in {text!r}")
        value = value.strip()
        # gen-value = token / host / quoted-string: a comma or space here means a list or junk
        if sep and not _GEN_VALUE.match(value):
            raise SipParseError(f"bad parameter value in {text!r}")
        out.append((name, value if sep else None))
    return tuple(out)


def _split_semicolons(text: str) -> list[str]:
    if '"' not in text:
        return text.split(";")
    parts: list[str] = []
    quoted = False
    escaped = False
    start = 0
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append(text[start:i])
            start = i + 1
    if quoted:
        raise SipParseError(f"unbalanced quotes in {text!r}")
    parts.append(text[start:])
    return parts


def format_params(params: Params) -> str:
    """Return the ``;a=b;c`` wire form of parameters."""
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def get_param(params: Params, name: str) -> str | None:
    """Value of a parameter ('' for a flag present without value), None when absent."""
    key = name.lower()
    for n, v in params:
        if n.lower() == key:
            return "" if v is None else v
    return None


def set_param(params: Params, name: str, value: str | None) -> Params:
    """Return params with ``name`` set (replaced in place, or appended)."""
    key = name.lower()
    if any(n.lower() == key for n, _ in params):
        return tuple((n, value) if n.lower() == key else (n, v) for n, v in params)
    return (*params, (name, value))


def split_host_port(text: str) -> tuple[str, int | None]:
    """Split ``host[:port]``; IPv6 references keep their brackets (RFC 5118)."""
    text = text.strip()
    if not text:
        raise SipParseError("empty host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 reference in {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        rest = rest.lstrip()
        if rest and not rest.startswith(":"):
            raise SipParseError(f"junk after IPv6 reference in {text!r}")
        port_text = rest[1:].strip() if rest else None
    else:
        host_raw, sep, port_text_raw = text.partition(":")
        host = host_raw.rstrip()
        port_text = port_text_raw.strip() if sep else None
    if not host or any(c in host for c in ' \t<>"\\'):
        raise SipParseError(f"bad host in {text!r}")
    if port_text is None:
        return host, None
    if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
        raise SipParseError(f"bad port in {text!r}")
    if not 0 < int(port_text) <= 65535:
        raise SipParseError(f"bad port in {text!r}")
    return host, int(port_text)


@dataclass(frozen=True)
class Via:
    """One Via field value (a single hop)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one via-parm (not a comma-separated list)."""
        return _VIAS.get(text) if cls is Via else cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> Via:
        # LWS (spaces or tabs, also from unfolded lines) may surround the slashes:
        # "SIP / 2.0 / UDP host"
        m = _SENT_PROTOCOL.match(text.strip())
        if not m:
            raise SipParseError(f"bad Via sent-protocol in {text!r}")
        name, version, transport, rest = m.groups()
        if not (_TOKEN.match(name) and _TOKEN.match(version) and _TOKEN.match(transport)):
            raise SipParseError(f"bad Via sent-protocol in {text!r}")
        sent_by, _, param_text = rest.partition(";")
        host, port = split_host_port(sent_by)
        params = parse_params(param_text)
        return cls(transport.upper(), host, port, params, f"{name.upper()}/{version}")

    @property
    def branch(self) -> str | None:
        """The branch parameter, or None."""
        return get_param(self.params, "branch")

    def param(self, name: str) -> str | None:
        """A parameter's value ('' for a flag), None when absent."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> Via:
        """A copy with a parameter set (e.g. ``received`` or ``rport``)."""
        # not dataclasses.replace: that inspects the fields on every call (hot on receive)
        params = set_param(self.params, name, value)
        return type(self)(self.transport, self.host, self.port, params, self.protocol)

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{format_params(self.params)}"


@dataclass(frozen=True)
class CSeq:
    """The CSeq field: sequence number and method."""

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse ``1*DIGIT LWS Method``."""
        return _CSEQS.get(text) if cls is CSeq else cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> CSeq:
        parts = text.split()
        # isascii: str.isdigit() also accepts digits of other scripts, which int() converts
        if (
            len(parts) != 2
            or not (parts[0].isascii() and parts[0].isdigit())
            or not _METHOD.match(parts[1])
        ):
            raise SipParseError(f"bad CSeq {text!r}")
        number = int(parts[0])
        if number > _MAX_CSEQ:
            raise SipParseError(f"CSeq number out of range in {text!r}")
        return cls(number, parts[1])

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


@dataclass(frozen=True)
class NameAddr:
    """A From, To, Contact, Route or Record-Route value: display name, URI and parameters."""

    uri: str
    display_name: str | None = None
    params: Params = field(default=())

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """Parse name-addr or addr-spec followed by header parameters."""
        return _NAME_ADDRS.get(text) if cls is NameAddr else cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> NameAddr:
        text = text.strip()
        if not text:
            raise SipParseError("empty address")
        lt = _find_laquot(text)
        if lt < 0:
            # addr-spec form: parameters after the URI belong to the header (RFC 3261 §20.10),
            # which is why a URI with a comma, question mark or semicolon needs <...>
            uri, _, param_text = text.partition(";")
            uri = uri.strip()
            if not uri or _ADDR_SPEC_BAD.search(uri):
                raise SipParseError(f"bad address {text!r}")
            return cls(uri, None, parse_params(param_text))
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError(f"unterminated <...> in {text!r}")
        display = text[:lt].strip() or None
        if display is not None and not _valid_display_name(display):
            raise SipParseError(f"bad display name in {text!r}")
        uri = text[lt + 1 : gt]
        # LAQUOT/RAQUOT allow no whitespace inside the brackets (RFC 4475 §3.1.2.14), and
        # a URI holds no "<" or '"' (RFC 3986 excludes them)
        if not uri or _BRACKETED_BAD.search(uri):
            raise SipParseError(f"bad URI in {text!r}")
        rest = text[gt + 1 :].strip()
        if rest and not rest.startswith(";"):
            raise SipParseError(f"junk after address in {text!r}")
        return cls(uri, display, parse_params(rest))

    @property
    def tag(self) -> str | None:
        """The tag parameter, or None."""
        return get_param(self.params, "tag")

    def param(self, name: str) -> str | None:
        """A parameter's value ('' for a flag), None when absent."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        """A copy with a parameter set (e.g. the To tag)."""
        return type(self)(self.uri, self.display_name, set_param(self.params, name, value))

    def __str__(self) -> str:
        display = f"{self.display_name} " if self.display_name else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


_VIAS: _Memo[Via] = _Memo(Via._parse, _PARSE_CACHE_SIZE)
_CSEQS: _Memo[CSeq] = _Memo(CSeq._parse, _PARSE_CACHE_SIZE)
_NAME_ADDRS: _Memo[NameAddr] = _Memo(NameAddr._parse, _PARSE_CACHE_SIZE)


def remember_via(text: str, via: Via) -> None:
    """Record that ``Via.parse(text)`` is ``via``, for a ``text`` just made as ``str(via)``.

    For a Via obtained from ``Via.parse`` (and ``with_param`` with valid values), which
    round-trips exactly: the NAT stamp rewrites the top Via of every request, and the stamped
    hop is read again for the transaction key and the response's destination.
    """
    _VIAS.put(text, via)


def _valid_display_name(display: str) -> bool:
    """display-name = *(token LWS) / quoted-string (RFC 3261 §25.1)."""
    if display.startswith('"'):
        return _QUOTED_STRING.fullmatch(display) is not None
    return all(_TOKEN.match(word) for word in display.split())


def _find_laquot(text: str) -> int:
    quoted = False
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            return i
    return -1
