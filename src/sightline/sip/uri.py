"""SIP and SIPS URIs (RFC 3261 §19.1, §25.1), IPv6 references per RFC 5118.

ABNF (abridged from RFC 3261 §25.1):
    SIP-URI          = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
    userinfo         = ( user / telephone-subscriber ) [ ":" password ] "@"
    user             = 1*( unreserved / escaped / user-unreserved )
    user-unreserved  = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
    password         = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
    hostport         = host [ ":" port ]
    host             = hostname / IPv4address / IPv6reference
    uri-parameter    = pname [ "=" pvalue ]          ; both 1*paramchar
    paramchar        = param-unreserved / unreserved / escaped
    param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
    headers          = "?" header *( "&" header )
    header           = hname "=" hvalue               ; hvalue may be empty
    hnv-unreserved   = "[" / "]" / "/" / "?" / ":" / "+" / "$"
    absoluteURI      = scheme ":" ( hier-part / opaque-part )
    scheme           = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )

No character allowed in userinfo, parameters or headers is "@", so the userinfo ends at the
first "@" even when the user part holds "?" or ";" (RFC 4475 intmeth, semiuri).

User, password, parameter and header names and values are stored *unescaped* ("%41" -> "A",
bytes that are not UTF-8 kept as surrogate escapes), so URIs written with different escapes
compare equal field by field; ``str()`` escapes again whatever a component may not hold
literally. The host keeps its case and IPv6 references keep their brackets.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, replace

from sightline.sip.errors import SipParseError
from sightline.sip.fields import Params, get_param, set_param

__all__ = ["AbsoluteUri", "SipUri", "parse_any_uri"]

_UNRESERVED = string.ascii_letters + string.digits + "-_.!~*'()"
_USER_SAFE = _UNRESERVED + "&=+$,;?/"
_PASSWORD_SAFE = _UNRESERVED + "&=+$,"
_PARAM_SAFE = _UNRESERVED + "[]/:&+$"
_HEADER_SAFE = _UNRESERVED + "[]/?:+$"


def _component(safe: str) -> re.Pattern[str]:
    # '%' is never in a safe set, so the two alternatives cannot both match: linear time
    return re.compile(f"(?:[{re.escape(safe)}]|%[0-9A-Fa-f]{{2}})*")


_USER_RE = _component(_USER_SAFE)
_PASSWORD_RE = _component(_PASSWORD_SAFE)
_PARAM_RE = _component(_PARAM_SAFE)
_HEADER_RE = _component(_HEADER_SAFE)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# hostname or IPv4address; "_" is not in the grammar but common in the wild
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_\-.]*)")
# what an opaque absolute URI may hold: visible ASCII except the delimiters around URIs
_OPAQUE_RE = re.compile(r"[!#-;=?-~]+")


def _unescape(raw: str, pattern: re.Pattern[str], what: str, text: str) -> str:
    if pattern.fullmatch(raw) is None:
        raise SipParseError(f"bad {what} in URI {text!r}")
    if "%" not in raw:
        return raw
    pieces = raw.split("%")
    out = bytearray(pieces[0].encode("ascii"))
    for piece in pieces[1:]:
        out.append(int(piece[:2], 16))
        out += piece[2:].encode("ascii")
    return out.decode("utf-8", "surrogateescape")


def _escape(value: str, safe: str) -> str:
    if all(c in safe for c in value):
        return value
    out: list[str] = []
    for ch in value:
        if ch in safe:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def _parse_host(hostport: str, text: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 reference in {text!r}")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        inner = host[1:-1]
        try:
            ipaddress.IPv6Address(inner)
        except ValueError as exc:
            raise SipParseError(f"bad IPv6 reference in {text!r}") from exc
        if "%" in inner:  # zone identifiers are not part of RFC 5118 references
            raise SipParseError(f"bad IPv6 reference in {text!r}")
        if rest and not rest.startswith(":"):
            raise SipParseError(f"junk after IPv6 reference in {text!r}")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_raw = hostport.partition(":")
        port_text = port_raw if sep else None
        if _HOSTNAME_RE.fullmatch(host) is None:
            raise SipParseError(f"bad host in URI {text!r}")
    if port_text is None:
        return host, None
    if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
        raise SipParseError(f"bad port in URI {text!r}")
    port = int(port_text)
    if not 0 < port <= 65535:
        raise SipParseError(f"port out of range in URI {text!r}")
    return host, port


def _parse_params(param_text: str, text: str) -> Params:
    params: list[tuple[str, str | None]] = []
    for raw in param_text.split(";"):
        name, sep, value = raw.partition("=")
        if not name or (sep and not value):
            raise SipParseError(f"empty URI parameter in {text!r}")
        params.append(
            (
                _unescape(name, _PARAM_RE, "parameter", text),
                _unescape(value, _PARAM_RE, "parameter", text) if sep else None,
            )
        )
    return tuple(params)


def _parse_headers(header_text: str, text: str) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for raw in header_text.split("&"):
        name, sep, value = raw.partition("=")
        if not name or not sep:
            raise SipParseError(f"bad URI header in {text!r}")
        headers.append(
            (
                _unescape(name, _HEADER_RE, "header", text),
                _unescape(value, _HEADER_RE, "header", text),
            )
        )
    return tuple(headers)


@dataclass(frozen=True)
class SipUri:
    """A sip: or sips: URI; user, password, parameters and headers are held unescaped."""

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a SIP or SIPS URI, raising SipParseError when it is malformed."""
        scheme, sep, rest = text.partition(":")
        scheme = scheme.lower()
        if not sep or scheme not in ("sip", "sips"):
            raise SipParseError(f"not a sip: or sips: URI: {text!r}")
        user = password = None
        at = rest.find("@")
        if at >= 0:
            user_raw, colon, password_raw = rest[:at].partition(":")
            if not user_raw:
                raise SipParseError(f"empty user in URI {text!r}")
            user = _unescape(user_raw, _USER_RE, "user", text)
            if colon:
                password = _unescape(password_raw, _PASSWORD_RE, "password", text)
            rest = rest[at + 1 :]
        rest, qmark, header_text = rest.partition("?")
        hostport, semi, param_text = rest.partition(";")
        host, port = _parse_host(hostport, text)
        params = _parse_params(param_text, text) if semi else ()
        headers = _parse_headers(header_text, text) if qmark else ()
        return cls(scheme, user, password, host, port, params, headers)

    def param(self, name: str) -> str | None:
        """A URI parameter's value ('' for a flag such as ``lr``), None when absent."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None) -> SipUri:
        """A copy with a URI parameter set (replaced in place, or appended)."""
        return replace(self, params=set_param(self.params, name, value))

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(_escape(self.user, _USER_SAFE))
            if self.password is not None:
                out += [":", _escape(self.password, _PASSWORD_SAFE)]
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        for name, value in self.params:
            out += [";", _escape(name, _PARAM_SAFE)]
            if value is not None:
                out += ["=", _escape(value, _PARAM_SAFE)]
        if self.headers:
            out.append("?")
            out.append(
                "&".join(
                    f"{_escape(n, _HEADER_SAFE)}={_escape(v, _HEADER_SAFE)}"
                    for n, v in self.headers
                )
            )
        return "".join(out)


@dataclass(frozen=True)
class AbsoluteUri:
    """A URI of another scheme (tel:, http:, urn:, ...): the scheme and the opaque rest."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


def parse_any_uri(text: str) -> SipUri | AbsoluteUri:
    """Parse a SIP/SIPS URI fully, or check the outline of any other absolute URI."""
    scheme, sep, rest = text.partition(":")
    if not sep or _SCHEME_RE.fullmatch(scheme) is None:
        raise SipParseError(f"not an absolute URI: {text!r}")
    if scheme.lower() in ("sip", "sips"):
        return SipUri.parse(text)
    if _OPAQUE_RE.fullmatch(rest) is None:
        raise SipParseError(f"bad {scheme}: URI {text!r}")
    return AbsoluteUri(scheme.lower(), rest)
