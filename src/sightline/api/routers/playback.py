"""Playback sessions: open (``POST /channels/{id}/playback``), steer, close.

Opening starts the recorded stream (so a device that refuses, or has nothing recorded there,
is an error of this request) and answers with URLs like live view's, each carrying a stream
token for action ``playback``, plus the ``session_id``. The session belongs to its opener:
another user's control or close gets 404, as if it did not exist. A session nobody plays ends
after the hub's grace period; a paused one after ``playback.max_pause_s``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.service import Action, Principal, Resource
from sightline.access.stream_tokens import StreamAction
from sightline.api.deps import CurrentUser, authorize, client_address, record_audit, require_json
from sightline.api.routers.live import get_stream_tokens
from sightline.api.routers.masks import refuse_masked_recording
from sightline.api.routers.records import (
    ERROR_RESPONSES,
    ChannelId,
    check_range,
    get_playback,
    record_errors,
    record_source,
)
from sightline.api.schemas.common import ErrorOut
from sightline.api.schemas.live import LiveUrls
from sightline.api.schemas.records import (
    PlaybackControlIn,
    PlaybackControlOut,
    PlaybackIn,
    PlaybackOut,
)
from sightline.media.playback import PlaybackUpstream
from sightline.media.playback_sessions import PlaybackSession

__all__ = ["channel_router", "media_path", "router"]

log = logging.getLogger(__name__)

channel_router = APIRouter(
    prefix="/api/v1/channels",
    tags=["playback"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
router = APIRouter(
    prefix="/api/v1/playback",
    tags=["playback"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)

SessionId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="from POST .../playback")
]


def media_path(session_id: str) -> str:
    """The path of a session's fMP4 (WebSocket and HTTP share it)."""
    return f"/api/v1/media/playback/{session_id}.mp4"


def _urls(request: Request, session_id: str, token: str) -> LiveUrls:
    base = str(request.base_url).rstrip("/")
    ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    tail = f"{media_path(session_id)}?token={token}"
    return LiveUrls(ws=ws_base + tail, http=base + tail)


def _audit(
    request: Request,
    principal: Principal,
    action: AuditAction,
    channel_id: str,
    outcome: AuditOutcome,
    **detail: str | float | bool | None,
) -> None:
    record_audit(
        request,
        AuditEvent(
            action,
            outcome,
            username=principal.username,
            user_id=principal.user_id,
            channel_id=channel_id,
            address=client_address(request),
            detail=dict(detail),
        ),
    )


@channel_router.post("/{channel_id}/playback", responses=ERROR_RESPONSES)
async def start_playback(
    channel_id: ChannelId,
    body: PlaybackIn,
    principal: CurrentUser,
    _json: Annotated[None, Depends(require_json)],
    request: Request,
) -> PlaybackOut:
    """Start playing the channel's recording of [start, end)."""
    await authorize(request, principal, Action.PLAYBACK, Resource.channel(channel_id))
    await refuse_masked_recording(request, principal, channel_id, "playback")
    check_range(request, body.start, body.end)
    record_source(request, body.source)  # 409 before anything starts
    sessions = get_playback(request)
    outcome = AuditOutcome.FAILED
    session: PlaybackSession | None = None
    try:
        with record_errors(channel_id):
            session = await sessions.open(
                owner_id=principal.user_id,
                username=principal.username,
                channel_id=channel_id,
                source=body.source,
                start=body.start,
                end=body.end,
            )
        outcome = AuditOutcome.OK
    finally:
        _audit(
            request,
            principal,
            AuditAction.PLAYBACK_OPEN,
            channel_id,
            outcome,
            source=body.source.value,
            start=body.start.isoformat(),
            end=body.end.isoformat(),
            session=session.id if session is not None else None,
        )
    assert session is not None  # open() returned, or the exception went on
    token, claims = get_stream_tokens(request).issue(
        user_id=principal.user_id,
        username=principal.username,
        channel_id=channel_id,
        action=StreamAction.PLAYBACK,
        client=client_address(request),
        session_id=principal.claims.token_id if principal.claims is not None else None,
    )
    return PlaybackOut(
        session_id=session.id,
        channel_id=channel_id,
        source=body.source,
        start=body.start,
        end=body.end,
        urls=_urls(request, session.id, token),
        token=token,
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
    )


@router.post("/{session_id}/control")
async def control_playback(
    session_id: SessionId,
    body: PlaybackControlIn,
    principal: CurrentUser,
    _json: Annotated[None, Depends(require_json)],
    request: Request,
) -> PlaybackControlOut:
    """Pause, resume, seek (``offset_s``) or change speed (``scale``) of your session."""
    with record_errors(session_id):
        session = get_playback(request).get(session_id, principal.user_id)
    await authorize(request, principal, Action.PLAYBACK, Resource.channel(session.channel_id))
    upstream = session.upstream
    if upstream is None:
        raise HTTPException(409, f"playback session {session_id} is still starting")
    outcome = AuditOutcome.FAILED
    try:
        with record_errors(session.channel_id):
            await _steer(upstream, body)
        outcome = AuditOutcome.OK
    finally:
        _audit(
            request,
            principal,
            AuditAction.PLAYBACK_CONTROL,
            session.channel_id,
            outcome,
            session=session.id,
            command=body.action,
            offset_s=body.offset_s,
            scale=body.scale,
        )
    return PlaybackControlOut(
        session_id=session.id,
        action=body.action,
        paused=session.paused,
        scale=session.scale,
    )


async def _steer(controls: PlaybackUpstream, body: PlaybackControlIn) -> None:
    if body.action == "pause":
        await controls.pause()
    elif body.action == "resume":
        await controls.resume()
    elif body.action == "seek":
        if body.offset_s is None:
            raise ValueError("seek needs offset_s")
        await controls.seek(body.offset_s)
    else:
        if body.scale is None:
            raise ValueError("scale needs scale")
        await controls.set_scale(body.scale)


@router.delete("/{session_id}", status_code=204, response_class=Response)
async def stop_playback(
    session_id: SessionId, principal: CurrentUser, request: Request
) -> Response:
    """End your session now (BYE to the device)."""
    sessions = get_playback(request)
    with record_errors(session_id):
        session = sessions.get(session_id, principal.user_id)
    await authorize(request, principal, Action.PLAYBACK, Resource.channel(session.channel_id))
    await sessions.close(session)
    _audit(
        request,
        principal,
        AuditAction.PLAYBACK_STOP,
        session.channel_id,
        AuditOutcome.OK,
        session=session.id,
    )
    return Response(status_code=204)
