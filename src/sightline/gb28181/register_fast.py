"""REGISTER's two common answers straight from the lite scan: the 401 challenge and the 200.

Nearly every REGISTER a platform receives is a device asking without credentials (answered
with a challenge) or answering the challenge correctly (answered with 200 and a binding).
:class:`FastRegistrar` answers exactly those two from a :class:`~sightline.sip.lite.LiteRequest`
(``SipEndpoint.on_fast``), by the rules of :meth:`Registrar.handle
<sightline.gb28181.registrar.Registrar.handle>`; for everything else (a bad device ID or
Expires, an interval under the minimum, a failed, stale or foreign digest check, an unregister
with ``Contact: *``) it returns None having changed nothing, and the request goes the full
path to ``Registrar.handle``, which answers 400, 401 stale, 403 or 423, counts failures and
bans. ``tests/gb28181/test_register_worker_fast.py`` checks both give the same answers.

The digest check only records a nonce's use when it passes, and this module only answers
when it passes, so a request handed on is checked afresh by the full path (replay protection
unchanged).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sightline.gb28181.registrar import Binding, gb_date
from sightline.sip.digest import AuthOutcome, DigestServer
from sightline.sip.flood import AuthFailureTracker
from sightline.sip.lite import LiteAnswer, LiteRequest
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer

__all__ = ["FastRegistrar"]

_DEFAULT_EXPIRES = 3600


class FastRegistrar:
    """Answers the plain 401 and 200 cases of REGISTER; None hands a request to Registrar."""

    def __init__(
        self,
        *,
        digest: DigestServer,
        password_for: Callable[[str], str | None],
        stats: SipStats,
        bind: Callable[[Binding, int], None],
        ha1_for: Callable[[str], str | None] | None = None,
        failures: AuthFailureTracker | None = None,
        expires_min_s: int = 60,
        expires_max_s: int = 86400,
        date_header: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """The same settings as the Registrar it stands in for; ``bind`` gets each binding."""
        self._digest = digest
        self._password_for = password_for
        self._ha1_for = ha1_for
        self._stats = stats
        self._bind = bind
        self._failures = failures
        self._expires_min_s = expires_min_s
        self._expires_max_s = expires_max_s
        self._date_header = date_header
        self._clock = clock
        self._wall_clock = wall_clock

    def answer(self, request: LiteRequest, peer: Peer) -> LiteAnswer | None:
        """The 401 or 200 for ``request``, or None for the full path."""
        device_id = request.from_user
        if len(device_id) != 20 or not device_id.isdigit() or request.body:
            return None
        fields = request.fields
        raw_expires = fields.get("expires")
        if raw_expires is None:
            expires = _DEFAULT_EXPIRES
        elif raw_expires.isdigit():
            expires = int(raw_expires)
        else:
            return None
        if 0 < expires < self._expires_min_s:
            return None  # 423, with the digest check first: the full path
        wall_time = self._wall_clock()
        wall = wall_time.timestamp()
        version = fields.get("x-gb-ver")
        echo = [("X-GB-Ver", version)] if version is not None else []
        authorization = fields.get("authorization")
        if authorization is None:
            challenge = self._digest.challenge(wall)
            return LiteAnswer(401, [("WWW-Authenticate", challenge), *echo])
        if not self._verified(authorization, device_id, wall):
            return None
        self._stats.auth_successes += 1
        now = self._clock()
        if self._failures is not None:
            self._failures.record_success(peer.host, now)
        expires = min(expires, self._expires_max_s)
        contact = fields.get("contact") or f"<sip:{device_id}@{peer.host}>"
        binding = Binding(device_id, contact, peer, now + expires, request.call_id, version)
        self._bind(binding, expires)
        headers = [("Expires", str(expires))]
        if expires:
            headers.insert(0, ("Contact", f"{contact};expires={expires}"))
        if self._date_header:
            headers.append(("Date", gb_date(wall_time)))
        return LiteAnswer(200, [*headers, *echo])

    def _verified(self, authorization: str, device_id: str, wall: float) -> bool:
        """True when the credentials are right and for ``device_id`` (nothing else recorded)."""
        stored = self._ha1_for(device_id) if self._ha1_for is not None else None
        if stored is None:
            password_for = self._password_for
            result = self._digest.verify(
                "REGISTER",
                authorization,
                lambda user: password_for(user) if user == device_id else None,
                wall,
            )
        else:
            result = self._digest.verify_ha1(
                "REGISTER", authorization, lambda user: stored if user == device_id else None, wall
            )
        return result.outcome is AuthOutcome.OK
