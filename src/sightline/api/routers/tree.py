"""``/api/v1/tree/channels``: channels for the console's lazily loaded directory tree.

``GET /api/v1/channels?region=`` includes sub-regions; a tree node lists its sub-regions as
nodes of their own and only the channels placed exactly in its area, a page at a time. The same
route answers the tree's search box (``q``: start of the ID or part of the name).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from sightline.access.service import Action, Resource
from sightline.api.deps import (
    CurrentUser,
    authorize,
    channel_filter,
    get_directory,
    visible_page,
)
from sightline.api.routers.preferences import get_database
from sightline.api.schemas.channels import ChannelOut
from sightline.api.schemas.common import (
    AREA_CODE_PATTERN,
    MAX_LIMIT,
    MAX_OFFSET,
    ErrorOut,
    PageOut,
)
from sightline.directory.service import Page
from sightline.gb28181 import civil
from sightline.gb28181.errors import InvalidCivilCode
from sightline.store import Channel
from sightline.store.repositories.channel_search import ChannelSearchRepository

__all__ = ["civil_spellings", "router"]

router = APIRouter(
    prefix="/api/v1/tree",
    tags=["console"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)


def civil_spellings(code: str) -> list[str]:
    """Every way a device may write the area ``code``: ``"3402"`` → 3402, 340200, 34020000."""
    canonical = civil.canonical(code)
    return [canonical + "00" * n for n in range((8 - len(canonical)) // 2 + 1)]


@router.get("/channels")
async def tree_channels(
    *,
    principal: CurrentUser,
    request: Request,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="start of the ID or part of the name"),
    ] = None,
    region: Annotated[
        str | None,
        Query(pattern=AREA_CODE_PATTERN, description="civil code; only channels exactly in it"),
    ] = None,
    unplaced: Annotated[
        bool, Query(description="only channels without a usable civil code")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PageOut[ChannelOut]:
    """Channels by ID matching the search text and placed exactly in the area (or nowhere)."""
    await authorize(request, principal, Action.READ, Resource.channel())
    try:
        codes = civil_spellings(region) if region is not None else None
    except InvalidCivilCode:
        raise HTTPException(422, f"region {region} is not a civil code") from None
    text = q.strip() if q is not None else None

    async def fetch(n: int, at: int) -> Page[Channel]:
        async with get_database(request).session() as session:
            repo = ChannelSearchRepository(session)
            found = await repo.find(
                text=text, civil_codes=codes, unplaced=unplaced, limit=n, offset=at
            )
            total = await repo.count(text=text, civil_codes=codes, unplaced=unplaced)
        return Page(tuple(found), total, n, at)

    # The same visibility as GET /api/v1/channels: a restricted user finds only their channels.
    visible = await channel_filter(request, principal)
    page = await visible_page(
        fetch, None if visible is None else lambda c: visible(c.id), limit, offset
    )
    directory = get_directory(request)
    return PageOut[ChannelOut](
        items=[ChannelOut.of(c, directory.is_online(c.device_id)) for c in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )
