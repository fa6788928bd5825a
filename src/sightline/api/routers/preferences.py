"""``/api/v1/me/preferences``: the logged-in user's saved console settings (video-wall layout)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, cast

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError

from sightline.access.service import Action, Resource, ResourceKind
from sightline.api.deps import CurrentUser, authorize, require_json
from sightline.api.schemas.common import ErrorOut
from sightline.api.schemas.preferences import PreferencesIn, PreferencesOut
from sightline.store import Database, NotFoundError
from sightline.store.repositories.preferences import PreferencesRepository

__all__ = ["get_database", "router"]

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/api/v1/me",
    tags=["console"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)

# Every user keeps their own preferences; the resource names them so a policy can see whose.
_KIND = ResourceKind.SYSTEM


def get_database(request: Request) -> Database:
    """The node's database."""
    return cast(Database, request.app.state.database)


def _resource(user_id: int) -> Resource:
    return Resource(_KIND, f"preferences/{user_id}")


@router.get("/preferences")
async def get_preferences(principal: CurrentUser, request: Request) -> PreferencesOut:
    """The saved preferences, or the defaults when none were saved."""
    await authorize(request, principal, Action.READ, _resource(principal.user_id))
    async with get_database(request).session() as session:
        saved = await PreferencesRepository(session).get(principal.user_id)
    if saved is None:
        return PreferencesOut()
    try:
        stored = PreferencesIn.model_validate(saved.data)
    except ValidationError:
        # Saved by an older release with another shape: start from the defaults again.
        log.warning("preferences of user %s no longer valid; using defaults", principal.user_id)
        return PreferencesOut(updated_at=saved.updated_at)
    return PreferencesOut(**stored.model_dump(), updated_at=saved.updated_at)


@router.put(
    "/preferences",
    responses={415: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
async def put_preferences(
    body: PreferencesIn,
    principal: CurrentUser,
    _json: Annotated[None, Depends(require_json)],
    request: Request,
) -> PreferencesOut:
    """Replace the saved preferences."""
    await authorize(request, principal, Action.READ, _resource(principal.user_id))
    now = datetime.now(UTC)
    try:
        async with get_database(request).session() as session:
            saved = await PreferencesRepository(session).save(
                principal.user_id, body.model_dump(mode="json"), now
            )
    except NotFoundError:
        raise HTTPException(401, "the logged-in user no longer exists") from None
    return PreferencesOut(**body.model_dump(), updated_at=saved.updated_at)
