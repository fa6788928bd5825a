"""Signed bearer tokens for the REST API.

A token is ``v1.<payload>.<signature>``: the payload is compact JSON (user id ``u``, username
``n``, issued ``i`` and expiry ``e`` in Unix seconds, token id ``j``) in unpadded base64url, the
signature HMAC-SHA256 over ``v1.<payload>`` with a key derived from the server key (so the same
server key signing digest nonces never signs a token). Nothing secret is in the payload.

The signature is checked before the payload is parsed, so forged input never reaches the JSON
decoder. Revocation (logout, and later revoked grants) lives in :class:`Revocations`: a set of
revoked token ids kept until they would have expired anyway, and a per-user "not before" time.

    SightlineError
    └── TokenError              not a valid token; the API answers 401
        ├── MalformedToken      not our format
        ├── ForgedToken         signature does not match
        ├── ExpiredToken        past its expiry
        └── RevokedToken        logged out or revoked
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from sightline.errors import SightlineError

__all__ = [
    "MAX_TOKEN_LENGTH",
    "ExpiredToken",
    "ForgedToken",
    "MalformedToken",
    "Revocations",
    "RevokedToken",
    "TokenClaims",
    "TokenError",
    "TokenSeal",
    "TokenSigner",
    "b64url_decode",
    "b64url_encode",
]

MAX_TOKEN_LENGTH = 2048
_VERSION = "v1"
_KEY_LABEL = b"sightline/api-token/v1"


class TokenError(SightlineError):
    """The bearer token is not acceptable."""


class MalformedToken(TokenError):
    """The text is not a sightline token."""


class ForgedToken(TokenError):
    """The signature does not match (wrong key or altered payload)."""


class ExpiredToken(TokenError):
    """The token was valid but its lifetime is over."""


class RevokedToken(TokenError):
    """The token was revoked before its expiry (logout)."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says; times are Unix seconds."""

    user_id: int
    username: str
    issued_at: float
    expires_at: float
    token_id: str


def b64url_encode(raw: bytes) -> str:
    """Unpadded base64url, as tokens carry it."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; MalformedToken on anything else."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise MalformedToken("token is not base64url") from None


def _is_number(value: object) -> bool:
    # bool is an int subclass; a payload with "e": true is not ours.
    return isinstance(value, int | float) and not isinstance(value, bool)


class TokenSeal:
    """``<version>.<base64url JSON>.<base64url HMAC-SHA256>`` strings, for both token kinds.

    The HMAC key is derived from the server key with ``label``, so login and stream tokens
    never verify as each other. ``not_ours``/``forged`` are the messages of the errors raised.
    """

    def __init__(
        self,
        key: bytes,
        label: bytes,
        version: str,
        *,
        max_length: int,
        not_ours: str,
        forged: str,
    ) -> None:
        self._key = hmac.new(key, label, hashlib.sha256).digest()
        self._version = version
        self._max_length = max_length
        self._not_ours = not_ours
        self._forged = forged

    def sign(self, signed_part: str) -> bytes:
        """The signature of ``<version>.<payload>``."""
        return hmac.new(self._key, signed_part.encode("ascii"), hashlib.sha256).digest()

    def seal(self, payload: dict[str, object]) -> str:
        """The signed token carrying ``payload`` as compact JSON."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        signed_part = f"{self._version}.{b64url_encode(body)}"
        return f"{signed_part}.{b64url_encode(self.sign(signed_part))}"

    def open(self, token: str) -> object:
        """The JSON payload of a genuine token; MalformedToken or ForgedToken otherwise."""
        if len(token) > self._max_length or not token.isascii():
            raise MalformedToken(self._not_ours)
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != self._version:
            raise MalformedToken(self._not_ours)
        signature = b64url_decode(parts[2])
        if not hmac.compare_digest(signature, self.sign(f"{parts[0]}.{parts[1]}")):
            raise ForgedToken(self._forged)
        try:
            return json.loads(b64url_decode(parts[1]))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise MalformedToken("token payload is not JSON") from None


