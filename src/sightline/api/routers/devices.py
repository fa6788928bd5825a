"""``/api/v1/devices``: the device list, one device, and a catalog refresh."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.service import Action, Resource
from sightline.api.deps import (
    CurrentUser,
    authorize,
    client_address,
    department_of,
    device_errors,
    device_filter,
    get_devices,
    get_directory,
    record_audit,
    visible_page,
)
from sightline.api.schemas.common import GB_ID_PATTERN, MAX_LIMIT, MAX_OFFSET, ErrorOut, PageOut
from sightline.api.schemas.devices import CatalogRefreshOut, DeviceOut

__all__ = ["DeviceId", "router"]

router = APIRouter(
    prefix="/api/v1/devices",
    tags=["devices"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)

DeviceId = Annotated[str, Path(pattern=GB_ID_PATTERN, description="20-digit device ID")]


@router.get("")
async def list_devices(
    principal: CurrentUser,
    request: Request,
    online: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PageOut[DeviceOut]:
    """Devices ordered by ID, optionally only the online or offline ones."""
    await authorize(request, principal, Action.READ, Resource.device())
    directory = get_directory(request)
    visible = await device_filter(request, principal)
    page = await visible_page(
        lambda n, at: directory.list_devices(online=online, limit=n, offset=at),
        None if visible is None else lambda d: visible(d.id),
        limit,
        offset,
    )
    return PageOut[DeviceOut](
        items=[DeviceOut.of(d) for d in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{device_id}", responses={404: {"model": ErrorOut}})
async def get_device(device_id: DeviceId, principal: CurrentUser, request: Request) -> DeviceOut:
    """One device."""
    await authorize(request, principal, Action.READ, Resource.device(device_id))
    device = await get_directory(request).get_device(device_id)
    if device is None:
        raise HTTPException(404, f"device {device_id} is not known")
    return DeviceOut.of(device)


@router.post(
    "/{device_id}/catalog/refresh",
    responses={
        404: {"model": ErrorOut},
        502: {"model": ErrorOut},
        503: {"model": ErrorOut},
        504: {"model": ErrorOut},
    },
)
async def refresh_catalog(
    device_id: DeviceId, principal: CurrentUser, request: Request
) -> CatalogRefreshOut:
    """Ask the device for its catalog again and store it; waits for the answer."""
    await authorize(request, principal, Action.CATALOG_REFRESH, Resource.device(device_id))
    if await get_directory(request).get_device(device_id) is None:
        raise HTTPException(404, f"device {device_id} is not known")
    outcome, channels = AuditOutcome.FAILED, None
    try:
        with device_errors(device_id):
            count = await get_devices(request).refresh_catalog(device_id)
        outcome, channels = AuditOutcome.OK, count
    finally:
        event = AuditEvent(
            AuditAction.CATALOG_REFRESH,
            outcome,
            username=principal.username,
            user_id=principal.user_id,
            department=department_of(request, principal.user_id),
            address=client_address(request),
            detail={"device_id": device_id, "channels": channels},
        )
        record_audit(request, event)
    return CatalogRefreshOut(device_id=device_id, channel_count=count)
