"""Signed short-lived tokens for media URLs (live now; playback and export later).

A play URL carries ``?token=s1.<payload>.<signature>``: the payload is compact JSON in
unpadded base64url, the signature HMAC-SHA256 over ``s1.<payload>`` with a key derived from
the server key under its own label, so a login token never verifies as a stream token (and
the other way round). The claims bind the token to one use:

    u  user id          n  username (for the audit record)
    c  channel id       a  action: live | playback | download
    ip client address the token was issued to (None when binding is off)
    i  issued at        e  expiry (Unix seconds; ``media.token_ttl_s`` after issue)
    j  token id         s  the login token's id it was issued under
    g  grant id that allowed it (issue 8; None until grants exist)

The expiry limits when a view may *start*; a running view is re-checked with
:meth:`StreamTokens.check` every few seconds, which runs the revocation checks only, so
revoking a token, a user's tokens, a login or a grant stops the views it opened.

    SightlineError
    └── tokens.TokenError            the API answers 401
        ├── MalformedToken, ForgedToken, ExpiredToken
        ├── RevokedToken             revoked (answered 403 for a stream: the user is known)
        └── StreamTokenMismatch      valid, but not for this use (403)
            ├── WrongStream          another channel or action
            └── WrongClient          another client address
"""

from __future__ import annotations

import ipaddress
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum

from sightline.access.tokens import (
    ExpiredToken,
    MalformedToken,
    RevokedToken,
    TokenError,
    TokenSeal,
    b64url_encode,
)

__all__ = [
    "MAX_STREAM_TOKEN_LENGTH",
    "RevocationCheck",
    "StreamAction",
    "StreamClaims",
    "StreamRevocations",
    "StreamTokenMismatch",
    "StreamTokens",
    "WrongClient",
    "WrongStream",
    "claims_from_fields",
    "claims_to_fields",
    "normalise_address",
    "status_for",
]

MAX_STREAM_TOKEN_LENGTH = 1024
_VERSION = "s1"
_KEY_LABEL = b"sightline/stream-token/v1"


class StreamTokenMismatch(TokenError):
    """A genuine token presented for another use than the one it was issued for."""


class WrongStream(StreamTokenMismatch):
    """The token is for another channel or action."""


class WrongClient(StreamTokenMismatch):
    """The token was issued to another client address."""


class StreamAction(StrEnum):
    """What a media URL lets its holder do."""

    LIVE = "live"
    PLAYBACK = "playback"
    DOWNLOAD = "download"


@dataclass(frozen=True, slots=True)
class StreamClaims:
    """What a verified stream token says; times are Unix seconds."""

    user_id: int
    username: str
    channel_id: str
    action: StreamAction
    client: str | None
    issued_at: float
    expires_at: float
    token_id: str
    session_id: str | None = None
    grant_id: str | None = None


def claims_to_fields(claims: StreamClaims) -> dict[str, object]:
    """Verified claims as JSON-ready fields (between a node's own processes, not a token)."""
    fields = asdict(claims)
    fields["action"] = claims.action.value
    return fields


def claims_from_fields(fields: dict[str, object]) -> StreamClaims:
    """The claims ``claims_to_fields`` made; MalformedToken when they cannot be."""
    try:
        values = dict(fields)
        values["action"] = StreamAction(str(values["action"]))
        return StreamClaims(**values)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedToken(f"stream claims cannot be read: {exc}") from None


RevocationCheck = Callable[[StreamClaims], None]
"""Raises :class:`RevokedToken` when a token (or what it was issued under) is revoked."""


def status_for(error: TokenError) -> int:
    """401 when the holder is not established, 403 when they are but may not do this."""
    return 403 if isinstance(error, StreamTokenMismatch | RevokedToken) else 401


