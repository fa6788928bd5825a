"""The GB/T 28181 registrar (§9.1): digest-authenticated REGISTER, refresh and unregister.

Registration state lives in ``Registrar.bindings``; what happens when a device comes or goes is
told to the ``on_change`` callback, so the directory and the store stay out of this module.
A refresh of a live binding (same device, maybe a new address or Call-ID) is told to
``on_refresh`` with the old and the new binding: it is the cheap path of a re-registration
storm (no onboarding), but it still shows the device alive and where it now is.
A registrar in a REGISTER worker process (:mod:`sightline.gb28181.register_workers`) keeps no
bindings: its ``bind`` hook sends each one to the main process, whose registrar ``record``s it.

Passwords: ``ha1_for`` (optional) gives a device's own stored HA1 for this realm from an
in-memory cache; when it has none, the default ``password_for`` is used. Both are synchronous
on purpose: a REGISTER is answered without waiting for anything.
"""

from __future__ import annotations

import heapq
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING

from sightline.sip.digest import AuthOutcome, AuthResult, DigestServer
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.errors import SipParseError
from sightline.sip.flood import AuthFailureTracker
from sightline.sip.message import Request, Response, build_response
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer

if TYPE_CHECKING:
    from sightline.gb28181.register_fast import FastRegistrar

__all__ = ["Binding", "Registrar", "gb_date"]

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8), "CST")


def gb_date(now: datetime) -> str:
    """The ``Date`` value devices set their clocks from: Beijing time, no zone (§9.10.3)."""
    # the milliseconds are the same in every zone: no conversion needed for them
    return _gb_seconds(math.floor(now.timestamp())) + f"{now.microsecond // 1000:03d}"


@lru_cache(maxsize=4)
def _gb_seconds(epoch_s: int) -> str:
    # strftime is a measurable share of a REGISTER; the text changes once a second
    return datetime.fromtimestamp(epoch_s, BEIJING).strftime("%Y-%m-%dT%H:%M:%S.")


@dataclass(frozen=True)
class Binding:
    """One registered device."""

    device_id: str
    contact: str
    peer: Peer
    expires_at: float
    call_id: str
    gb_version: str | None


