"""Digest authentication values and hashes (RFC 2617, RFC 7616, RFC 3261 §22.4).

Pure functions and frozen dataclasses: parse and format ``WWW-Authenticate`` /
``Authorization`` values, and compute the ``response`` hash.  Knows nothing of nonces, users or
time; see :mod:`sightline.sip.digest_server` and :mod:`sightline.sip.digest_client`.

ABNF (RFC 7235 §2.1, RFC 2617 §3.2, RFC 3261 §25.1), applied tolerantly: whitespace around
``=`` and after commas is optional, empty list elements are skipped, the scheme is matched
case-insensitively and unquoted values may contain any visible character except ``,`` and ``"``
(devices send ``uri=sip:...`` unquoted)::

    challenge     = auth-scheme [ 1*SP #auth-param ]
    auth-param    = token BWS "=" BWS ( token / quoted-string )
    quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
    quoted-pair   = "\\" ( HTAB / SP / VCHAR / obs-text )

Values are formatted with ``,`` and no space between parameters, as in the GB/T 28181
examples: some embedded SIP stacks split on ``,`` without trimming, and every RFC parser accepts
the compact form.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sightline.sip.errors import DigestError

__all__ = [
    "MAX_AUTH_PARAMS",
    "MAX_AUTH_VALUE_LEN",
    "SUPPORTED_ALGORITHMS",
    "DigestChallenge",
    "DigestCredentials",
    "canonical_algorithm",
    "compute_response",
    "ha1",
    "parse_auth_params",
]

# An Authorization value is ~300 characters; anything near these limits is an attack.
MAX_AUTH_VALUE_LEN = 8192
MAX_AUTH_PARAMS = 32

_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
# Control characters, and lone surrogates (they cannot be encoded for hashing).
_CTL = "\\x00-\\x08\\x0a-\\x1f\\x7f\\ud800-\\udfff"
_SCHEME = re.compile(rf"[ \t]*([{_TCHAR}]+)(?:[ \t]+|\Z)")
_PARAM = re.compile(
    rf"([{_TCHAR}]+)[ \t]*=[ \t]*"
    rf'(?:"((?:[^"\\{_CTL}]|\\[^{_CTL}])*)"|([^\x00-\x20",\x7f\ud800-\udfff]+))'
    r"[ \t]*(?:,|\Z)"
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_TOKEN = re.compile(rf"[{_TCHAR}]+")
_HAS_CTL = re.compile(f"[{_CTL}]")
_NC = re.compile(r"[0-9A-Fa-f]{1,8}")


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Algorithm:
    name: str
    hash: Callable[[bytes], str]
    session: bool


# Keyed by lower-case name: RFC 7616 §3.3 makes algorithm names case-insensitive.
_ALGORITHMS: Mapping[str, _Algorithm] = {
    a.name.lower(): a
    for a in (
        _Algorithm("MD5", _md5, session=False),
        _Algorithm("MD5-sess", _md5, session=True),
        _Algorithm("SHA-256", _sha256, session=False),
        _Algorithm("SHA-256-sess", _sha256, session=True),
    )
}
SUPPORTED_ALGORITHMS: tuple[str, ...] = tuple(a.name for a in _ALGORITHMS.values())


def canonical_algorithm(name: str) -> str:
    """Return the registered spelling of a supported algorithm name; DigestError otherwise."""
    return _algorithm(name).name


def _algorithm(name: str) -> _Algorithm:
    try:
        return _ALGORITHMS[name.lower()]
    except KeyError:
        raise DigestError(f"unsupported digest algorithm {name!r}") from None


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``Digest a="b", c=d`` into the scheme (as written) and lower-cased params."""
    if len(value) > MAX_AUTH_VALUE_LEN:
        raise DigestError(f"credentials longer than {MAX_AUTH_VALUE_LEN} characters")
    match = _SCHEME.match(value)
    if match is None:
        raise DigestError(f"no auth scheme in {value[:80]!r}")
    scheme, pos = match.group(1), match.end()
    params: dict[str, str] = {}
    while True:
        while pos < len(value) and value[pos] in " \t,":
            pos += 1
        if pos >= len(value):
            return scheme, params
        param = _PARAM.match(value, pos)
        if param is None:
            raise DigestError(f"malformed auth-param at offset {pos} in {value[:80]!r}")
        name = param.group(1).lower()
        if name in params:
            raise DigestError(f"duplicate auth-param {name!r}")
        if len(params) >= MAX_AUTH_PARAMS:
            raise DigestError(f"more than {MAX_AUTH_PARAMS} auth-params")
        quoted = param.group(2)
        if quoted is None:
            params[name] = param.group(3)
        else:
            params[name] = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
        pos = param.end()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_text(*values: str | None) -> None:
    for value in values:
        if value is not None and _HAS_CTL.search(value):
            raise DigestError(f"control character in digest value {value!r}")