def normalise_address(address: str | None) -> str | None:
    """An address in one spelling (``::ffff:10.0.0.1`` is ``10.0.0.1``); None stays None."""
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address  # e.g. "testclient": compared as given
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def _optional_str(payload: dict[str, object], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedToken(f"token claim {key!r} is not text")
    return value


def _number(payload: dict[str, object], key: str) -> float:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedToken(f"token claim {key!r} is not a number")
    if not math.isfinite(value):  # NaN would never compare as expired
        raise MalformedToken(f"token claim {key!r} is not finite")
    return float(value)


def _claims_from(payload: object) -> StreamClaims:
    if not isinstance(payload, dict):
        raise MalformedToken("token payload is not an object")
    user_id = payload.get("u")
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise MalformedToken("token payload has no user id")
    username, channel = _optional_str(payload, "n"), _optional_str(payload, "c")
    action, token_id = _optional_str(payload, "a"), _optional_str(payload, "j")
    if username is None or channel is None or action is None or token_id is None:
        raise MalformedToken("token payload lacks a username, channel, action or id")
    try:
        kind = StreamAction(action)
    except ValueError:
        raise MalformedToken(f"unknown stream action {action[:20]!r}") from None
    return StreamClaims(
        user_id=user_id,
        username=username,
        channel_id=channel,
        action=kind,
        client=_optional_str(payload, "ip"),
        issued_at=_number(payload, "i"),
        expires_at=_number(payload, "e"),
        token_id=token_id,
        session_id=_optional_str(payload, "s"),
        grant_id=_optional_str(payload, "g"),
    )


class StreamRevocations:
    """Revoked stream tokens, users, logins and grants, in memory (one process)."""

    def __init__(self) -> None:
        self._tokens: dict[str, float] = {}
        self._sessions: set[str] = set()
        self._grants: set[str] = set()
        self._not_before: dict[int, float] = {}

    def revoke_token(self, claims: StreamClaims) -> None:
        """Revoke one token (and the views it opened)."""
        self._tokens[claims.token_id] = claims.expires_at

    def revoke_session(self, session_id: str) -> None:
        """Revoke every token issued under one login (logout)."""
        self._sessions.add(session_id)

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token a grant allowed (issue 8: a grant withdrawn or expired)."""
        self._grants.add(grant_id)

    def revoke_user(self, user_id: int, now: float) -> None:
        """Revoke every token of ``user_id`` issued up to ``now``."""
        self._not_before[user_id] = now

    def __call__(self, claims: StreamClaims) -> None:
        """The :data:`RevocationCheck` for these revocations."""
        if claims.token_id in self._tokens:
            raise RevokedToken("stream token was revoked")
        if claims.session_id is not None and claims.session_id in self._sessions:
            raise RevokedToken("the login this stream was opened under has ended")
        if claims.grant_id is not None and claims.grant_id in self._grants:
            raise RevokedToken("the grant this stream was opened under was revoked")
        not_before = self._not_before.get(claims.user_id)
        if not_before is not None and claims.issued_at <= not_before:
            raise RevokedToken("the user's streams were revoked")


class StreamTokens:
    """Issues and verifies stream tokens; see the module docstring."""

    def __init__(
        self,
        key: bytes,
        ttl_s: float,
        *,
        bind_client: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the stream-token key needs at least 16 bytes")
        self._seal = TokenSeal(
            key,
            _KEY_LABEL,
            _VERSION,
            max_length=MAX_STREAM_TOKEN_LENGTH,
            not_ours="not a stream token",
            forged="stream token signature does not match",
        )
        self.ttl_s = ttl_s
        self.bind_client = bind_client
        self._clock = clock
        self.revocations = StreamRevocations()
        self._checks: list[RevocationCheck] = [self.revocations]

    def add_revocation_check(self, check: RevocationCheck) -> None:
        """Also consult ``check`` on verify and on every running-view re-check."""
        self._checks.append(check)

    def issue(
        self,
        *,
        user_id: int,
        username: str,
        channel_id: str,
        action: StreamAction = StreamAction.LIVE,
        client: str | None = None,
        session_id: str | None = None,
        grant_id: str | None = None,
    ) -> tuple[str, StreamClaims]:
        """A token for one user, channel and action, valid for ``ttl_s`` from now."""
        now = self._clock()
        claims = StreamClaims(
            user_id=user_id,
            username=username,
            channel_id=channel_id,
            action=action,
            client=normalise_address(client) if self.bind_client else None,
            issued_at=round(now, 3),
            expires_at=round(now + self.ttl_s, 3),
            token_id=b64url_encode(secrets.token_bytes(12)),
            session_id=session_id,
            grant_id=grant_id,
        )
        payload: dict[str, object] = {
            "u": claims.user_id,
            "n": claims.username,
            "c": claims.channel_id,
            "a": claims.action.value,
            "ip": claims.client,
            "i": claims.issued_at,
            "e": claims.expires_at,
            "j": claims.token_id,
            "s": claims.session_id,
            "g": claims.grant_id,
        }
        return self._seal.seal(payload), claims

    def decode(self, token: str) -> StreamClaims:
        """The claims of a genuine token, whatever its use or age; raises TokenError."""
        return _claims_from(self._seal.open(token))

    def verify(
        self,
        token: str | None,
        *,
        channel_id: str,
        action: StreamAction,
        client: str | None,
    ) -> StreamClaims:
        """The claims if ``token`` may start ``action`` on ``channel_id`` from ``client`` now."""
        if not token:
            raise MalformedToken("no stream token: request a play URL first")
        claims = self.decode(token)
        if self._clock() >= claims.expires_at:
            raise ExpiredToken("stream token has expired: request a new play URL")
        if claims.channel_id != channel_id or claims.action is not action:
            raise WrongStream(
                f"token is for {claims.action.value} of {claims.channel_id}, "
                f"not {action.value} of {channel_id}"
            )
        if claims.client is not None and claims.client != normalise_address(client):
            raise WrongClient("token was issued to another client address")
        self.check(claims)
        return claims

    def check(self, claims: StreamClaims) -> None:
        """Raise RevokedToken if the token, its user, login or grant was revoked since."""
        for check in self._checks:
            check(claims)
