"""Logins, bearer tokens and the one authorisation seam.

``AuthService`` turns a username and password into a signed token (``login``), a token into a
:class:`Principal` (``authenticate``) and answers whether a principal may do an action on a
resource (``authorize``). Every REST route goes through ``authenticate`` and ``authorize``; the
decision is ``sightline.access.policy`` over the in-memory ``AccessModel`` snapshot, and a
denial is audited.

A failed login looks the same whatever went wrong (unknown user, wrong password, disabled
account): same error, the same argon2 work (a dummy hash for unknown users) and a short random
delay. Failures are counted per username and per client address; too many within the window lock
that username or address out for a while.

    SightlineError
    ├── AccessError              the access layer refuses
    │   ├── LoginFailed          bad credentials (deliberately vague)
    │   ├── LoginLocked          too many failures; ``retry_after_s``
    │   └── Forbidden            authenticated, but not allowed
    └── tokens.TokenError        see ``sightline.access.tokens``
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sightline.access.actions import (
    AccessError,
    Action,
    Forbidden,
    Principal,
    Resource,
    ResourceKind,
)
from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome, AuditSink
from sightline.access.model import AccessModel
from sightline.access.passwords import (
    DEFAULT_POLICY,
    PasswordPolicy,
    dummy_verify,
    hash_password,
    verify_password,
)
from sightline.access.policy import Decision, is_system_admin
from sightline.access.tokens import Revocations, RevokedToken, TokenClaims, TokenSigner
from sightline.store import AlreadyExistsError, Database, User, UserRepository
from sightline.store.models.access import ROOT_DEPARTMENT_ID, Role
from sightline.store.repositories.access import AccessRepository

__all__ = [
    "ADMIN_USERNAME",
    "AccessError",
    "Action",
    "AuthService",
    "Forbidden",
    "LockoutPolicy",
    "LoginFailed",
    "LoginLocked",
    "LoginThrottle",
    "Principal",
    "Resource",
    "ResourceKind",
]

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"
_USERNAME_MAX = 64
_RANDOM = secrets.SystemRandom()


class LoginFailed(AccessError):
    """Username or password wrong, or the account is disabled; which one is not said."""

    def __init__(self) -> None:
        super().__init__("invalid username or password")


class LoginLocked(AccessError):
    """Too many failed logins for this username or address."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many failed logins; try again in {int(retry_after_s) + 1} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Failures allowed within ``window_s`` before a lockout of ``lockout_s``."""

    max_per_username: int = 5
    max_per_address: int = 20
    window_s: float = 900.0
    lockout_s: float = 900.0
    max_tracked: int = 100_000


@dataclass(slots=True)
class _Failures:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginThrottle:
    """Failure counters per username and per address, bounded in memory."""

    def __init__(self, policy: LockoutPolicy) -> None:
        self.policy = policy
        self._entries: dict[tuple[str, str], _Failures] = {}

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        # Case-folded, so "Admin" and "ADMIN" share one counter.
        keys = [("user", username.casefold()[:_USERNAME_MAX])]
        if address:
            keys.append(("addr", address))
        return keys

    def _limit(self, key: tuple[str, str]) -> int:
        p = self.policy
        return p.max_per_username if key[0] == "user" else p.max_per_address

    def retry_after(self, username: str, address: str | None, now: float) -> float | None:
        """Seconds until the login may be tried again, or ``None`` if it is not locked."""
        waits = [
            entry.locked_until - now
            for key in self._keys(username, address)
            if (entry := self._entries.get(key)) is not None and entry.locked_until > now
        ]
        return max(waits) if waits else None

    def failure(self, username: str, address: str | None, now: float) -> None:
        """Count a failed login; lock the username or address once over its limit."""
        if len(self._entries) >= self.policy.max_tracked:
            self._prune(now)
        for key in self._keys(username, address):
            entry = self._entries.setdefault(key, _Failures())
            entry.times.append(now)
            while entry.times and entry.times[0] <= now - self.policy.window_s:
                entry.times.popleft()
            if len(entry.times) >= self._limit(key):
                entry.locked_until = now + self.policy.lockout_s
                entry.times.clear()
                log.warning("login locked for %s %r after repeated failures", key[0], key[1])

    def success(self, username: str) -> None:
        """Forget the username's failures (the address keeps its count)."""
        self._entries.pop(self._keys(username, None)[0], None)

    def _prune(self, now: float) -> None:
        horizon = now - self.policy.window_s
        self._entries = {
            k: e
            for k, e in self._entries.items()
            if e.locked_until > now or (e.times and e.times[-1] > horizon)
        }
        # Still full (a distributed guessing run): drop the oldest entries.
        excess = len(self._entries) - self.policy.max_tracked // 2
        for key in list(self._entries)[: max(excess, 0)]:
            del self._entries[key]


