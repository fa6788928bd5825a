"""The client side of SIP digest authentication (RFC 3261 §22.2, RFC 2617, RFC 7616).

Used by the device simulator and by cascade (registering upward).  One :class:`DigestClient`
per account and upstream server: it remembers the last challenge so that a refresh REGISTER can
reuse the nonce without a 401 round, counting ``nc`` per nonce.

A 401 that answers credentials built for the same realm with ``stale`` unset means the password
is wrong; the caller should stop there instead of retrying, or it will loop.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sightline.sip.digest_codec import DigestChallenge, DigestCredentials, compute_response
from sightline.sip.errors import DigestError

__all__ = ["DigestClient"]

# auth-int also protects the body but needs it at signing time; auth is what SIP peers expect.
_QOP_PREFERENCE = ("auth", "auth-int")


def _new_cnonce() -> str:
    return secrets.token_hex(8)


class DigestClient:
    """Answers digest challenges for one username and password."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        cnonce_factory: Callable[[], str] = _new_cnonce,
    ) -> None:
        self.username = username
        self._password = password
        self._cnonce_factory = cnonce_factory
        self._challenge: DigestChallenge | None = None
        self._nc = 0

    @property
    def challenge(self) -> DigestChallenge | None:
        """The last challenge answered, if any."""
        return self._challenge

    def authorize(self, method: str, uri: str, www_authenticate: str, body: bytes = b"") -> str:
        """Answer a ``WWW-Authenticate``/``Proxy-Authenticate`` value; return the credentials."""
        challenge = DigestChallenge.parse(www_authenticate)
        if self._challenge is None or challenge.nonce != self._challenge.nonce:
            self._nc = 0
        self._challenge = challenge
        return self._build(challenge, method, uri, body)

    def authorize_again(self, method: str, uri: str, body: bytes = b"") -> str:
        """Answer the last challenge again, e.g. for a refresh REGISTER."""
        if self._challenge is None:
            raise DigestError("no challenge to answer yet")
        return self._build(self._challenge, method, uri, body)

    def _build(self, challenge: DigestChallenge, method: str, uri: str, body: bytes) -> str:
        qop = _pick_qop(challenge.qop)
        nc = cnonce = None
        if qop is not None or challenge.algorithm.lower().endswith("-sess"):
            cnonce = self._cnonce_factory()
        if qop is not None:
            self._nc += 1
            nc = f"{self._nc:08x}"
        response = compute_response(
            username=self.username,
            realm=challenge.realm,
            password=self._password,
            method=method,
            uri=uri,
            nonce=challenge.nonce,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            algorithm=challenge.algorithm,
            body=body,
        )
        credentials = DigestCredentials(
            username=self.username,
            realm=challenge.realm,
            nonce=challenge.nonce,
            uri=uri,
            response=response,
            algorithm=challenge.algorithm,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            opaque=challenge.opaque,
        )
        return str(credentials)


def _pick_qop(offered: tuple[str, ...]) -> str | None:
    if not offered:
        return None
    for qop in _QOP_PREFERENCE:
        if qop in offered:
            return qop
    raise DigestError(f"no supported qop in {offered!r}")
