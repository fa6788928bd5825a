"""``/api/v1/ui/config``: the deployment settings the web console needs (map tiles)."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request

from sightline.access.service import Action, Resource, ResourceKind
from sightline.api.deps import CurrentUser, authorize
from sightline.api.schemas.common import ErrorOut
from sightline.api.schemas.preferences import UiConfigOut
from sightline.config import WebSettings

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/ui",
    tags=["console"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)


@router.get("/config")
async def ui_config(principal: CurrentUser, request: Request) -> UiConfigOut:
    """Map tile URL (empty: plain grid), its attribution and zoom limit."""
    await authorize(request, principal, Action.READ, Resource(ResourceKind.SYSTEM, "ui"))
    web = cast(WebSettings, request.app.state.web)
    return UiConfigOut(
        map_tile_url=web.map_tile_url,
        map_attribution=web.map_attribution,
        map_max_zoom=web.map_max_zoom,
    )
