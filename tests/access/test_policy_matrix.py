"""The access policy as a matrix: role × action × resource, grants, sharing, time windows.

Pure: the snapshot is built from records in memory, the clock is a datetime passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from sightline.access.actions import Action, Resource, ResourceKind
from sightline.access.policy import administered, approvers, decide, visible_channels
from sightline.access.snapshot import AccessSnapshot, build_snapshot
from sightline.store.models.access import (
    Classification,
    GrantAction,
    Role,
    ScopeKind,
    Sharing,
)
from sightline.store.repositories.access import (
    ChannelOwnership,
    ChannelPlace,
    Department,
    Grant,
    GroupLink,
    Member,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# departments: 1 root; 2 police (region 3402); 3 county police (340201) under 2; 4 transport
ROOT, POLICE, COUNTY, TRANSPORT = 1, 2, 3, 4
POLICE_CAM = "34020000001320000001"  # police, civil code 34020000
COUNTY_CAM = "34020100001320000002"  # county police, civil code 34020100
TRANSPORT_CAM = "34020000001320000003"  # transport, shared with all
PRIVATE_CAM = "34020000001320000004"  # police, department-private
ROOT_CAM = "34020000001320000005"  # no ownership row: root department
GROUP = "34020000002150000001"
VORG = "34020000002160000001"  # a virtual organisation under GROUP


def dep(dep_id: int, name: str, parent: int | None, prefix: str | None = None) -> Department:
    return Department(id=dep_id, name=name, parent_id=parent, region_prefix=prefix, created_at=NOW)


def member(user_id: int, name: str, department: int | None, *roles: Role) -> Member:
    return Member(
        user_id=user_id,
        username=name,
        display_name=name,
        disabled=False,
        is_admin=False,
        department_id=department,
        roles=frozenset(roles),
    )


USERS = {
    "sysadmin": member(1, "sysadmin", ROOT, Role.SYSTEM_ADMIN),
    "police_viewer": member(2, "police_viewer", POLICE, Role.VIEWER),
    "police_operator": member(3, "police_operator", POLICE, Role.OPERATOR),
    "police_exporter": member(4, "police_exporter", POLICE, Role.EXPORTER),
    "police_admin": member(5, "police_admin", POLICE, Role.DEPARTMENT_ADMIN),
    "county_admin": member(6, "county_admin", COUNTY, Role.DEPARTMENT_ADMIN),
    "county_viewer": member(7, "county_viewer", COUNTY, Role.VIEWER),
    "transport_viewer": member(8, "transport_viewer", TRANSPORT, Role.VIEWER),
    "transport_operator": member(9, "transport_operator", TRANSPORT, Role.OPERATOR),
    "auditor": member(10, "auditor", ROOT, Role.AUDITOR),
    "homeless": member(11, "homeless", None, Role.OPERATOR),
}


def own(channel: str, department: int, cls: Classification, sharing: Sharing) -> ChannelOwnership:
    return ChannelOwnership(
        channel_id=channel,
        department_id=department,
        classification=cls,
        sharing=sharing,
        updated_at=NOW,
    )


def place(channel: str, civil: str, parent: str | None = None) -> ChannelPlace:
    return ChannelPlace(
        id=channel, device_id=channel, civil_code=civil, parent_id=parent, business_group_id=None
    )


def grant(
    grant_id: str,
    *,
    user: int | None = None,
    department: int | None = None,
    scope: tuple[ScopeKind, str] = (ScopeKind.CHANNEL, POLICE_CAM),
    actions: Iterable[GrantAction] = (GrantAction.LIVE,),
    grantor: int = POLICE,
    masked_only: bool = False,
    hours: tuple[float, float] = (-1, 1),
    subdepartments: bool = False,
) -> Grant:
    return Grant(
        id=grant_id,
        grantee_department_id=department,
        grantee_user_id=user,
        include_subdepartments=subdepartments,
        grantor_department_id=grantor,
        scope_kind=scope[0],
        scope_id=scope[1],
        actions=[a.value for a in actions],
        masked_only=masked_only,
        not_before=NOW + timedelta(hours=hours[0]),
        not_after=NOW + timedelta(hours=hours[1]),
        created_by=1,
        created_at=NOW,
    )


def snapshot(*grants: Grant, members: Iterable[Member] = USERS.values()) -> AccessSnapshot:
    return build_snapshot(
        [
            dep(ROOT, "root", None),
            dep(POLICE, "police", ROOT, "3402"),
            dep(COUNTY, "county police", POLICE, "340201"),
            dep(TRANSPORT, "transport", ROOT),
        ],
        members,
        [
            own(POLICE_CAM, POLICE, Classification.PUBLIC_SECURITY, Sharing.NONE),
            own(COUNTY_CAM, COUNTY, Classification.PUBLIC_SECURITY, Sharing.NONE),
            own(TRANSPORT_CAM, TRANSPORT, Classification.PUBLIC_SECURITY, Sharing.ALL),
            own(PRIVATE_CAM, POLICE, Classification.DEPARTMENT_PRIVATE, Sharing.NONE),
        ],
        [
            place(POLICE_CAM, "34020000", parent=VORG),
            place(COUNTY_CAM, "34020100"),
            place(TRANSPORT_CAM, "34020000"),
            place(PRIVATE_CAM, "34020000"),
            place(ROOT_CAM, "34020000"),
        ],
        [
            GroupLink(id=GROUP, parent_id=None, business_group_id=None),
            GroupLink(id=VORG, parent_id=GROUP, business_group_id=GROUP),
        ],
        grants,
    )


def allowed(
    snap: AccessSnapshot, who: str, action: Action, resource: Resource, at: datetime = NOW
) -> bool:
    return decide(snap, USERS[who].user_id, action, resource, at).allowed


CH = Resource.channel
Y, N = True, False
VIDEO = (Action.READ, Action.LIVE, Action.PLAYBACK, Action.PTZ, Action.EXPORT, Action.UNMASKED)

# who → what they may do on POLICE_CAM without any grant, in VIDEO order
OWN_CHANNEL = {
    "sysadmin": (Y, Y, Y, Y, Y, Y),
    "police_viewer": (Y, Y, N, N, N, N),
    "police_operator": (Y, Y, Y, Y, N, Y),
    "police_exporter": (Y, Y, Y, N, Y, Y),
    "police_admin": (Y, Y, Y, Y, Y, Y),
    "county_admin": (N, N, N, N, N, N),  # a sub-department does not see its parent's cameras
    "county_viewer": (N, N, N, N, N, N),
    "transport_viewer": (N, N, N, N, N, N),
    "transport_operator": (N, N, N, N, N, N),
    "auditor": (N, N, N, N, N, N),
    "homeless": (N, N, N, N, N, N),
}


@pytest.mark.parametrize("who", sorted(OWN_CHANNEL))
def test_roles_on_an_own_department_channel(who: str) -> None:
    snap = snapshot()
    got = tuple(allowed(snap, who, action, CH(POLICE_CAM)) for action in VIDEO)
    assert got == OWN_CHANNEL[who]


@pytest.mark.parametrize(
    ("who", "expected"),
    [("police_admin", (Y, Y, Y, Y, Y, Y)), ("police_viewer", (Y, Y, N, N, N, N))],
)
def test_a_department_above_sees_the_channels_below(who: str, expected: tuple[bool, ...]) -> None:
    snap = snapshot()
    assert tuple(allowed(snap, who, a, CH(COUNTY_CAM)) for a in VIDEO) == expected


def test_owner_viewers_get_the_masked_view_only() -> None:
    snap = snapshot()
    viewer = decide(snap, USERS["police_viewer"].user_id, Action.LIVE, CH(POLICE_CAM), NOW)
    operator = decide(snap, USERS["police_operator"].user_id, Action.LIVE, CH(POLICE_CAM), NOW)
    assert viewer.allowed and viewer.masked
    assert operator.allowed and not operator.masked


def test_transport_viewer_sees_police_channel_only_while_an_approved_grant_is_valid() -> None:
    resource = CH(POLICE_CAM)
    assert not allowed(snapshot(), "transport_viewer", Action.LIVE, resource)
    granted = snapshot(grant("g1", user=USERS["transport_viewer"].user_id, hours=(0, 2)))
    assert allowed(granted, "transport_viewer", Action.LIVE, resource)
    assert allowed(granted, "transport_viewer", Action.READ, resource)
    assert not allowed(granted, "transport_viewer", Action.PLAYBACK, resource)
    ends = NOW + timedelta(hours=2)
    assert allowed(granted, "transport_viewer", Action.LIVE, resource, ends - timedelta(seconds=1))
    assert not allowed(granted, "transport_viewer", Action.LIVE, resource, ends)
    before = NOW - timedelta(seconds=1)
    assert not allowed(granted, "transport_viewer", Action.LIVE, resource, before)


def test_the_denial_says_who_what_and_how_to_ask() -> None:
    decision = decide(
        snapshot(), USERS["transport_viewer"].user_id, Action.LIVE, CH(POLICE_CAM), NOW
    )
    assert not decision.allowed
    for part in ("transport_viewer", "transport", "police", POLICE_CAM, "access-requests"):
        assert part in decision.reason


def test_a_department_grant_is_limited_by_each_members_roles() -> None:
    snap = snapshot(grant("g", department=TRANSPORT, actions=(GrantAction.LIVE, GrantAction.PTZ)))
    assert allowed(snap, "transport_viewer", Action.LIVE, CH(POLICE_CAM))
    assert not allowed(snap, "transport_viewer", Action.PTZ, CH(POLICE_CAM))
    assert allowed(snap, "transport_operator", Action.PTZ, CH(POLICE_CAM))
    # a personal grant is the approved decision itself: not limited by role
    personal = snapshot(
        grant("p", user=USERS["transport_viewer"].user_id, actions=[GrantAction.PTZ])
    )
    assert allowed(personal, "transport_viewer", Action.PTZ, CH(POLICE_CAM))


def test_department_grants_reach_sub_departments_only_when_they_say_so() -> None:
    plain = snapshot(
        grant("g", department=POLICE, scope=(ScopeKind.CHANNEL, TRANSPORT_CAM), grantor=TRANSPORT)
    )
    assert not allowed(plain, "county_viewer", Action.PLAYBACK, CH(TRANSPORT_CAM))
    wide = snapshot(
        grant(
            "g",
            department=POLICE,
            scope=(ScopeKind.CHANNEL, TRANSPORT_CAM),
            grantor=TRANSPORT,
            actions=[GrantAction.PLAYBACK],
            subdepartments=True,
        )
    )
    assert not allowed(wide, "county_viewer", Action.PLAYBACK, CH(TRANSPORT_CAM))  # viewer role
    county_op = member(12, "county_operator", COUNTY, Role.OPERATOR)
    snap = snapshot(*wide.grants.values(), members=[*USERS.values(), county_op])
    assert decide(snap, 12, Action.PLAYBACK, CH(TRANSPORT_CAM), NOW).allowed


@pytest.mark.parametrize(
    ("scope", "channel", "expected"),
    [
        ((ScopeKind.GROUP, GROUP), POLICE_CAM, True),  # through the virtual organisation
        ((ScopeKind.GROUP, VORG), POLICE_CAM, True),
        ((ScopeKind.GROUP, GROUP), PRIVATE_CAM, False),
        ((ScopeKind.REGION, "3402"), POLICE_CAM, True),
        ((ScopeKind.REGION, "3402"), COUNTY_CAM, True),  # owned below the grantor
        ((ScopeKind.REGION, "340201"), POLICE_CAM, False),
        ((ScopeKind.REGION, "3402"), ROOT_CAM, False),  # not the grantor's channel
        ((ScopeKind.CHANNEL, POLICE_CAM), PRIVATE_CAM, False),
    ],
)
def test_grant_scopes(scope: tuple[ScopeKind, str], channel: str, expected: bool) -> None:
    snap = snapshot(grant("g", user=USERS["transport_viewer"].user_id, scope=scope))
    assert allowed(snap, "transport_viewer", Action.LIVE, CH(channel)) is expected


def test_a_grant_never_covers_channels_its_grantor_does_not_own() -> None:
    snap = snapshot(grant("g", user=USERS["transport_viewer"].user_id, grantor=COUNTY))
    assert not allowed(snap, "transport_viewer", Action.LIVE, CH(POLICE_CAM))


def test_masked_only_grants_give_the_masked_view_but_not_unmasked() -> None:
    uid = USERS["transport_viewer"].user_id
    snap = snapshot(grant("g", user=uid, masked_only=True))
    live = decide(snap, uid, Action.LIVE, CH(POLICE_CAM), NOW)
    assert live.allowed and live.masked and live.grant_id == "g"
    assert not allowed(snap, "transport_viewer", Action.UNMASKED, CH(POLICE_CAM))
    both = snapshot(grant("g", user=uid, masked_only=True), grant("h", user=uid))
    best = decide(both, uid, Action.LIVE, CH(POLICE_CAM), NOW)
    assert best.allowed and not best.masked and best.grant_id == "h"
    assert allowed(both, "transport_viewer", Action.UNMASKED, CH(POLICE_CAM))


def test_default_sharing_of_public_channels_is_live_and_masked() -> None:
    snap = snapshot()
    for who in ("police_viewer", "county_viewer", "transport_viewer"):
        shared = decide(snap, USERS[who].user_id, Action.LIVE, CH(TRANSPORT_CAM), NOW)
        assert shared.allowed and shared.masked, who
        assert not allowed(snap, who, Action.PLAYBACK, CH(TRANSPORT_CAM))
        assert not allowed(snap, who, Action.UNMASKED, CH(TRANSPORT_CAM))
    assert not allowed(snap, "auditor", Action.LIVE, CH(TRANSPORT_CAM))


def test_subtree_sharing_reaches_only_departments_below_the_owner() -> None:
    snap = snapshot()
    shared = build_snapshot(
        snap.departments.values(),
        snap.members.values(),
        [own(POLICE_CAM, POLICE, Classification.PUBLIC_SECURITY, Sharing.SUBTREE)],
        snap.places.values(),
        [],
        [],
    )
    assert allowed(shared, "county_viewer", Action.LIVE, CH(POLICE_CAM))
    assert not allowed(shared, "transport_viewer", Action.LIVE, CH(POLICE_CAM))


def test_root_department_owns_channels_without_an_owner() -> None:
    snap = snapshot()
    assert not allowed(snap, "police_admin", Action.LIVE, CH(ROOT_CAM))
    root_op = member(12, "root_operator", ROOT, Role.OPERATOR)
    with_op = snapshot(members=[*USERS.values(), root_op])
    assert decide(with_op, 12, Action.PTZ, CH(ROOT_CAM), NOW).allowed
    assert decide(with_op, 12, Action.LIVE, CH(POLICE_CAM), NOW).allowed  # root is above


@pytest.mark.parametrize(
    ("who", "kind", "action", "expected"),
    [
        ("auditor", ResourceKind.SYSTEM, Action.AUDIT, True),
        ("auditor", ResourceKind.SYSTEM, Action.LIVE, False),
        ("police_admin", ResourceKind.SYSTEM, Action.AUDIT, False),
        ("police_viewer", ResourceKind.SYSTEM, Action.READ, True),
        ("police_viewer", ResourceKind.REGION, Action.READ, True),
        ("police_viewer", ResourceKind.GROUP, Action.READ, True),
        ("police_viewer", ResourceKind.CHANNEL, Action.READ, True),  # the list is filtered
        ("police_viewer", ResourceKind.CHANNEL, Action.LIVE, False),
        ("police_admin", ResourceKind.SYSTEM, Action.MANAGE, False),
        ("sysadmin", ResourceKind.SYSTEM, Action.MANAGE, True),
    ],
)
def test_system_and_collection_resources(
    who: str, kind: ResourceKind, action: Action, expected: bool
) -> None:
    assert allowed(snapshot(), who, action, Resource(kind)) is expected


@pytest.mark.parametrize(
    ("who", "expected"),
    [("auditor", True), ("police_admin", False), ("police_viewer", False), ("sysadmin", True)],
)
def test_only_auditors_read_the_audit_log(who: str, expected: bool) -> None:
    audit_log = Resource(ResourceKind.SYSTEM, "audit")
    assert allowed(snapshot(), who, Action.READ, audit_log) is expected


@pytest.mark.parametrize(
    ("who", "target", "expected"),
    [
        ("police_admin", POLICE, True),
        ("police_admin", COUNTY, True),
        ("police_admin", TRANSPORT, False),
        ("police_admin", ROOT, False),
        ("county_admin", COUNTY, True),
        ("county_admin", POLICE, False),
        ("police_operator", POLICE, False),
        ("sysadmin", ROOT, True),
    ],
)
def test_department_admins_manage_their_subtree(who: str, target: int, expected: bool) -> None:
    snap = snapshot()
    assert allowed(snap, who, Action.MANAGE, Resource.department(target)) is expected
    assert allowed(snap, who, Action.APPROVE, Resource.department(target)) is expected


@pytest.mark.parametrize(
    ("who", "target", "expected"),
    [
        ("police_admin", "county_viewer", True),
        ("police_admin", "transport_viewer", False),
        ("county_admin", "police_viewer", False),
        ("police_admin", "sysadmin", False),
        ("police_viewer", "police_operator", False),
    ],
)
def test_department_admins_manage_their_users(who: str, target: str, expected: bool) -> None:
    resource = Resource.user(USERS[target].user_id)
    assert allowed(snapshot(), who, Action.MANAGE, resource) is expected


def test_region_scope_limits_channel_administration() -> None:
    snap = snapshot()
    assert allowed(snap, "county_admin", Action.MANAGE, CH(COUNTY_CAM))
    assert not allowed(snap, "county_admin", Action.MANAGE, CH(POLICE_CAM))
    assert allowed(snap, "police_admin", Action.MANAGE, CH(COUNTY_CAM))
    moved = build_snapshot(
        snap.departments.values(),
        snap.members.values(),
        [own("34030000001320000009", COUNTY, Classification.PUBLIC_SECURITY, Sharing.NONE)],
        [place("34030000001320000009", "34030000")],
        [],
        [],
    )
    # owned by the county, but outside its region: not the county admin's to manage
    assert not allowed(moved, "county_admin", Action.MANAGE, CH("34030000001320000009"))


def test_devices_follow_their_channels() -> None:
    snap = snapshot()
    assert allowed(snap, "police_viewer", Action.READ, Resource.device(POLICE_CAM))
    assert not allowed(snap, "police_viewer", Action.CATALOG_REFRESH, Resource.device(POLICE_CAM))
    assert allowed(snap, "police_operator", Action.CATALOG_REFRESH, Resource.device(POLICE_CAM))
    assert not allowed(snap, "transport_operator", Action.READ, Resource.device(POLICE_CAM))


def test_disabled_and_unknown_users_may_do_nothing() -> None:
    snap = snapshot(
        members=[
            Member(
                user_id=2,
                username="police_viewer",
                display_name="",
                disabled=True,
                is_admin=True,
                department_id=POLICE,
                roles=frozenset({Role.SYSTEM_ADMIN}),
            )
        ]
    )
    assert not allowed(snap, "police_viewer", Action.READ, Resource(ResourceKind.SYSTEM))
    assert not decide(snap, 999, Action.READ, Resource(ResourceKind.SYSTEM), NOW).allowed


def test_visible_channels_and_administered_departments() -> None:
    snap = snapshot(grant("g", user=USERS["transport_viewer"].user_id))
    assert visible_channels(snap, USERS["sysadmin"].user_id, NOW) is None
    assert visible_channels(snap, USERS["transport_viewer"].user_id, NOW) == frozenset(
        {POLICE_CAM, TRANSPORT_CAM}
    )
    assert visible_channels(snap, USERS["county_viewer"].user_id, NOW) == frozenset(
        {COUNTY_CAM, TRANSPORT_CAM}
    )
    assert visible_channels(snap, USERS["auditor"].user_id, NOW) == frozenset()
    assert administered(snap, USERS["police_admin"]) == frozenset({POLICE, COUNTY})
    assert administered(snap, USERS["sysadmin"]) is None
    assert administered(snap, USERS["police_viewer"]) == frozenset()
    assert approvers(snap, COUNTY) == {
        USERS["sysadmin"].user_id,
        USERS["police_admin"].user_id,
        USERS["county_admin"].user_id,
    }