def _claims_from(payload: object) -> TokenClaims:
    if not isinstance(payload, dict):
        raise MalformedToken("token payload is not an object")
    user_id, username = payload.get("u"), payload.get("n")
    issued, expires, token_id = payload.get("i"), payload.get("e"), payload.get("j")
    if not (isinstance(user_id, int) and not isinstance(user_id, bool)):
        raise MalformedToken("token payload has no user id")
    if not isinstance(username, str) or not isinstance(token_id, str):
        raise MalformedToken("token payload has no username or token id")
    if not (_is_number(issued) and _is_number(expires)):
        raise MalformedToken("token payload has no issue or expiry time")
    assert isinstance(issued, int | float) and isinstance(expires, int | float)
    return TokenClaims(user_id, username, float(issued), float(expires), token_id)


class TokenSigner:
    """Issues and verifies tokens with one key and one lifetime."""

    def __init__(self, key: bytes, lifetime_s: float) -> None:
        if len(key) < 16:
            raise ValueError("the token key needs at least 16 bytes")
        self._seal = TokenSeal(
            key,
            _KEY_LABEL,
            _VERSION,
            max_length=MAX_TOKEN_LENGTH,
            not_ours="not a sightline token",
            forged="token signature does not match",
        )
        self.lifetime_s = lifetime_s

    def issue(self, user_id: int, username: str, now: float) -> tuple[str, TokenClaims]:
        """A new token for the user, valid from ``now`` for the lifetime."""
        claims = TokenClaims(
            user_id=user_id,
            username=username,
            issued_at=round(now, 3),
            expires_at=round(now + self.lifetime_s, 3),
            token_id=b64url_encode(secrets.token_bytes(12)),
        )
        payload: dict[str, object] = {
            "u": claims.user_id,
            "n": claims.username,
            "i": claims.issued_at,
            "e": claims.expires_at,
            "j": claims.token_id,
        }
        return self._seal.seal(payload), claims

    def verify(self, token: str, now: float) -> TokenClaims:
        """The claims of ``token``; raises a :class:`TokenError` subclass if it is not valid now."""
        claims = _claims_from(self._seal.open(token))
        if now >= claims.expires_at:
            raise ExpiredToken("token has expired")
        return claims


class Revocations:
    """Tokens revoked before their expiry, held in memory until they expire.

    One process keeps its own set; a multi-node deployment shares it through the bus (issue 8).
    """

    def __init__(self) -> None:
        self._tokens: dict[str, float] = {}
        self._not_before: dict[int, float] = {}

    def revoke(self, claims: TokenClaims) -> None:
        """Revoke one token (logout)."""
        self._tokens[claims.token_id] = claims.expires_at

    def revoke_user(self, user_id: int, now: float) -> None:
        """Revoke every token of ``user_id`` issued up to ``now`` (password change, disable)."""
        self._not_before[user_id] = now

    def check(self, claims: TokenClaims) -> None:
        """Raise :class:`RevokedToken` if ``claims`` was revoked."""
        if claims.token_id in self._tokens:
            raise RevokedToken("token was revoked")
        not_before = self._not_before.get(claims.user_id)
        if not_before is not None and claims.issued_at <= not_before:
            raise RevokedToken("token was revoked")

    def is_revoked(self, token_id: str, user_id: int, issued_at: float) -> bool:
        """Whether the login ``token_id`` of ``user_id`` (or anything issued by then) is revoked.

        Stream tokens carry their login's id; this lets them end with it.
        """
        if token_id in self._tokens:
            return True
        not_before = self._not_before.get(user_id)
        return not_before is not None and issued_at <= not_before

    def prune(self, now: float, lifetime_s: float) -> None:
        """Forget revocations that expired tokens make moot."""
        self._tokens = {jti: exp for jti, exp in self._tokens.items() if exp > now}
        horizon = now - lifetime_s
        self._not_before = {u: t for u, t in self._not_before.items() if t > horizon}

    def __len__(self) -> int:
        return len(self._tokens) + len(self._not_before)
