"""Stream tokens follow the access model: a revoked or expired grant, a logout, a disabled
account or a lost role stops a token at its next check (what a running view does every 2 s)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from sightline.access.actions import Principal
from sightline.access.grants import GrantSpec
from sightline.access.service import AuthService
from sightline.access.services import AccessServices, build_access_services
from sightline.access.stream_tokens import StreamAction, StreamClaims, StreamTokens
from sightline.access.tokens import RevokedToken
from sightline.store import Database
from sightline.store.models.access import Classification, GrantAction, Role, ScopeKind, Sharing
from tests.access.fixtures import FakeClock, Sleeps

KEY = b"stream-policy-key-000000" * 2
CAM = "34020000001320000001"


@dataclass
class World:
    auth: AuthService
    tokens: StreamTokens
    access: AccessServices
    clock: FakeClock
    admin: Principal
    viewer: Principal
    police: int


@pytest.fixture
async def world(sqlite_db: Database) -> World:
    clock = FakeClock()
    auth = AuthService(sqlite_db, KEY, token_lifetime_s=3600, clock=clock, sleep=Sleeps())
    await auth.ensure_admin("admin-secret")
    tokens = StreamTokens(KEY, 60, clock=clock)
    access = build_access_services(sqlite_db, auth, stream_tokens=tokens)
    admin = Principal(1, "admin", True)
    police = await access.admin.create_department(admin, "police", 1, None)
    transport = await access.admin.create_department(admin, "transport", 1, None)
    await access.admin.set_ownership(
        admin,
        CAM,
        department_id=police.id,
        classification=Classification.PUBLIC_SECURITY,
        sharing=Sharing.NONE,
    )
    user = await access.admin.create_user(
        admin,
        username="tv",
        password="tv-password",
        display_name="",
        department_id=transport.id,
        roles=[Role.VIEWER],
    )
    _, claims = await auth.login("tv", "tv-password", None)
    viewer = Principal(user.id, "tv", False, None, claims)
    return World(auth, tokens, access, clock, admin, viewer, police.id)


async def _grant(world: World, hours: float = 1.0) -> str:
    now = datetime.fromtimestamp(world.clock.now, UTC)
    grant = await world.access.grants.create(
        world.admin,
        GrantSpec(
            grantee_user_id=world.viewer.user_id,
            scope_kind=ScopeKind.CHANNEL,
            scope_id=CAM,
            actions=[GrantAction.LIVE],
            not_before=now - timedelta(minutes=1),
            not_after=now + timedelta(hours=hours),
            grantor_department_id=world.police,
        ),
    )
    return grant.id


def _issue(world: World, grant_id: str | None) -> StreamClaims:
    assert world.viewer.claims is not None
    token, _ = world.tokens.issue(
        user_id=world.viewer.user_id,
        username="tv",
        channel_id=CAM,
        action=StreamAction.LIVE,
        session_id=world.viewer.claims.token_id,
        grant_id=grant_id,
    )
    return world.tokens.verify(token, channel_id=CAM, action=StreamAction.LIVE, client=None)


async def test_a_token_needs_the_policy_to_allow_it(world: World) -> None:
    with pytest.raises(RevokedToken, match="access withdrawn"):
        _issue(world, None)
    grant_id = await _grant(world)
    claims = _issue(world, grant_id)
    assert claims.grant_id == grant_id
    world.tokens.check(claims)


async def test_revoking_the_grant_stops_the_token(world: World) -> None:
    claims = _issue(world, await _grant(world))
    await world.access.grants.revoke(world.admin, claims.grant_id or "")
    with pytest.raises(RevokedToken, match=r"revoked|withdrawn"):
        world.tokens.check(claims)


async def test_the_grant_ending_stops_the_token(world: World) -> None:
    claims = _issue(world, await _grant(world, hours=0.5))
    world.clock.now += 1800
    with pytest.raises(RevokedToken, match="withdrawn"):
        world.tokens.check(claims)


async def test_logout_stops_the_streams_of_that_login(world: World) -> None:
    claims = _issue(world, await _grant(world))
    assert world.viewer.claims is not None
    world.auth.logout(world.viewer.claims)
    with pytest.raises(RevokedToken, match="login"):
        world.tokens.check(claims)


async def test_disabling_the_user_stops_their_streams(world: World) -> None:
    claims = _issue(world, await _grant(world))
    await world.access.admin.update_user(world.admin, world.viewer.user_id, disabled=True)
    with pytest.raises(RevokedToken):
        world.tokens.check(claims)


async def test_a_department_grant_stops_when_the_user_loses_the_role(world: World) -> None:
    now = datetime.fromtimestamp(world.clock.now, UTC)
    snap = world.auth.access.snapshot
    department = snap.members[world.viewer.user_id].department_id
    await world.access.grants.create(
        world.admin,
        GrantSpec(
            grantee_department_id=department,
            scope_kind=ScopeKind.CHANNEL,
            scope_id=CAM,
            actions=[GrantAction.LIVE],
            not_before=now,
            not_after=now + timedelta(hours=1),
            grantor_department_id=world.police,
        ),
    )
    claims = _issue(world, None)
    await world.access.admin.update_user(world.admin, world.viewer.user_id, roles=[Role.AUDITOR])
    with pytest.raises(RevokedToken, match="withdrawn"):
        world.tokens.check(claims)
