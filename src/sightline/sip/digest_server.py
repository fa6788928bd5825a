"""The server side of SIP digest authentication (RFC 3261 §22.4, RFC 2617, RFC 7616).

:class:`DigestServer` builds challenges and checks ``Authorization`` values; it does no I/O and
keeps no per-user state.  The caller maps the outcome to a response:

    OK          go on with the request
    MISSING     401 with ``challenge(now)``
    STALE       401 with ``challenge(now, stale=True)``
    BAD_REQUEST 400
    FORBIDDEN   403 (GB/T 28181 answers wrong credentials with 403, not another 401)

Order of checks: syntax, realm, user, response hash, then the nonce.  The nonce comes last so
that only a correct response is told "stale" (RFC 7616 §3.3: stale=true means the credentials
were right and only the nonce was not), and so that a wrong password never consumes a nonce
count.  A nonce this server did not issue (e.g. issued before a restart with a new secret) or a
replayed nonce count with an otherwise correct response is answered STALE: a fresh challenge
gives an attacker nothing, while a 403 would make a device back off for a minute or more.

GB/T 28181 tolerances: the ``uri`` parameter is used for HA2 as sent, even when it differs
from the Request-URI; ``nc`` is hashed exactly as received; a missing ``algorithm`` means MD5;
the realm is matched case-insensitively (the device's spelling is hashed); a response without
qop is accepted even when qop was offered (replay is then bounded by the nonce lifetime only).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sightline.sip.digest_codec import (
    DigestChallenge,
    DigestCredentials,
    canonical_algorithm,
    compute_response,
    ha1,
    parse_auth_params,
)
from sightline.sip.digest_nonce import NonceManager, NonceStatus
from sightline.sip.errors import DigestError

__all__ = ["AuthOutcome", "AuthResult", "DigestServer"]

_QOPS = ("auth", "auth-int")
_NONCE_MARK = "nonce-goes-here"


class AuthOutcome(Enum):
    """What a server should answer; see the module docstring."""

    OK = "ok"
    MISSING = "missing"
    STALE = "stale"
    BAD_REQUEST = "bad_request"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class AuthResult:
    """Outcome of :meth:`DigestServer.verify`; ``reason`` is for logs, not for the peer."""

    outcome: AuthOutcome
    username: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when the request is authenticated."""
        return self.outcome is AuthOutcome.OK


_NONCE_REASONS = {
    NonceStatus.STALE: "nonce expired",
    NonceStatus.INVALID: "nonce not issued by this server",
    NonceStatus.REPLAY: "nonce count replayed",
}


class DigestServer:
    """Challenges and verifies digest credentials for one realm."""

    def __init__(
        self, realm: str, nonces: NonceManager, qop: bool = False, algorithm: str = "MD5"
    ) -> None:
        self.realm = realm
        self.nonces = nonces
        self.qop = qop
        self.algorithm = canonical_algorithm(algorithm)
        # The challenge text around the nonce, written once (this also fails now on a realm we
        # could never send). Nonces are base64url: quoting leaves them as they are.
        offered = ("auth",) if qop else ()
        self._templates = tuple(
            str(DigestChallenge(realm, _NONCE_MARK, self.algorithm, offered, stale=stale)).split(
                _NONCE_MARK
            )
            for stale in (False, True)
        )

    def challenge(self, now: float, stale: bool = False) -> str:
        """Return a ``WWW-Authenticate`` value with a fresh nonce."""
        head, tail = self._templates[stale]
        return f"{head}{self.nonces.issue(now)}{tail}"

    def verify(
        self,
        method: str,
        authorization: str | None,
        lookup: Callable[[str], str | None],
        now: float,
        *,
        body: bytes = b"",
    ) -> AuthResult:
        """Check an ``Authorization`` value; ``lookup`` gives a user's password or None."""

        def secret(creds: DigestCredentials) -> str | None:
            password = lookup(creds.username)
            if password is None:
                return None
            return ha1(creds.username, creds.realm, password, creds.algorithm)

        return self._verify(method, authorization, secret, now, body)

    def verify_ha1(
        self,
        method: str,
        authorization: str | None,
        lookup_ha1: Callable[[str], str | None],
        now: float,
        *,
        body: bytes = b"",
    ) -> AuthResult:
        """Like :meth:`verify`, with ``lookup_ha1`` giving the stored HA1 for this realm."""
        return self._verify(method, authorization, lambda c: lookup_ha1(c.username), now, body)

    def _verify(
        self,
        method: str,
        authorization: str | None,
        secret: Callable[[DigestCredentials], str | None],
        now: float,
        body: bytes,
    ) -> AuthResult:
        if authorization is None or not authorization.strip():
            return AuthResult(AuthOutcome.MISSING, reason="no credentials")
        scheme = authorization.split(None, 1)[0]
        if scheme.lower() != "digest":
            # Basic, or GB/T 28181-2016 "Capability": not ours to parse; offer Digest instead.
            return AuthResult(AuthOutcome.MISSING, reason=f"unsupported scheme {scheme[:20]!r}")
        try:
            creds = DigestCredentials.from_params(parse_auth_params(authorization)[1])
        except DigestError as exc:
            return AuthResult(AuthOutcome.BAD_REQUEST, reason=str(exc))
        return self._check(method, creds, secret, now, body)

    def _check(
        self,
        method: str,
        creds: DigestCredentials,
        secret: Callable[[DigestCredentials], str | None],
        now: float,
        body: bytes,
    ) -> AuthResult:
        user = creds.username
        if creds.algorithm != self.algorithm:
            return AuthResult(AuthOutcome.BAD_REQUEST, user, f"algorithm {creds.algorithm!r}")
        if creds.qop is not None and creds.qop not in _QOPS:
            return AuthResult(AuthOutcome.BAD_REQUEST, user, f"qop {creds.qop!r}")
        if creds.realm.lower() != self.realm.lower():
            return AuthResult(AuthOutcome.FORBIDDEN, user, f"realm {creds.realm!r}")
        known = secret(creds)
        # An unknown user costs the same hash as a known one, so timing does not reveal users.
        try:
            expected = self._expected(method, creds, known or secrets.token_hex(16), body)
        except DigestError as exc:  # e.g. MD5-sess without a cnonce
            return AuthResult(AuthOutcome.BAD_REQUEST, user, str(exc))
        if known is None:
            return AuthResult(AuthOutcome.FORBIDDEN, user, "unknown user")
        if not hmac.compare_digest(expected.encode(), creds.response.lower().encode()):
            return AuthResult(AuthOutcome.FORBIDDEN, user, "wrong response")
        status = self.nonces.check(creds.nonce, creds.nc, now)
        if status is NonceStatus.VALID:
            return AuthResult(AuthOutcome.OK, user, "ok")
        return AuthResult(AuthOutcome.STALE, user, _NONCE_REASONS[status])

    def _expected(self, method: str, creds: DigestCredentials, secret: str, body: bytes) -> str:
        return compute_response(
            username=creds.username,
            realm=creds.realm,
            ha1=secret,
            method=method,
            uri=creds.uri,
            nonce=creds.nonce,
            qop=creds.qop,
            nc=creds.nc,
            cnonce=creds.cnonce,
            algorithm=creds.algorithm,
            body=body,
        )
