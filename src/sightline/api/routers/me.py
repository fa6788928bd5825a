"""``GET /api/v1/me``: the logged-in user, department, roles and a summary of their rights."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sightline.access.policy import administered, is_system_admin, role_actions
from sightline.access.policy import visible_channels as visible
from sightline.access.service import Action, Resource
from sightline.api.deps import CurrentUser, authorize, get_access
from sightline.api.schemas.access import DepartmentOut, GrantOut, MeAccessOut
from sightline.api.schemas.common import ErrorOut

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["access"], responses={401: {"model": ErrorOut}})


@router.get("/me")
async def me(principal: CurrentUser, request: Request) -> MeAccessOut:
    """Who I am, what I administer, what my roles allow, which grants apply to me."""
    await authorize(request, principal, Action.READ, Resource.user(principal.user_id))
    model = get_access(request).admin.model
    snap = await model.current()
    member = snap.members[principal.user_id]
    dep = snap.departments.get(member.department_id or 0)
    mine = administered(snap, member)
    now = model.now()
    above = snap.ancestors.get(member.department_id or 0, frozenset())
    grants = [
        g
        for g in snap.grants.values()
        if g.not_after > now
        and (
            g.grantee_user_id == member.user_id
            or g.grantee_department_id == member.department_id
            or (g.include_subdepartments and g.grantee_department_id in above)
        )
    ]
    seen = visible(snap, member.user_id, now)
    return MeAccessOut(
        user_id=member.user_id,
        username=member.username,
        department=DepartmentOut.of(dep) if dep is not None else None,
        roles=sorted(member.roles),
        is_system_admin=is_system_admin(member),
        administers=None if mine is None else sorted(mine),
        role_actions=sorted(a.value for a in role_actions(member)),
        grants=[GrantOut.of(g) for g in grants],
        visible_channels=None if seen is None else len(seen),
    )
