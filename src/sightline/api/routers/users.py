"""``/api/v1/users`` and channel ownership: what system and department admins manage."""

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
from sightline.api.schemas.access import (
    OwnershipIn,
    OwnershipOut,
    PasswordIn,
    UserIn,
    UserOut,
    UserPatchIn,
)
from sightline.api.schemas.common import GB_ID_PATTERN, ErrorOut

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["access"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
_ERRORS: dict[int | str, dict[str, object]] = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}}
UserId = Annotated[int, Path(ge=1, description="user ID")]
ChannelId = Annotated[str, Path(pattern=GB_ID_PATTERN, description="20-digit channel ID")]


def _audit(
    request: Request, principal: CurrentUser, action: AuditAction, **detail: str | int
) -> None:
    event = AuditEvent(
        action,
        username=principal.username,
        user_id=principal.user_id,
        address=principal.address,
        channel_id=str(detail["channel"]) if "channel" in detail else None,
        detail=dict(detail),
    )
    record_audit(request, event)


@router.get("/users")
async def list_users(principal: CurrentUser, request: Request) -> list[UserOut]:
    """The users you administer (everyone for a system admin)."""
    await authorize(request, principal, Action.READ, Resource.user())
    return [UserOut.of(m) for m in await get_access(request).admin.users(principal)]


@router.post("/users", status_code=201, dependencies=[Depends(require_json)], responses=_ERRORS)
async def create_user(body: UserIn, principal: CurrentUser, request: Request) -> UserOut:
    """Add a user with roles to a department you administer."""
    await authorize(request, principal, Action.MANAGE, Resource.department(body.department_id))
    admin = get_access(request).admin
    with access_errors(request, principal):
        user = await admin.create_user(
            principal,
            username=body.username,
            password=body.password,
            display_name=body.display_name,
            department_id=body.department_id,
            roles=body.roles,
        )
    _audit(request, principal, AuditAction.USER_CHANGE, change="create", user=user.id)
    member = admin.model.snapshot.members[user.id]
    return UserOut.of(member)


@router.get("/users/{user_id}", responses=_ERRORS)
async def get_user(user_id: UserId, principal: CurrentUser, request: Request) -> UserOut:
    """One user (yourself, or one you administer)."""
    await authorize(request, principal, Action.READ, Resource.user(user_id))
    member = (await get_access(request).admin.model.current()).members.get(user_id)
    if member is None:
        raise HTTPException(404, f"user {user_id} is not known")
    return UserOut.of(member)


@router.patch("/users/{user_id}", dependencies=[Depends(require_json)], responses=_ERRORS)
async def update_user(
    user_id: UserId, body: UserPatchIn, principal: CurrentUser, request: Request
) -> UserOut:
    """Move a user, change roles, disable or enable (disabling ends sessions and streams)."""
    await authorize(request, principal, Action.MANAGE, Resource.user(user_id))
    with access_errors(request, principal):
        member = await get_access(request).admin.update_user(
            principal,
            user_id,
            department_id=body.department_id,
            roles=body.roles,
            disabled=body.disabled,
        )
    changed: dict[str, str | int] = {}  # what was asked, so the trail says what changed
    if body.department_id is not None:
        changed["department"] = body.department_id
    if body.roles is not None:
        changed["roles"] = ",".join(sorted(r.value for r in body.roles))
    if body.disabled is not None:
        changed["disabled"] = str(body.disabled).lower()
    _audit(request, principal, AuditAction.USER_CHANGE, change="update", user=user_id, **changed)
    return UserOut.of(member)


@router.post(
    "/users/{user_id}/password",
    status_code=204,
    dependencies=[Depends(require_json)],
    responses=_ERRORS,
)
async def reset_password(
    user_id: UserId, body: PasswordIn, principal: CurrentUser, request: Request
) -> Response:
    """Set a new password for a user you administer; their sessions end."""
    await authorize(request, principal, Action.MANAGE, Resource.user(user_id))
    with access_errors(request, principal):
        await get_access(request).admin.reset_password(principal, user_id, body.password)
    _audit(request, principal, AuditAction.USER_CHANGE, change="password", user=user_id)
    return Response(status_code=204)


@router.get("/channels/{channel_id}/ownership")
async def get_ownership(
    channel_id: ChannelId, principal: CurrentUser, request: Request
) -> OwnershipOut:
    """Owner department, classification and default sharing of a channel."""
    await authorize(request, principal, Action.READ, Resource.channel(channel_id))
    return OwnershipOut.of(await get_access(request).admin.ownership(channel_id))


@router.put(
    "/channels/{channel_id}/ownership", dependencies=[Depends(require_json)], responses=_ERRORS
)
async def set_ownership(
    channel_id: ChannelId, body: OwnershipIn, principal: CurrentUser, request: Request
) -> OwnershipOut:
    """Give a channel to a department, classify it and set its default sharing."""
    await authorize(request, principal, Action.MANAGE, Resource.channel(channel_id))
    with access_errors(request, principal):
        row = await get_access(request).admin.set_ownership(
            principal,
            channel_id,
            department_id=body.department_id,
            classification=body.classification,
            sharing=body.sharing,
        )
    _audit(
        request,
        principal,
        AuditAction.CONFIG_CHANGE,
        change="ownership",
        channel=channel_id,
        department=body.department_id,
        classification=body.classification.value,
        sharing=body.sharing.value,
    )
    return OwnershipOut.of(row)
