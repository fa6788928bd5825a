"""Platform recording: ``/channels/{id}/recording-plan``, ``/recordings/status``, group retention.

Viewing needs READ, changing needs RECORDING_MANAGE; every change is audited
(``recording.plan``). Retention deletions are audited by :func:`audit_deletions`, which the node
hands to the recording service (they have no user: the system deletes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from sightline.access.audit_events import AuditAction, AuditEvent, AuditSink
from sightline.access.service import Action, Resource, ResourceKind
from sightline.api.deps import (
    CurrentUser,
    authorize,
    channel_filter,
    client_address,
    get_directory,
    record_audit,
    require_json,
)
from sightline.api.schemas.common import GB_ID_PATTERN, ErrorOut
from sightline.api.schemas.recording import (
    GroupRetentionIn,
    GroupRetentionOut,
    RecordingPlanIn,
    RecordingPlanOut,
    RecordingStatusOut,
)
from sightline.media.recording import DeletedSegment, PlanError, RecordingService

__all__ = ["audit_deletions", "get_recording", "router"]

router = APIRouter(
    prefix="/api/v1",
    tags=["recording"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)

ChannelId = Annotated[str, Path(pattern=GB_ID_PATTERN, description="20-digit channel ID")]
GroupId = Annotated[str, Path(pattern=GB_ID_PATTERN, description="20-digit business group ID")]


def get_recording(request: Request) -> RecordingService:
    """The node's recording service."""
    return cast(RecordingService, request.app.state.recording)


def audit_deletions(sink: AuditSink) -> Callable[[DeletedSegment], None]:
    """A recording service ``on_delete`` that audits each deletion (no user: the system)."""

    def record(deleted: DeletedSegment) -> None:
        sink.record(
            AuditEvent(
                action=AuditAction.RECORDING_DELETE,
                channel_id=deleted.channel_id,
                detail={
                    "reason": deleted.reason.value,
                    "path": deleted.path,
                    "start": deleted.start.isoformat(),
                    "end": deleted.end.isoformat(),
                    "size_bytes": deleted.size_bytes,
                },
            )
        )

    return record


async def _known_channel(request: Request, channel_id: str) -> None:
    if await get_directory(request).get_channel(channel_id) is None:
        raise HTTPException(404, f"channel {channel_id} is not known")


def _now_recording(service: RecordingService, channel_id: str) -> bool:
    return any(r.channel_id == channel_id and r.recording for r in service.status().recorders)


@router.get("/channels/{channel_id}/recording-plan", responses={404: {"model": ErrorOut}})
async def get_plan(
    channel_id: ChannelId, principal: CurrentUser, request: Request
) -> RecordingPlanOut:
    """The channel's recording plan (``off`` when none was set)."""
    await authorize(request, principal, Action.READ, Resource.channel(channel_id))
    await _known_channel(request, channel_id)
    service = get_recording(request)
    return RecordingPlanOut.of(
        channel_id, service.plan(channel_id), _now_recording(service, channel_id)
    )


@router.put(
    "/channels/{channel_id}/recording-plan",
    responses={404: {"model": ErrorOut}, 415: {"model": ErrorOut}},
)
async def put_plan(
    channel_id: ChannelId,
    body: RecordingPlanIn,
    principal: CurrentUser,
    _json: Annotated[None, Depends(require_json)],
    request: Request,
) -> RecordingPlanOut:
    """Set the channel's plan; it applies at once."""
    await authorize(request, principal, Action.RECORDING_MANAGE, Resource.channel(channel_id))
    await _known_channel(request, channel_id)
    try:
        plan = body.plan()
    except PlanError as exc:
        raise HTTPException(422, str(exc)) from None
    service = get_recording(request)
    await service.set_plan(channel_id, plan, principal.username)
    record_audit(
        request,
        AuditEvent(
            action=AuditAction.RECORDING_PLAN,
            username=principal.username,
            user_id=principal.user_id,
            channel_id=channel_id,
            address=client_address(request),
            detail={
                "mode": plan.mode.value,
                "pre_s": plan.pre_s,
                "post_s": plan.post_s,
                "retention_days": plan.retention_days,
            },
        ),
    )
    return RecordingPlanOut.of(channel_id, plan, _now_recording(service, channel_id))


@router.get("/recordings/status")
async def recording_status(principal: CurrentUser, request: Request) -> RecordingStatusOut:
    """What is recording now: per channel state, bytes, segments, drops; disk state.

    Only the channels the caller may see are listed (the totals are the node's).
    """
    await authorize(request, principal, Action.READ, Resource.channel())
    out = RecordingStatusOut.of(get_recording(request).status())
    keep = await channel_filter(request, principal)
    if keep is not None:
        out.channels = [c for c in out.channels if keep(c.channel_id)]
    return out


@router.get("/groups/{group_id}/recording-retention")
async def get_group_retention(
    group_id: GroupId, principal: CurrentUser, request: Request
) -> GroupRetentionOut:
    """How long recordings of the group's channels are kept."""
    await authorize(request, principal, Action.READ, Resource(ResourceKind.GROUP, group_id))
    service = get_recording(request)
    return GroupRetentionOut(
        group_id=group_id,
        retention_days=await service.group_retention(group_id),
        default_days=service.options.retention_days,
    )


@router.put("/groups/{group_id}/recording-retention", responses={415: {"model": ErrorOut}})
async def put_group_retention(
    group_id: GroupId,
    body: GroupRetentionIn,
    principal: CurrentUser,
    _json: Annotated[None, Depends(require_json)],
    request: Request,
) -> GroupRetentionOut:
    """Set (or clear, with null) the group's retention; a channel's own setting wins."""
    await authorize(
        request, principal, Action.RECORDING_MANAGE, Resource(ResourceKind.GROUP, group_id)
    )
    service = get_recording(request)
    await service.set_group_retention(group_id, body.retention_days)
    record_audit(
        request,
        AuditEvent(
            action=AuditAction.RECORDING_PLAN,
            username=principal.username,
            user_id=principal.user_id,
            address=client_address(request),
            detail={"group_id": group_id, "retention_days": body.retention_days},
        ),
    )
    return GroupRetentionOut(
        group_id=group_id,
        retention_days=body.retention_days,
        default_days=service.options.retention_days,
    )
