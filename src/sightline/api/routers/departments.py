"""``/api/v1/departments``: the department tree (system and department admins change it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response

from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.access.service import Action, Resource
from sightline.api.deps import (
    CurrentUser,
    access_errors,
    authorize,
    get_access,
    record_audit,
    require_json,
)
from sightline.api.schemas.access import DepartmentIn, DepartmentOut
from sightline.api.schemas.common import ErrorOut

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/departments",
    tags=["access"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
_ERRORS: dict[int | str, dict[str, object]] = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}}
DepartmentId = Annotated[int, Path(ge=1, description="department ID")]


def _audit(request: Request, principal: CurrentUser, what: str, dep_id: int) -> None:
    event = AuditEvent(
        AuditAction.DEPARTMENT_CHANGE,
        username=principal.username,
        user_id=principal.user_id,
        address=principal.address,
        detail={"change": what, "department": dep_id},
    )
    record_audit(request, event)


@router.get("")
async def list_departments(principal: CurrentUser, request: Request) -> list[DepartmentOut]:
    """Every department (the tree: follow ``parent_id``)."""
    await authorize(request, principal, Action.READ, Resource.department())
    found = await get_access(request).admin.departments(principal)
    return [DepartmentOut.of(d) for d in found]


@router.post("", status_code=201, dependencies=[Depends(require_json)], responses=_ERRORS)
async def create_department(
    body: DepartmentIn, principal: CurrentUser, request: Request
) -> DepartmentOut:
    """Add a department below one you administer."""
    if body.parent_id is None:
        raise HTTPException(422, "a new department needs a parent_id")
    await authorize(request, principal, Action.MANAGE, Resource.department(body.parent_id))
    with access_errors(request, principal):
        created = await get_access(request).admin.create_department(
            principal, body.name, body.parent_id, body.region_prefix
        )
    _audit(request, principal, "create", created.id)
    return DepartmentOut.of(created)


@router.put("/{department_id}", dependencies=[Depends(require_json)], responses=_ERRORS)
async def update_department(
    department_id: DepartmentId, body: DepartmentIn, principal: CurrentUser, request: Request
) -> DepartmentOut:
    """Rename, move or rescope a department (an admin above it may)."""
    await authorize(request, principal, Action.MANAGE, Resource.department(department_id))
    with access_errors(request, principal):
        updated = await get_access(request).admin.update_department(
            principal, department_id, body.name, body.parent_id, body.region_prefix
        )
    _audit(request, principal, "update", department_id)
    return DepartmentOut.of(updated)


@router.delete("/{department_id}", status_code=204, responses=_ERRORS)
async def delete_department(
    department_id: DepartmentId, principal: CurrentUser, request: Request
) -> Response:
    """Remove an empty department."""
    await authorize(request, principal, Action.MANAGE, Resource.department(department_id))
    with access_errors(request, principal):
        await get_access(request).admin.delete_department(principal, department_id)
    _audit(request, principal, "delete", department_id)
    return Response(status_code=204)
