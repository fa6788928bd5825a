"""``/api/v1/media/playback/{session}.mp4?token=``: a playback session as fMP4, WebSocket or HTTP.

The same delivery as live view (:mod:`.media`): the token (action ``playback``, bound to the
user, the session's channel and the client) is checked, the viewer joins the session's stream
in the hub, and gets an init segment, then one fragment per frame. Only the session's owner may
play it. Revocation is checked every ``media.RECHECK_S`` seconds while it plays, and so are
privacy masks drawn meanwhile (recordings are not masked: such a viewer's playback ends).

WebSocket text messages are those of live view plus the clean end of a recording::

    {"type": "status", "state": "connecting" | "waiting" | "playing"}
    {"type": "init", "mime_type": "video/mp4; codecs=\\"avc1.64001e\\""}
    {"type": "end", "reason": "end of recording"}          then close code 1000
    {"type": "error", "status": 404, "detail": "..."}      then close code 4000 + status

Over HTTP the body simply ends at the end of the recording.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.requests import HTTPConnection

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.stream_tokens import (
    StreamAction,
    StreamClaims,
    StreamTokenMismatch,
    status_for,
)
from sightline.access.tokens import TokenError
from sightline.api.deps import record_audit
from sightline.api.routers.live import failure_of, get_stream_tokens
from sightline.api.routers.masks import masked_recording_check
from sightline.api.routers.media import (
    Revoked,
    fmp4_segments,
    player_left,
    send_close,
    until_disconnect,
)
from sightline.api.routers.records import get_playback
from sightline.api.schemas.common import ErrorOut
from sightline.media.fmp4 import Fmp4Packager
from sightline.media.hub import StreamEndedError, Upstream, Viewer
from sightline.media.playback_sessions import PlaybackSession, SessionNotFound

__all__ = ["router"]

log = logging.getLogger(__name__)

_SESSION_ID = r"^[A-Za-z0-9_-]{8,64}$"

router = APIRouter(prefix="/api/v1/media", tags=["media"])


class _Refused(Exception):
    """The player may not see this session (internal: status and sentence)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _admit(
    conn: HTTPConnection, session_id: str, token: str | None
) -> tuple[PlaybackSession, StreamClaims]:
    """The session and the token's claims, or _Refused with the status to answer."""
    try:
        session = get_playback(conn).get(session_id, None)
    except SessionNotFound as exc:
        raise _Refused(404, str(exc)) from None
    client = conn.client.host if conn.client is not None else None
    try:
        claims = get_stream_tokens(conn).verify(
            token, channel_id=session.channel_id, action=StreamAction.PLAYBACK, client=client
        )
        if claims.user_id != session.owner_id:
            raise StreamTokenMismatch("this playback session belongs to another user")
    except TokenError as exc:
        raise _Refused(status_for(exc), str(exc)) from None
    return session, claims


def _audit(
    conn: HTTPConnection,
    action: AuditAction,
    session: PlaybackSession,
    claims: StreamClaims,
    **detail: str | int | None,
) -> None:
    """A player's start or end of a session, for the audit trail."""
    event = AuditEvent(
        action,
        AuditOutcome.OK,
        username=claims.username,
        user_id=claims.user_id,
        channel_id=session.channel_id,
        address=conn.client.host if conn.client is not None else None,
        detail={"session": session.id, "token": claims.token_id, **detail},
    )
    record_audit(conn, event)


async def _gone() -> Upstream:
    raise StreamEndedError("the playback session has ended")


async def _join(session: PlaybackSession, conn: HTTPConnection) -> Viewer:
    # the stream exists while the session runs; if it just ended, joining fails at once
    return await get_playback(conn).hub.join(session.key, _gone)


def _failure(exc: BaseException, session: PlaybackSession) -> tuple[int, str]:
    if isinstance(exc, Revoked):
        return 403, f"access revoked: {exc.error}"
    found = failure_of(exc, session.channel_id)
    if found is None:
        log.error("playback %s of %s failed", session.id, session.channel_id, exc_info=exc)
        return 500, "internal error"
    return found


# -- WebSocket --------------------------------------------------------------------------------


