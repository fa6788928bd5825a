"""``/api/v1/channels``: the channel list with filters, one channel, PTZ."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.service import Action, Resource
from sightline.api.deps import (
    CurrentUser,
    authorize,
    channel_filter,
    client_address,
    department_of,
    device_errors,
    get_devices,
    get_directory,
    record_audit,
    require_json,
    visible_page,
)
from sightline.api.schemas.channels import ChannelOut, PtzIn
from sightline.api.schemas.common import (
    AREA_CODE_PATTERN,
    GB_ID_PATTERN,
    MAX_LIMIT,
    MAX_OFFSET,
    ErrorOut,
    PageOut,
)
from sightline.gb28181.errors import InvalidCivilCode

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/channels",
    tags=["channels"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)

ChannelId = Annotated[str, Path(pattern=GB_ID_PATTERN, description="20-digit channel ID")]


@router.get("")
async def list_channels(
    *,
    principal: CurrentUser,
    request: Request,
    device: Annotated[str | None, Query(pattern=GB_ID_PATTERN, description="device ID")] = None,
    region: Annotated[
        str | None,
        Query(pattern=AREA_CODE_PATTERN, description="civil code; includes its sub-regions"),
    ] = None,
    group: Annotated[
        str | None,
        Query(pattern=GB_ID_PATTERN, description="business group or virtual organisation"),
    ] = None,
    online: Annotated[bool | None, Query(description="catalog status ON/OFF")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PageOut[ChannelOut]:
    """Channels ordered by ID matching every filter given."""
    await authorize(request, principal, Action.READ, Resource.channel())
    directory = get_directory(request)
    visible = await channel_filter(request, principal)
    try:
        page = await visible_page(
            lambda n, at: directory.list_channels(
                device_id=device, region=region, group=group, online=online, limit=n, offset=at
            ),
            None if visible is None else lambda c: visible(c.id),
            limit,
            offset,
        )
    except InvalidCivilCode:
        raise HTTPException(422, f"region {region} is not a civil code") from None
    return PageOut[ChannelOut](
        items=[ChannelOut.of(c, directory.is_online(c.device_id)) for c in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{channel_id}", responses={404: {"model": ErrorOut}})
async def get_channel(
    channel_id: ChannelId, principal: CurrentUser, request: Request
) -> ChannelOut:
    """One channel."""
    await authorize(request, principal, Action.READ, Resource.channel(channel_id))
    directory = get_directory(request)
    channel = await directory.get_channel(channel_id)
    if channel is None:
        raise HTTPException(404, f"channel {channel_id} is not known")
    return ChannelOut.of(channel, directory.is_online(channel.device_id))


@router.post(
    "/{channel_id}/ptz",
    status_code=204,
    responses={
        404: {"model": ErrorOut},
        415: {"model": ErrorOut},
        502: {"model": ErrorOut},
        503: {"model": ErrorOut},
        504: {"model": ErrorOut},
    },
)
async def ptz(
    channel_id: ChannelId,
    body: PtzIn,
    principal: CurrentUser,
    _json: Annotated[None, Depends(require_json)],
    request: Request,
) -> Response:
    """Move, zoom, focus or stop the camera, or set/call/delete a preset."""
    await authorize(request, principal, Action.PTZ, Resource.channel(channel_id))
    channel = await get_directory(request).get_channel(channel_id)
    if channel is None:
        raise HTTPException(404, f"channel {channel_id} is not known")
    outcome = AuditOutcome.FAILED
    try:
        with device_errors(channel.device_id):
            await get_devices(request).ptz(channel.device_id, channel.id, body.command())
        outcome = AuditOutcome.OK
    finally:
        event = AuditEvent(
            AuditAction.PTZ,
            outcome,
            username=principal.username,
            user_id=principal.user_id,
            department=department_of(request, principal.user_id),
            channel_id=channel_id,
            address=client_address(request),
            detail={"command": str(body.action), "speed": body.speed, "preset": body.preset},
        )
        record_audit(request, event)
    return Response(status_code=204)