class AuthService:
    """Users, logins, tokens and authorisation for the REST API."""

    def __init__(
        self,
        database: Database,
        key: bytes,
        token_lifetime_s: float,
        *,
        lockout: LockoutPolicy = LockoutPolicy(),
        passwords: PasswordPolicy = DEFAULT_POLICY,
        failure_delay_s: tuple[float, float] = (0.1, 0.4),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        access: AccessModel | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self._db = database
        self.access = access if access is not None else AccessModel(database, clock=clock)
        self.audit = audit
        self.signer = TokenSigner(key, token_lifetime_s)
        self.revocations = Revocations()
        self.throttle = LoginThrottle(lockout)
        self._passwords = passwords
        self._failure_delay_s = failure_delay_s
        self._clock = clock
        self._sleep = sleep
        # argon2 holds memory and a core per hash: a login flood queues here instead.
        self._hashing = asyncio.Semaphore(2)

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(hash_password, password, self._passwords)

    async def ensure_admin(self, password: str) -> bool:
        """Create ``admin`` (an administrator) when there are no users; True if created."""
        async with self._db.session() as session:
            if await UserRepository(session).count() > 0:
                return False
        try:
            await self.create_user(ADMIN_USERNAME, password, is_admin=True)
        except AlreadyExistsError:
            return False  # another node created it first
        log.info("created the initial administrator %r", ADMIN_USERNAME)
        return True

    async def create_user(
        self,
        username: str,
        password: str,
        *,
        is_admin: bool = False,
        display_name: str = "",
        department_id: int = ROOT_DEPARTMENT_ID,
        roles: Iterable[Role] | None = None,
    ) -> User:
        """Add a user with an argon2id hash of ``password`` to a department, with roles.

        Without ``roles`` an administrator is a system admin and anyone else an operator.
        """
        if roles is None:
            roles = (Role.SYSTEM_ADMIN,) if is_admin else (Role.OPERATOR,)
        user = await self._create_login(username, password, is_admin, display_name)
        async with self._db.session() as session:
            await AccessRepository(session).set_membership(user.id, department_id, roles)
        await self.access.refresh()
        return user

    async def set_password(self, user_id: int, password: str) -> None:
        """Replace a user's password and end every session and stream they hold."""
        password_hash = await self._hash(password)
        async with self._db.session() as session:
            await UserRepository(session).set_password_hash(user_id, password_hash)
        self.revoke_user(user_id)

    async def set_disabled(self, user_id: int, disabled: bool) -> None:
        """Disable (or re-enable) an account; disabling ends its sessions and streams."""
        async with self._db.session() as session:
            await UserRepository(session).set_disabled(user_id, disabled)
        if disabled:
            self.revoke_user(user_id)
        await self.access.refresh()

    async def _create_login(
        self, username: str, password: str, is_admin: bool, display_name: str
    ) -> User:
        if not 0 < len(username) <= _USERNAME_MAX:
            raise ValueError(f"usernames have 1 to {_USERNAME_MAX} characters")
        password_hash = await self._hash(password)
        async with self._db.session() as session:
            return await UserRepository(session).create(
                username,
                password_hash,
                datetime.now(UTC),
                display_name=display_name,
                is_admin=is_admin,
            )

    async def login(
        self, username: str, password: str, address: str | None
    ) -> tuple[str, TokenClaims]:
        """A token for valid credentials; :class:`LoginFailed` or :class:`LoginLocked` if not."""
        now = self._clock()
        wait = self.throttle.retry_after(username, address, now)
        if wait is not None:
            raise LoginLocked(wait)
        user = await self._check(username, password)
        if user is None:
            self.throttle.failure(username, address, self._clock())
            log.info("login failed for %r from %s", username[:_USERNAME_MAX], address)
            await self._sleep(_RANDOM.uniform(*self._failure_delay_s))
            raise LoginFailed()
        self.throttle.success(username)
        log.info("login of %r from %s", user.username, address)
        return self.signer.issue(user.id, user.username, self._clock())

    async def _check(self, username: str, password: str) -> User | None:
        """The user if the credentials are right and the account enabled, else ``None``."""
        user = None
        if 0 < len(username) <= _USERNAME_MAX:
            async with self._db.session() as session:
                user = await UserRepository(session).get_by_username(username)
        async with self._hashing:
            if user is None:
                await asyncio.to_thread(dummy_verify, password, self._passwords)
                return None
            check = await asyncio.to_thread(
                verify_password, user.password_hash, password, self._passwords
            )
        if not check.ok or user.disabled:
            return None
        if check.needs_rehash:
            new_hash = await self._hash(password)
            async with self._db.session() as session:
                await UserRepository(session).set_password_hash(user.id, new_hash)
        return user

    def logout(self, claims: TokenClaims) -> None:
        """Revoke the token behind ``claims``."""
        now = self._clock()
        self.revocations.prune(now, self.signer.lifetime_s)
        self.revocations.revoke(claims)

    def revoke_user(self, user_id: int) -> None:
        """Revoke every token issued so far to ``user_id``."""
        self.revocations.revoke_user(user_id, self._clock())

    async def authenticate(self, token: str, address: str | None = None) -> Principal:
        """The principal behind a bearer token; raises ``TokenError`` (→ 401) otherwise."""
        claims = self.signer.verify(token, self._clock())
        self.revocations.check(claims)
        # The access snapshot holds every account: no database read per request (under load
        # it took seconds, on every live open). Disabling an account here refreshes the
        # snapshot and revokes its tokens before it returns; done on another node, it shows
        # within the snapshot's TTL. Whatever the snapshot does not vouch for (an account it
        # does not know yet, or knows as disabled or renamed) the database decides.
        member = (await self.access.current()).members.get(claims.user_id)
        if member is not None and not member.disabled and member.username == claims.username:
            return Principal(
                member.user_id, member.username, is_system_admin(member), address, claims
            )
        async with self._db.session() as session:
            user = await UserRepository(session).get(claims.user_id)
        if user is None or user.disabled or user.username != claims.username:
            raise RevokedToken("the account no longer exists or is disabled")
        # The account's own flag from the database; a role from the snapshot still counts.
        is_admin = user.is_admin or (member is not None and Role.SYSTEM_ADMIN in member.roles)
        return Principal(user.id, user.username, is_admin, address, claims)

    async def decide(self, principal: Principal, action: Action, resource: Resource) -> Decision:
        """The policy's decision (with the grant that allowed it and whether masked only)."""
        return await self.access.decide(principal.user_id, action, resource)

    async def authorize(self, principal: Principal, action: Action, resource: Resource) -> None:
        """Raise :class:`Forbidden` unless ``principal`` may do ``action`` on ``resource``.

        The policy is ``sightline.access.policy``; a denial is audited as ``denied``.
        """
        decision = await self.decide(principal, action, resource)
        if not decision.allowed:
            self.record_denial(principal, action, resource, decision.reason)
            raise Forbidden(decision.reason)

    def record_denial(
        self, principal: Principal, action: Action, resource: Resource, reason: str
    ) -> None:
        """Audit a permission denial."""
        if self.audit is None:
            return
        snap = self.access.snapshot
        member = snap.members.get(principal.user_id)
        dep = snap.departments.get(member.department_id or 0) if member is not None else None
        department = dep.name if dep is not None else None
        self.audit.record(
            AuditEvent(
                AuditAction.PERMISSION_DENIED,
                AuditOutcome.DENIED,
                username=principal.username,
                user_id=principal.user_id,
                department=department,
                channel_id=resource.id if resource.kind is ResourceKind.CHANNEL else None,
                address=principal.address,
                detail={
                    "action": action.value,
                    "resource": resource.kind.value,
                    "id": resource.id,
                    "reason": reason,
                },
            )
        )