class Registrar:
    """Handles REGISTER for devices and lower platforms."""

    def __init__(
        self,
        *,
        digest: DigestServer,
        password_for: Callable[[str], str | None],
        stats: SipStats,
        ha1_for: Callable[[str], str | None] | None = None,
        failures: AuthFailureTracker | None = None,
        expires_min_s: int = 60,
        expires_max_s: int = 86400,
        on_change: Callable[[Binding, bool], None] | None = None,
        date_header: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        bind: Callable[[Binding, int], None] | None = None,
        on_refresh: Callable[[Binding, Binding], None] | None = None,
    ) -> None:
        """``bind`` receives every accepted registration with its granted expiry (0: the
        device unregistered) instead of this registrar's own ``record``; ``on_refresh`` (also
        settable later) is told ``(old, new)`` when a registered device registers again."""
        self._digest = digest
        self._password_for = password_for
        self._ha1_for = ha1_for
        self._stats = stats
        self._failures = failures
        self._expires_min_s = expires_min_s
        self._expires_max_s = expires_max_s
        self._on_change = on_change
        self._date_header = date_header
        self._clock = clock
        self._wall_clock = wall_clock
        self._bind_hook = bind if bind is not None else self.record
        self.on_refresh = on_refresh
        self.bindings: dict[str, Binding] = {}
        # expiry deadlines, one live heap entry per device, extended lazily (as keepalive.py):
        # expire() runs every second, and scanning 100,000 bindings each time took 15 % of
        # a starved server's samples
        self._expiry: list[tuple[float, str]] = []
        self._scheduled: dict[str, float] = {}

    def fast_path(self) -> FastRegistrar:
        """The plain-401/200 fast path answering as this registrar does: its settings, its
        clocks, and bindings through its own bind hook (``SipEndpoint.on_fast``)."""
        from sightline.gb28181.register_fast import FastRegistrar  # it imports this module

        return FastRegistrar(
            digest=self._digest,
            password_for=self._password_for,
            ha1_for=self._ha1_for,
            stats=self._stats,
            failures=self._failures,
            expires_min_s=self._expires_min_s,
            expires_max_s=self._expires_max_s,
            date_header=self._date_header,
            bind=self._bind_hook,
            clock=self._clock,
            wall_clock=self._wall_clock,
        )

    def handle(self, incoming: IncomingRequest) -> Response:
        """Answer one REGISTER."""
        request = incoming.request
        try:
            device_id = _device_id(request)
            expires = _requested_expires(request)
        except SipParseError as exc:
            log.info(
                "REGISTER from %s:%d rejected: %s", incoming.peer.host, incoming.peer.port, exc
            )
            return build_response(request, 400, f"Bad Request ({exc})", to_tag=_tag())
        now = self._clock()
        # nonces carry wall-clock time so they stay valid across a restart of the server;
        # one reading serves the nonce and the Date of the answer
        wall_time = self._wall_clock()
        wall = wall_time.timestamp()
        result = self._verify(request, device_id, wall)
        if result.outcome in (AuthOutcome.MISSING, AuthOutcome.STALE):
            challenge = self._digest.challenge(wall, stale=result.outcome is AuthOutcome.STALE)
            return self._reply(request, 401, [("WWW-Authenticate", challenge)])
        if result.outcome is AuthOutcome.BAD_REQUEST:
            return self._reply(request, 400, [], reason=f"Bad Request ({result.reason})")
        if result.outcome is not AuthOutcome.OK or result.username != device_id:
            self._failed(incoming, device_id, result.reason or "username does not match From")
            return self._reply(request, 403, [])
        self._stats.auth_successes += 1
        if self._failures is not None:
            self._failures.record_success(incoming.peer.host, now)
        if 0 < expires < self._expires_min_s:
            return self._reply(request, 423, [("Min-Expires", str(self._expires_min_s))])
        return self._bind(incoming, device_id, min(expires, self._expires_max_s), now, wall_time)

    def _verify(self, request: Request, device_id: str, wall: float) -> AuthResult:
        authorization = request.headers.get("Authorization")
        stored = self._ha1_for(device_id) if self._ha1_for is not None else None
        if stored is None:
            return self._digest.verify("REGISTER", authorization, self._password_for, wall)
        # the device's own HA1 is only valid for the username it was made for
        return self._digest.verify_ha1(
            "REGISTER", authorization, lambda user: stored if user == device_id else None, wall
        )

    def forget(self, device_id: str) -> Binding | None:
        """Drop a binding without calling ``on_change`` (the caller already knows it is gone).

        Used when a device misses its keepalives: its next REGISTER must then count as a new
        registration, not as a refresh.
        """
        return self.bindings.pop(device_id, None)

    def _bind(
        self, incoming: IncomingRequest, device_id: str, expires: int, now: float, wall: datetime
    ) -> Response:
        request = incoming.request
        contact = request.headers.get("Contact") or f"<sip:{device_id}@{incoming.peer.host}>"
        binding = Binding(
            device_id,
            contact.split(";expires=")[0],
            incoming.peer,
            now + expires,
            request.call_id,
            request.headers.get("X-GB-Ver"),
        )
        self._bind_hook(binding, expires)
        headers = [("Expires", str(expires))]
        if self._date_header:  # sites may not want cameras re-timed by the platform
            headers.append(("Date", gb_date(wall)))
        if expires:
            headers.insert(0, ("Contact", f"{binding.contact};expires={expires}"))
        return self._reply(request, 200, headers)

    def record(self, binding: Binding, expires: int) -> None:
        """Keep (or, with ``expires`` 0, drop) a device's accepted registration."""
        device_id = binding.device_id
        was = self.bindings.get(device_id)
        if expires == 0:
            self.bindings.pop(device_id, None)
            if was is not None and self._on_change is not None:
                self._on_change(was, False)
            log.info("device %s unregistered", device_id)
            return
        self.bindings[device_id] = binding
        self._schedule(binding)
        if was is None:
            if self._on_change is not None:
                self._on_change(binding, True)
            peer = binding.peer
            log.info(
                "device %s registered from %s %s:%d for %ds",
                device_id,
                peer.transport,
                peer.host,
                peer.port,
                expires,
            )
        elif self.on_refresh is not None:
            self.on_refresh(was, binding)

    def expire(self) -> list[Binding]:
        """Drop registrations past their expiry; returns them."""
        now = self._clock()
        heap = self._expiry
        gone: list[Binding] = []
        while heap and heap[0][0] <= now:
            at, device_id = heapq.heappop(heap)
            if self._scheduled.get(device_id) != at:
                continue  # superseded by an earlier deadline
            del self._scheduled[device_id]
            binding = self.bindings.get(device_id)
            if binding is None:
                continue  # unregistered or forgotten meanwhile
            if binding.expires_at > now:
                self._schedule(binding)  # refreshed since: look again then
                continue
            del self.bindings[device_id]
            gone.append(binding)
            if self._on_change is not None:
                self._on_change(binding, False)
        return gone

    def _schedule(self, binding: Binding) -> None:
        at = self._scheduled.get(binding.device_id)
        if at is None or binding.expires_at < at:
            self._scheduled[binding.device_id] = binding.expires_at
            heapq.heappush(self._expiry, (binding.expires_at, binding.device_id))

    def _failed(self, incoming: IncomingRequest, device_id: str, reason: str) -> None:
        self._stats.auth_failures += 1
        log.warning(
            "REGISTER of %s from %s:%d refused: %s",
            device_id,
            incoming.peer.host,
            incoming.peer.port,
            reason,
        )
        if self._failures is not None and self._failures.record_failure(
            incoming.peer.host, self._clock()
        ):
            self._stats.bans += 1
            log.warning("banned %s after repeated failed authentication", incoming.peer.host)

    def _reply(
        self,
        request: Request,
        status: int,
        headers: list[tuple[str, str]],
        reason: str | None = None,
    ) -> Response:
        version = request.headers.get("X-GB-Ver")
        if version is not None:
            headers = [*headers, ("X-GB-Ver", version)]
        return build_response(request, status, reason, to_tag=_tag(), headers=headers)


def _tag() -> str:
    return secrets.token_hex(4)


def _device_id(request: Request) -> str:
    uri = request.from_.uri
    user = uri.split(":", 1)[-1].split("@", 1)[0]
    if len(user) != 20 or not user.isdigit():
        raise SipParseError(f"invalid device ID {user!r}: GB/T 28181 IDs are 20 digits")
    return user


def _requested_expires(request: Request) -> int:
    contact = request.headers.get("Contact")
    if contact and contact.strip() == "*":
        return 0
    value = request.headers.get("Expires")
    if value is None and contact and "expires=" in contact:
        value = contact.split("expires=", 1)[1].split(";")[0].split(">")[0]
    if value is None:
        return 3600
    value = value.strip()
    if not value.isdigit():
        raise SipParseError(f"bad Expires {value!r}")
    return int(value)
