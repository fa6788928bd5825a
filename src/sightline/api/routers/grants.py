"""``/api/v1/grants``: grants created, listed and revoked by department and system admins.

Revoking a grant stops the running views it allowed within a few seconds (their stream
tokens are re-checked against the policy every two seconds).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from sightline.access.grants import GrantSpec
from sightline.access.service import Action, Resource
from sightline.api.deps import CurrentUser, access_errors, authorize, get_access, require_json
from sightline.api.schemas.access import GrantIn, GrantOut
from sightline.api.schemas.common import ErrorOut

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/grants",
    tags=["access"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
_ERRORS: dict[int | str, dict[str, object]] = {404: {"model": ErrorOut}}
GrantId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="grant ID")]


@router.get("")
async def list_grants(
    principal: CurrentUser,
    request: Request,
    include_revoked: Annotated[bool, Query(description="revoked grants too")] = False,
) -> list[GrantOut]:
    """Grants you administer or hold, newest first."""
    await authorize(request, principal, Action.READ, Resource.department())
    found = await get_access(request).grants.visible(principal, include_revoked=include_revoked)
    return [GrantOut.of(g) for g in found]


@router.post("", status_code=201, dependencies=[Depends(require_json)], responses=_ERRORS)
async def create_grant(body: GrantIn, principal: CurrentUser, request: Request) -> GrantOut:
    """Give a department or a user actions on a channel, group or region for a time window."""
    access = get_access(request)
    grantor = body.grantor_department_id
    if grantor is None:
        member = (await access.admin.model.current()).members.get(principal.user_id)
        grantor = member.department_id if member is not None else None
    if not principal.is_admin or body.grantor_department_id is not None:
        await authorize(request, principal, Action.MANAGE, Resource.department(grantor))
    spec = GrantSpec(
        grantee_department_id=body.grantee_department_id,
        grantee_user_id=body.grantee_user_id,
        include_subdepartments=body.include_subdepartments,
        scope_kind=body.scope.kind,
        scope_id=body.scope.id,
        actions=body.actions,
        masked_only=body.masked_only,
        not_before=body.not_before,
        not_after=body.not_after,
        grantor_department_id=body.grantor_department_id,
    )
    with access_errors(request, principal):
        grant = await access.grants.create(principal, spec)
    return GrantOut.of(grant)


@router.delete("/{grant_id}", status_code=204, responses=_ERRORS)
async def revoke_grant(grant_id: GrantId, principal: CurrentUser, request: Request) -> Response:
    """Revoke a grant; the views it allowed stop within seconds."""
    access = get_access(request)
    grant = (await access.admin.model.current()).grants.get(grant_id)
    target = grant.grantor_department_id if grant is not None else None
    await authorize(request, principal, Action.MANAGE, Resource.department(target))
    with access_errors(request, principal):
        await access.grants.revoke(principal, grant_id)
    return Response(status_code=204)
