"""``/api/v1/regions`` and ``/api/v1/groups``: the directory trees."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sightline.access.service import Action, Resource, ResourceKind
from sightline.api.deps import CurrentUser, authorize, channel_filter, get_directory
from sightline.api.schemas.common import ErrorOut
from sightline.api.schemas.directory import GroupOut, GroupTreeOut, RegionTreeOut

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["directory"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
)


@router.get("/regions")
async def regions(principal: CurrentUser, request: Request) -> RegionTreeOut:
    """Provinces → cities → counties → townships with the counts of channels the user may see."""
    await authorize(request, principal, Action.READ, Resource(ResourceKind.REGION))
    visible = await channel_filter(request, principal)
    return RegionTreeOut.of(await get_directory(request).region_tree(visible))


@router.get("/groups")
async def groups(principal: CurrentUser, request: Request) -> GroupTreeOut:
    """Business groups and virtual organisations with the counts of channels the user may see."""
    await authorize(request, principal, Action.READ, Resource(ResourceKind.GROUP))
    visible = await channel_filter(request, principal)
    tree = await get_directory(request).group_tree(visible)
    return GroupTreeOut(groups=[GroupOut.of(g) for g in tree])
