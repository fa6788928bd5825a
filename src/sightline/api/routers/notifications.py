"""``/api/v1/notifications``: the in-app messages of the access workflow for the user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from sightline.access.service import Action, Resource
from sightline.api.deps import CurrentUser, authorize, get_access, require_json
from sightline.api.schemas.access import NotificationOut
from sightline.api.schemas.common import ErrorOut

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/notifications",
    tags=["access"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)


class ReadIn(BaseModel):
    """Notifications to mark read."""

    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(min_length=1, max_length=1000)


class ReadOut(BaseModel):
    """How many were marked."""

    marked: int


@router.get("")
async def list_notifications(
    principal: CurrentUser,
    request: Request,
    unread: Annotated[bool, Query(description="only unread ones")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[NotificationOut]:
    """My notifications, newest first."""
    await authorize(request, principal, Action.READ, Resource.user(principal.user_id))
    found = await get_access(request).notifier.inbox(
        principal.user_id, unread_only=unread, limit=limit
    )
    return [NotificationOut.of(n) for n in found]


@router.post("/read", dependencies=[Depends(require_json)])
async def mark_read(body: ReadIn, principal: CurrentUser, request: Request) -> ReadOut:
    """Mark some of my notifications read."""
    await authorize(request, principal, Action.READ, Resource.user(principal.user_id))
    access = get_access(request)
    marked = await access.notifier.mark_read(principal.user_id, body.ids, access.admin.model.now())
    return ReadOut(marked=marked)