async def _play(ws: WebSocket, session: PlaybackSession, claims: StreamClaims) -> None:
    await ws.send_json({"type": "status", "state": "connecting"})
    viewer = await _join(session, ws)
    try:
        await ws.send_json({"type": "status", "state": "waiting"})
        playing = False
        check = masked_recording_check(ws, claims)
        async for segment in fmp4_segments(viewer, Fmp4Packager(), claims, ws, check):
            if segment.init:
                await ws.send_json({"type": "init", "mime_type": segment.mime_type})
            await ws.send_bytes(segment.data)
            if not playing and not segment.init:
                playing = True
                await ws.send_json({"type": "status", "state": "playing"})
    finally:
        get_playback(ws).hub.leave(viewer)


@router.websocket("/playback/{session_id}.mp4")
async def playback_websocket(
    websocket: WebSocket, session_id: str, token: Annotated[str | None, Query()] = None
) -> None:
    """A playback session's fMP4 over WebSocket (messages: see the module docstring)."""
    await websocket.accept()
    try:
        session, claims = _admit(websocket, session_id, token)
    except _Refused as refused:
        log.info("playback view of %s refused: %s", session_id[:40], refused)
        message = {"type": "error", "status": refused.status, "detail": str(refused)}
        await send_close(websocket, message, 4000 + refused.status, str(refused))
        return
    _audit(websocket, AuditAction.PLAYBACK_START, session, claims, transport="websocket")
    play = asyncio.ensure_future(_play(websocket, session, claims))
    gone = asyncio.ensure_future(until_disconnect(websocket))  # VCR commands go through REST
    try:
        await asyncio.wait((play, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (play, gone):
            task.cancel()
        await asyncio.wait((play, gone))
        if not gone.cancelled():
            gone.exception()
    reason = "player left" if player_left(play, gone) else await _finish(websocket, play, session)
    _audit(websocket, AuditAction.PLAYBACK_STOP, session, claims, reason=reason)


async def _finish(ws: WebSocket, play: asyncio.Future[None], session: PlaybackSession) -> str:
    """Tell the player how the stream ended; the reason, for the audit trail."""
    exc = play.exception()
    if session.eof and (exc is None or isinstance(exc, StreamEndedError)):
        await send_close(ws, {"type": "end", "reason": "end of recording"}, 1000, "end")
        return "end of recording"
    if exc is None:
        exc = StreamEndedError(f"playback {session.id} ended")
    status, detail = _failure(exc, session)
    await send_close(
        ws, {"type": "error", "status": status, "detail": detail}, 4000 + status, detail
    )
    return f"{status} {detail}"


# -- HTTP -------------------------------------------------------------------------------------


@router.get(
    "/playback/{session_id}.mp4",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"video/mp4": {}}, "description": "fragmented MP4 to the session's end"},
        **{code: {"model": ErrorOut} for code in (401, 403, 404, 502, 503, 504)},
    },
)
async def playback_http(
    session_id: Annotated[str, Path(pattern=_SESSION_ID)],
    request: Request,
    token: Annotated[str | None, Query(description="the token from POST .../playback")] = None,
) -> StreamingResponse:
    """A playback session's fMP4 as one chunked HTTP body (``ffplay URL`` plays it)."""
    try:
        session, claims = _admit(request, session_id, token)
    except _Refused as refused:
        raise HTTPException(refused.status, str(refused)) from None
    try:
        viewer = await _join(session, request)
    except Exception as exc:
        raise HTTPException(*_failure(exc, session)) from None
    check = masked_recording_check(request, claims)
    segments = fmp4_segments(viewer, Fmp4Packager(), claims, request, check)
    try:
        first = await anext(segments)
    except BaseException as exc:
        get_playback(request).hub.leave(viewer)
        if isinstance(exc, Exception):
            raise HTTPException(*_failure(exc, session)) from None
        raise

    _audit(request, AuditAction.PLAYBACK_START, session, claims, transport="http")

    async def body() -> AsyncIterator[bytes]:
        reason = "player left"
        try:
            yield first.data
            async for segment in segments:
                yield segment.data
            reason = "end"
        except Exception as exc:  # the status is sent: a tool sees the stream end
            reason = "end of recording" if session.eof else str(exc)
            log.info("HTTP playback %s of %s ended: %s", session.id, session.channel_id, exc)
        finally:
            get_playback(request).hub.leave(viewer)
            _audit(request, AuditAction.PLAYBACK_STOP, session, claims, reason=reason)

    return StreamingResponse(
        body(),
        media_type="video/mp4",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
