"""Region-scoped and peer-safe administration, as matrices over an in-memory snapshot.

A county admin gives away only channels of the county region (issue 8, review gap 4), and a
department admin changes only users below them, never a peer admin (review gap 5).
"""

from __future__ import annotations

import pytest

from sightline.access.actions import Action, Resource
from sightline.access.policy import decide, grant_scope_problem, manages_user
from sightline.access.snapshot import AccessSnapshot, build_snapshot
from sightline.store.models.access import Classification, Role, ScopeKind, Sharing
from sightline.store.repositories.access import Grant, GroupLink
from tests.access.test_policy_matrix import (
    COUNTY,
    NOW,
    POLICE,
    ROOT,
    TRANSPORT,
    dep,
    grant,
    member,
    own,
    place,
)

CITY_GROUP = "34020000002150000009"  # a business group spanning the city
COUNTY_VORG = "34020000002160000009"  # a virtual organisation of county cameras only
COUNTY_CAM = "34020100001320000011"  # county-owned, in the county region 340201
STRAY_CAM = "34020000001320000012"  # county-owned, but in the city region outside 340201
CITY_CAM = "34020000001320000013"  # police-owned, city region

MEMBERS = {
    "sysadmin": member(1, "sysadmin", ROOT, Role.SYSTEM_ADMIN),
    "police_admin": member(2, "police_admin", POLICE, Role.DEPARTMENT_ADMIN),
    "police_admin2": member(3, "police_admin2", POLICE, Role.DEPARTMENT_ADMIN),
    "police_viewer": member(4, "police_viewer", POLICE, Role.VIEWER),
    "county_admin": member(5, "county_admin", COUNTY, Role.DEPARTMENT_ADMIN),
    "county_viewer": member(6, "county_viewer", COUNTY, Role.VIEWER),
    "transport_admin": member(7, "transport_admin", TRANSPORT, Role.DEPARTMENT_ADMIN),
    "transport_viewer": member(8, "transport_viewer", TRANSPORT, Role.VIEWER),
    "auditor": member(9, "auditor", ROOT, Role.AUDITOR),
    "root_admin": member(10, "root_admin", ROOT, Role.DEPARTMENT_ADMIN),
}


def snapshot(*grants: Grant) -> AccessSnapshot:
    public = Classification.PUBLIC_SECURITY
    return build_snapshot(
        [
            dep(ROOT, "root", None),
            dep(POLICE, "police", ROOT, "3402"),
            dep(COUNTY, "county police", POLICE, "340201"),
            dep(TRANSPORT, "transport", ROOT),
        ],
        MEMBERS.values(),
        [
            own(COUNTY_CAM, COUNTY, public, Sharing.NONE),
            own(STRAY_CAM, COUNTY, public, Sharing.NONE),
            own(CITY_CAM, POLICE, public, Sharing.NONE),
        ],
        [
            place(COUNTY_CAM, "34020100", parent=COUNTY_VORG),
            place(STRAY_CAM, "34020000", parent=CITY_GROUP),
            place(CITY_CAM, "34020000", parent=CITY_GROUP),
        ],
        [
            GroupLink(id=CITY_GROUP, parent_id=None, business_group_id=None),
            GroupLink(id=COUNTY_VORG, parent_id=CITY_GROUP, business_group_id=CITY_GROUP),
        ],
        grants,
    )


@pytest.mark.parametrize(
    ("who", "grantor", "group", "allowed"),
    [
        ("county_admin", COUNTY, CITY_GROUP, False),  # reaches outside the county
        ("county_admin", COUNTY, COUNTY_VORG, True),
        ("police_admin", POLICE, CITY_GROUP, True),
        ("police_admin", COUNTY, CITY_GROUP, False),  # the grantor's region limits it too
        ("police_admin", COUNTY, COUNTY_VORG, True),
        ("police_admin", POLICE, COUNTY_VORG, True),
        ("sysadmin", COUNTY, CITY_GROUP, True),  # not limited at creation (see below)
        ("sysadmin", POLICE, CITY_GROUP, True),
    ],
)
def test_group_grants_stay_inside_the_admins_region(
    who: str, grantor: int, group: str, allowed: bool
) -> None:
    problem = grant_scope_problem(snapshot(), MEMBERS[who], grantor, ScopeKind.GROUP, group)
    assert (problem is None) is allowed, problem


def test_only_group_scopes_are_limited_here() -> None:
    snap = snapshot()
    admin = MEMBERS["county_admin"]
    # channel scopes need MANAGE on the channel, region scopes a prefix inside the grantor's
    for kind in (ScopeKind.CHANNEL, ScopeKind.REGION):
        assert grant_scope_problem(snap, admin, COUNTY, kind, CITY_CAM) is None
    problem = grant_scope_problem(snap, admin, COUNTY, ScopeKind.GROUP, CITY_GROUP)
    assert problem is not None and "outside region 340201" in problem


@pytest.mark.parametrize(
    ("channel", "covered"), [(COUNTY_CAM, True), (STRAY_CAM, False), (CITY_CAM, False)]
)
def test_a_group_grant_never_covers_channels_outside_the_grantors_region(
    channel: str, covered: bool
) -> None:
    viewer = MEMBERS["transport_viewer"].user_id
    given = grant("g", user=viewer, scope=(ScopeKind.GROUP, CITY_GROUP), grantor=COUNTY)
    snap = snapshot(given)
    assert decide(snap, viewer, Action.LIVE, Resource.channel(channel), NOW).allowed is covered


Y, N = True, False
TARGETS = (
    "sysadmin",
    "police_admin",
    "police_admin2",
    "police_viewer",
    "county_admin",
    "county_viewer",
    "transport_viewer",
    "auditor",
)
# who → may they change (password, disable, roles) each of TARGETS, in that order
MANAGES = {
    "sysadmin": (Y, Y, Y, Y, Y, Y, Y, Y),
    "root_admin": (N, Y, Y, Y, Y, Y, Y, N),  # an admin of an ancestor department
    "police_admin": (N, Y, N, Y, Y, Y, N, N),  # themselves yes, their peer no
    "police_admin2": (N, N, Y, Y, Y, Y, N, N),
    "county_admin": (N, N, N, N, Y, Y, N, N),  # not the admins above
    "transport_admin": (N, N, N, N, N, N, Y, N),
    "police_viewer": (N, N, N, N, N, N, N, N),
}


@pytest.mark.parametrize("who", sorted(MANAGES))
def test_who_manages_which_user(who: str) -> None:
    snap = snapshot()
    for target, expected in zip(TARGETS, MANAGES[who], strict=True):
        other = MEMBERS[target]
        assert manages_user(snap, MEMBERS[who], other) is expected, (who, target)
        change = decide(
            snap, MEMBERS[who].user_id, Action.MANAGE, Resource.user(other.user_id), NOW
        )
        assert change.allowed is expected, (who, target)


def test_peer_admins_still_see_each_other() -> None:
    snap = snapshot()
    peer = Resource.user(MEMBERS["police_admin2"].user_id)
    assert decide(snap, MEMBERS["police_admin"].user_id, Action.READ, peer, NOW).allowed
    assert not decide(snap, MEMBERS["police_admin"].user_id, Action.MANAGE, peer, NOW).allowed