def _check_token(*values: str | None) -> None:
    for value in values:
        if value is not None and not _TOKEN.fullmatch(value):
            raise DigestError(f"digest value {value!r} must be a token")


def _expect_digest(value: str) -> dict[str, str]:
    scheme, params = parse_auth_params(value)
    if scheme.lower() != "digest":
        raise DigestError(f"auth scheme {scheme!r} is not Digest")
    return params


def _required(params: Mapping[str, str], name: str) -> str:
    try:
        return params[name]
    except KeyError:
        raise DigestError(f"digest parameter {name!r} missing") from None


def _parse_algorithm(params: Mapping[str, str]) -> str:
    raw = params.get("algorithm", "MD5")
    known = _ALGORITHMS.get(raw.lower())
    # Unknown names are kept so that the caller can say which one it could not handle.
    return known.name if known else raw


@dataclass(frozen=True)
class DigestChallenge:
    """One Digest challenge: the value of a ``WWW-Authenticate``/``Proxy-Authenticate`` field."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    def __post_init__(self) -> None:
        _check_text(self.realm, self.nonce, self.opaque)
        _check_token(self.algorithm, *self.qop)

    @classmethod
    def parse(cls, value: str) -> DigestChallenge:
        """Parse a challenge; DigestError when it is not a usable Digest challenge."""
        params = _expect_digest(value)
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=_required(params, "realm"),
            nonce=_required(params, "nonce"),
            algorithm=_parse_algorithm(params),
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )

    def __str__(self) -> str:
        parts = [f"realm={_quote(self.realm)}", f"nonce={_quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={_quote(','.join(self.qop))}")
        if self.stale:
            parts.append("stale=TRUE")
        return "Digest " + ",".join(parts)


@dataclass(frozen=True)
class DigestCredentials:
    """Digest credentials: the value of an ``Authorization``/``Proxy-Authorization`` field."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.username, self.realm, self.nonce, self.uri, self.cnonce, self.opaque)
        _check_token(self.algorithm, self.qop, self.nc, self.response)
        if self.qop is not None and (self.nc is None or self.cnonce is None):
            raise DigestError("qop given without nc and cnonce")

    @classmethod
    def parse(cls, value: str) -> DigestCredentials:
        """Parse credentials; DigestError when a required parameter is missing or malformed."""
        return cls.from_params(_expect_digest(value))

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> DigestCredentials:
        """Build credentials from the params of :func:`parse_auth_params`."""
        nc = params.get("nc")
        if nc is not None and not _NC.fullmatch(nc):
            raise DigestError(f"nonce count {nc!r} is not 1-8 hex digits")
        qop = params.get("qop")
        return cls(
            username=_required(params, "username"),
            realm=_required(params, "realm"),
            nonce=_required(params, "nonce"),
            uri=_required(params, "uri"),
            response=_required(params, "response"),
            algorithm=_parse_algorithm(params),
            qop=qop.lower() if qop is not None else None,
            nc=nc,
            cnonce=params.get("cnonce"),
            opaque=params.get("opaque"),
        )

    def __str__(self) -> str:
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}",
            f"uri={_quote(self.uri)}",
            f"response={_quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.cnonce is not None:
            parts.append(f"cnonce={_quote(self.cnonce)}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        return "Digest " + ",".join(parts)


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """Return H(username:realm:password), the form in which passwords can be stored."""
    return _algorithm(algorithm).hash(f"{username}:{realm}:{password}".encode())


def compute_response(
    *,
    username: str,
    realm: str,
    password: str | None = None,
    ha1: str | None = None,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    algorithm: str = "MD5",
    body: bytes = b"",
) -> str:
    """Return the ``response`` hash; give either the password or its stored HA1."""
    algo = _algorithm(algorithm)
    if (password is None) == (ha1 is None):
        raise DigestError("give exactly one of password and ha1")
    secret = ha1.lower() if ha1 is not None else _base_ha1(algo, username, realm, password)
    if algo.session:
        if not cnonce:
            raise DigestError(f"{algo.name} needs a cnonce")
        secret = algo.hash(f"{secret}:{nonce}:{cnonce}".encode())
    if qop is None:
        return algo.hash(f"{secret}:{nonce}:{_ha2(algo, method, uri, qop, body)}".encode())
    if not nc or not cnonce:
        raise DigestError("qop needs nc and cnonce")
    ha2 = _ha2(algo, method, uri, qop, body)
    return algo.hash(f"{secret}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())


def _base_ha1(algo: _Algorithm, username: str, realm: str, password: str | None) -> str:
    return algo.hash(f"{username}:{realm}:{password}".encode())


def _ha2(algo: _Algorithm, method: str, uri: str, qop: str | None, body: bytes) -> str:
    if qop is None or qop == "auth":
        return algo.hash(f"{method}:{uri}".encode())
    if qop == "auth-int":
        return algo.hash(f"{method}:{uri}:{algo.hash(body)}".encode())
    raise DigestError(f"unsupported qop {qop!r}")
