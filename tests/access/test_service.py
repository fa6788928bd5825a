"""AuthService on a real database: first admin, login, lockout, tokens, logout, authorize."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.passwords import PasswordPolicy, hash_password
from sightline.access.service import (
    ADMIN_USERNAME,
    Action,
    AuthService,
    Forbidden,
    LockoutPolicy,
    LoginFailed,
    LoginLocked,
    LoginThrottle,
    Principal,
    Resource,
    ResourceKind,
)
from sightline.access.tokens import ExpiredToken, ForgedToken, RevokedToken
from sightline.store import Database, UserRepository
from tests.access.fixtures import FakeClock, Sleeps

KEY = b"k" * 32
ADDRESS = "192.0.2.7"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def auth(sqlite_db: Database, clock: FakeClock, sleeps: Sleeps) -> AuthService:
    service = AuthService(sqlite_db, KEY, token_lifetime_s=3600, clock=clock, sleep=sleeps)
    assert await service.ensure_admin("admin-secret")
    await service.create_user("operator", "op-secret")
    return service


async def test_first_admin_only_once(auth: AuthService, sqlite_db: Database) -> None:
    assert not await auth.ensure_admin("another")
    async with sqlite_db.session() as session:
        admin = await UserRepository(session).get_by_username(ADMIN_USERNAME)
    assert admin is not None and admin.is_admin
    assert admin.password_hash.startswith("$argon2id$")
    assert "admin-secret" not in admin.password_hash


async def test_login_gives_a_token_for_the_user(auth: AuthService, clock: FakeClock) -> None:
    token, claims = await auth.login("admin", "admin-secret", ADDRESS)
    assert (claims.username, claims.expires_at) == ("admin", clock.now + 3600)
    principal = await auth.authenticate(token, ADDRESS)
    assert principal == Principal(claims.user_id, "admin", True, ADDRESS, claims)
    operator = await auth.authenticate((await auth.login("operator", "op-secret", None))[0])
    assert (operator.username, operator.is_admin) == ("operator", False)


async def test_failures_look_alike(auth: AuthService, sleeps: Sleeps) -> None:
    errors = []
    for username, password in (("admin", "wrong"), ("nobody", "wrong"), ("", "x"), ("a" * 65, "x")):
        with pytest.raises(LoginFailed) as caught:
            await auth.login(username, password, ADDRESS)
        errors.append(str(caught.value))
    assert set(errors) == {"invalid username or password"}
    assert len(sleeps.delays) == 4 and all(0.1 <= d <= 0.4 for d in sleeps.delays)


async def test_unknown_user_costs_as_much_as_a_wrong_password(auth: AuthService) -> None:
    """The argon2 work is the same, so timing does not tell whether a username exists.

    Measured as the process's CPU time (argon2 runs in a worker thread; CPU time does not grow
    when other programs share the machine, wall time does), alternating the two kinds of
    attempt and keeping the least of each, the least disturbed."""

    async def cpu_cost(username: str) -> float:
        start = time.process_time()
        with pytest.raises(LoginFailed):
            await auth.login(username, "wrong", None)
        auth.throttle.success(username)  # keep the lockout out of this measurement
        return time.process_time() - start

    await cpu_cost("nobody")  # the first call makes the dummy hash
    known: list[float] = []
    unknown: list[float] = []
    for _ in range(5):
        known.append(await cpu_cost("operator"))
        unknown.append(await cpu_cost("nobody"))
    k, u = min(known), min(unknown)
    print(f"\nfailed login CPU: known user {k * 1000:.1f} ms, unknown {u * 1000:.1f} ms")
    assert 0.5 < u / k < 2.0


async def test_a_disabled_account_cannot_log_in(
    auth: AuthService, sqlite_db: Database, clock: FakeClock
) -> None:
    token, claims = await auth.login("operator", "op-secret", None)
    # disabled behind this service's back, as another node would
    async with sqlite_db.session() as session:
        await UserRepository(session).set_disabled(claims.user_id, True)
    with pytest.raises(LoginFailed):
        await auth.login("operator", "op-secret", None)
    # a token is checked against the access snapshot, which sees the change once reloaded
    clock.now += auth.access.ttl_s
    await auth.authenticate(token)  # served from the snapshot in hand; a reload starts
    await auth.access.settled()
    with pytest.raises(RevokedToken):
        await auth.authenticate(token)


async def test_disabling_an_account_ends_its_tokens_at_once(auth: AuthService) -> None:
    token, claims = await auth.login("operator", "op-secret", None)
    other, _ = await auth.login("operator", "op-secret", None)
    await auth.set_disabled(claims.user_id, True)
    for each in (token, other):
        with pytest.raises(RevokedToken):
            await auth.authenticate(each)


async def test_an_account_the_snapshot_does_not_know_yet_is_read_from_the_database(
    auth: AuthService, sqlite_db: Database
) -> None:
    # created behind the service's back (another node): the snapshot has not loaded it
    async with sqlite_db.session() as session:
        user = await UserRepository(session).create(
            "late", hash_password("late-secret"), datetime.now(UTC), display_name="late"
        )
    assert user.id not in auth.access.snapshot.members
    token, _ = await auth.login("late", "late-secret", None)
    principal = await auth.authenticate(token)
    assert (principal.user_id, principal.username, principal.is_admin) == (user.id, "late", False)


async def test_username_lockout(auth: AuthService, clock: FakeClock) -> None:
    for n in range(5):
        with pytest.raises(LoginFailed):
            await auth.login("Operator", "guess", f"198.51.100.{n}")
    # Locked even with the right password, from any address, in any letter case.
    with pytest.raises(LoginLocked) as locked:
        await auth.login("operator", "op-secret", "203.0.113.1")
    assert 899 < locked.value.retry_after_s <= 900
    clock.now += 901
    await auth.login("operator", "op-secret", "203.0.113.1")


async def test_address_lockout(auth: AuthService, clock: FakeClock) -> None:
    for n in range(20):
        with pytest.raises(LoginFailed):
            await auth.login(f"user{n}", "guess", ADDRESS)
    with pytest.raises(LoginLocked):
        await auth.login("operator", "op-secret", ADDRESS)
    await auth.login("operator", "op-secret", "203.0.113.1")


async def test_failures_outside_the_window_do_not_count(
    auth: AuthService, clock: FakeClock
) -> None:
    for _ in range(4):
        with pytest.raises(LoginFailed):
            await auth.login("operator", "guess", None)
    clock.now += 901
    with pytest.raises(LoginFailed):
        await auth.login("operator", "guess", None)
    await auth.login("operator", "op-secret", None)


async def test_success_resets_the_username_count(auth: AuthService) -> None:
    for _ in range(4):
        with pytest.raises(LoginFailed):
            await auth.login("operator", "guess", None)
    await auth.login("operator", "op-secret", None)
    for _ in range(4):
        with pytest.raises(LoginFailed):
            await auth.login("operator", "guess", None)
    await auth.login("operator", "op-secret", None)


def test_the_throttle_stays_bounded() -> None:
    throttle = LoginThrottle(LockoutPolicy(max_tracked=10))
    for n in range(100):
        throttle.failure(f"user{n}", None, 1000.0 + n)
    assert len(throttle._entries) <= 10


async def test_expired_token(auth: AuthService, clock: FakeClock) -> None:
    token, _ = await auth.login("operator", "op-secret", None)
    clock.now += 3600
    with pytest.raises(ExpiredToken):
        await auth.authenticate(token)


async def test_token_of_another_installation_is_forged(
    auth: AuthService, sqlite_db: Database
) -> None:
    other = AuthService(sqlite_db, b"o" * 32, token_lifetime_s=3600)
    token, _ = await other.login("operator", "op-secret", None)
    with pytest.raises(ForgedToken):
        await auth.authenticate(token)


async def test_logout_revokes_only_that_token(auth: AuthService) -> None:
    first, claims = await auth.login("operator", "op-secret", None)
    second, _ = await auth.login("operator", "op-secret", None)
    auth.logout(claims)
    with pytest.raises(RevokedToken):
        await auth.authenticate(first)
    assert (await auth.authenticate(second)).username == "operator"


async def test_revoke_user(auth: AuthService, clock: FakeClock) -> None:
    token, claims = await auth.login("operator", "op-secret", None)
    auth.revoke_user(claims.user_id)
    with pytest.raises(RevokedToken):
        await auth.authenticate(token)
    clock.now += 1
    fresh, _ = await auth.login("operator", "op-secret", None)
    assert (await auth.authenticate(fresh)).username == "operator"


async def test_an_old_hash_is_upgraded_on_login(auth: AuthService, sqlite_db: Database) -> None:
    weak = hash_password("op-secret", PasswordPolicy(time_cost=1, memory_kib=8))
    async with sqlite_db.session() as session:
        users = UserRepository(session)
        operator = await users.get_by_username("operator")
        assert operator is not None
        await users.set_password_hash(operator.id, weak)
    await auth.login("operator", "op-secret", None)
    async with sqlite_db.session() as session:
        upgraded = await UserRepository(session).get(operator.id)
    assert upgraded is not None and upgraded.password_hash.startswith("$argon2id$v=19$m=19456")
    await auth.login("operator", "op-secret", None)


async def test_an_operator_of_the_root_department_works_its_channels(auth: AuthService) -> None:
    token, _ = await auth.login("operator", "op-secret", None)
    operator = await auth.authenticate(token)
    assert not operator.is_admin
    channel = Resource.channel("34020000001320000001")
    for action in (Action.READ, Action.LIVE, Action.PTZ, Action.PLAYBACK, Action.UNMASKED):
        await auth.authorize(operator, action, channel)
    for action in (Action.EXPORT, Action.MANAGE, Action.RECORDING_MANAGE):
        with pytest.raises(Forbidden, match=r"may not|needs"):
            await auth.authorize(operator, action, channel)
    with pytest.raises(Forbidden):
        await auth.authorize(operator, Action.AUDIT, Resource(ResourceKind.SYSTEM))


async def test_the_admin_may_do_everything(auth: AuthService) -> None:
    token, _ = await auth.login("admin", "admin-secret", None)
    admin = await auth.authenticate(token)
    assert admin.is_admin
    for action in Action:
        for kind in ResourceKind:
            await auth.authorize(admin, action, Resource(kind, "1"))


class _Sink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


async def test_a_denial_is_audited_with_its_reason(auth: AuthService) -> None:
    sink = _Sink()
    auth.audit = sink
    token, _ = await auth.login("operator", "op-secret", ADDRESS)
    operator = await auth.authenticate(token, ADDRESS)
    with pytest.raises(Forbidden):
        await auth.authorize(operator, Action.EXPORT, Resource.channel("34020000001320000001"))
    [event] = sink.events
    assert event.action is AuditAction.PERMISSION_DENIED
    assert event.outcome is AuditOutcome.DENIED
    assert (event.username, event.department, event.address) == ("operator", "root", ADDRESS)
    assert event.channel_id == "34020000001320000001"
    assert event.detail["action"] == "export" and "may not" in str(event.detail["reason"])
