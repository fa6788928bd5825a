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
from dataclasses import dataclass, field, replace

from sightline.sip.errors import SipParseError

__all__ = ["CSeq", "NameAddr", "Params", "Via", "format_params", "parse_params", "split_host_port"]

Params = tuple[tuple[str, str | None], ...]

_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_METHOD = _TOKEN
_MAX_CSEQ = 2**31 - 1


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
        out.append((name, value.strip() if sep else None))
    return tuple(out)


def _split_semicolons(text: str) -> list[str]:
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
        if rest and not rest.startswith(":"):
            raise SipParseError(f"junk after IPv6 reference in {text!r}")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_raw = text.partition(":")
        port_text = port_text_raw if sep else None
    if not host or any(c in host for c in ' \t<>"\\'):
        raise SipParseError(f"bad host in {text!r}")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
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
        sent_protocol, _, rest = text.strip().partition(" ")
        pieces = [p.strip() for p in sent_protocol.split("/")]
        if len(pieces) != 3 or not all(pieces):
            # LWS is allowed around the slashes: "SIP / 2.0 / UDP host"
            head = text.strip()
            m = re.match(r"^([^/\s]+)\s*/\s*([^/\s]+)\s*/\s*(\S+)\s+(.*)$", head, re.S)
            if not m:
                raise SipParseError(f"bad Via sent-protocol in {text!r}")
            pieces = [m.group(1), m.group(2), m.group(3)]
            rest = m.group(4)
        name, version, transport = pieces
        if not all(_TOKEN.match(p) for p in pieces):
            raise SipParseError(f"bad Via sent-protocol in {text!r}")
        sent_by, _, param_text = rest.strip().partition(";")
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
        return replace(self, params=set_param(self.params, name, value))

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
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit() or not _METHOD.match(parts[1]):
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
        text = text.strip()
        if not text:
            raise SipParseError("empty address")
        lt = _find_laquot(text)
        if lt < 0:
            # addr-spec form: parameters after the URI belong to the header (RFC 3261 §20.10)
            uri, _, param_text = text.partition(";")
            if not uri.strip() or any(c.isspace() for c in uri.strip()):
                raise SipParseError(f"bad address {text!r}")
            return cls(uri.strip(), None, parse_params(param_text))
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError(f"unterminated <...> in {text!r}")
        display = text[:lt].strip() or None
        uri = text[lt + 1 : gt].strip()
        if not uri:
            raise SipParseError(f"empty URI in {text!r}")
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
        return replace(self, params=set_param(self.params, name, value))

    def __str__(self) -> str:
        display = f"{self.display_name} " if self.display_name else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


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
