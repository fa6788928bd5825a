"""``/api/v1/media/live/{id}.mp4?token=``: live fMP4 over WebSocket (players) and HTTP (tools).

Both check the stream token (bound to user, channel, action and client), join the channel's
shared stream and send the init segment, then one fragment per frame. A camera's G.711 audio
comes as a second, AAC track (``media.audio``: the stream's ``+aac`` variant; the init type
then lists ``mp4a.40.2``); masked views carry no audio. A token holder without
the unmasked right on the channel gets its privacy-masked view (``masks.masked_stream``). The
token's expiry only limits when a view may start; while it runs, revocation is checked every
``RECHECK_S`` seconds, so a revoked token, login or grant stops the view (an unmasked view also
stops when its holder loses the unmasked right).

WebSocket messages: binary ones are the fMP4 byte stream in order; text ones are JSON:

    {"type": "status", "state": "connecting" | "waiting" | "playing"}
    {"type": "init", "mime_type": "video/mp4; codecs=\\"avc1.64001e\\""}   before each init segment
    {"type": "error", "status": 504, "detail": "stream never arrived: ..."}  then the close

Close codes are 4000 + the HTTP status the same failure gets elsewhere: 4401 no, forged or
expired token; 4403 token for another channel, action or client, or revoked; 4404 unknown
channel; 4502 device refused or ended the stream; 4503 device offline; 4504 no answer or no
media. The WebSocket is accepted before the token is checked so a browser sees the code (a
handshake refusal shows only as a failed connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.stream_tokens import StreamAction, StreamClaims, status_for
from sightline.access.tokens import TokenError
from sightline.api.deps import client_address, department_of, record_audit
from sightline.api.routers.live import (
    failure_of,
    get_live,
    get_stream_tokens,
    live_errors,
)
from sightline.api.routers.masks import masked_stream, unmasked_check
from sightline.api.schemas.common import GB_ID_PATTERN, ErrorOut
from sightline.gb28181.live import LiveService
from sightline.media.audio import aac_key, aac_opener
from sightline.media.fmp4 import Fmp4Packager, Fmp4Segment
from sightline.media.hub import Opener, StreamKey, Viewer
from sightline.media.variants import h264_key, h264_opener

__all__ = [
    "RECHECK_S",
    "Revoked",
    "fmp4_segments",
    "player_left",
    "router",
    "send_close",
    "until_disconnect",
]

log = logging.getLogger(__name__)

RECHECK_S = 2.0
_GB_ID = re.compile(GB_ID_PATTERN)

router = APIRouter(prefix="/api/v1/media", tags=["media"])

VideoCodec = Annotated[
    Literal["h264"] | None,
    Query(description="h264: H.265 cameras transcoded, for browsers without HEVC"),
]


def _stream(live: LiveService, channel_id: str, codec: str | None) -> tuple[StreamKey, Opener]:
    """The hub key and opener of the channel's live stream, or of its H.264 variant."""
    if codec == "h264":
        return h264_key(channel_id), h264_opener(
            live.hub, StreamKey(channel_id), live.opener(channel_id)
        )
    return StreamKey(channel_id), live.opener(channel_id)


def _browser_stream(
    live: LiveService, channel_id: str, codec: str | None
) -> tuple[StreamKey, Opener]:
    """``_stream`` with its G.711 audio as AAC (``media.audio``): what fMP4 players join."""
    key, opener = _stream(live, channel_id, codec)
    return aac_key(key), aac_opener(live.hub, key, opener)


def _audit(
    conn: HTTPConnection,
    action: AuditAction,
    channel_id: str,
    claims: StreamClaims | None,
    **detail: str | float | None,
) -> None:
    """A view's start, end or refusal for the audit trail."""
    event = AuditEvent(
        action,
        AuditOutcome.DENIED if action is AuditAction.PERMISSION_DENIED else AuditOutcome.OK,
        username=claims.username if claims is not None else None,
        user_id=claims.user_id if claims is not None else None,
        department=department_of(conn, claims.user_id if claims is not None else None),
        channel_id=channel_id,
        address=conn.client.host if conn.client is not None else None,
        detail={"token": claims.token_id if claims else None, **detail},
    )
    record_audit(conn, event)


class Revoked(Exception):
    """A running view's token was revoked (ends the view; live and playback share it)."""

    def __init__(self, error: TokenError) -> None:
        super().__init__(str(error))
        self.error = error


async def fmp4_segments(
    viewer: Viewer,
    packager: Fmp4Packager,
    claims: StreamClaims,
    conn: HTTPConnection,
    also: Callable[[], None] | None = None,
) -> AsyncIterator[Fmp4Segment]:
    """The viewer's units as fMP4 segments, re-checking revocation (and ``also``, raising
    TokenError) every RECHECK_S.

    Units that piled up while the sender was busy (a loaded process: its loop turns grow
    long) come out as one segment, so they cost one send instead of one each: the busier the
    process, the fewer sends per frame. An init segment is always a segment of its own."""
    tokens = get_stream_tokens(conn)
    next_check = time.monotonic() + RECHECK_S
    async for unit in viewer:
        queued = viewer.take_queued()
        if not queued:
            for segment in packager.push(unit):
                yield segment
        else:
            pending: list[bytes] = []
            mime_type = ""
            for each in (unit, *queued):
                for segment in packager.push(each):
                    if segment.init:
                        if pending:
                            yield Fmp4Segment(b"".join(pending), False, mime_type)
                            pending = []
                        yield segment
                    else:
                        pending.append(segment.data)
                        mime_type = segment.mime_type
            if pending:
                yield Fmp4Segment(b"".join(pending), False, mime_type)
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + RECHECK_S
            try:
                tokens.check(claims)
                if also is not None:
                    also()
            except TokenError as exc:
                raise Revoked(exc) from None


# -- WebSocket --------------------------------------------------------------------------------


async def send_close(ws: WebSocket, message: dict[str, object], code: int, reason: str) -> None:
    """Send a last JSON message and close with ``code``, unless the player has gone."""
    if ws.application_state is not WebSocketState.CONNECTED:
        return
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await ws.send_json(message)
        await ws.close(code, reason[:120])


async def _close(ws: WebSocket, status: int, detail: str) -> None:
    message: dict[str, object] = {"type": "error", "status": status, "detail": detail}
    await send_close(ws, message, 4000 + status, detail)


async def until_disconnect(ws: WebSocket) -> None:
    """Return when the player disconnects (players send nothing the server acts on)."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


def player_left(play: asyncio.Future[None], gone: asyncio.Future[None]) -> bool:
    """Whether the view ended because the player went away (both tasks done).

    Once the server has seen the disconnect (for instance after closing with 1009 on a client
    message over the limit), the play task's next send fails with a RuntimeError ("after
    sending 'websocket.close'"): that failure is the player's departure, not an error."""
    if play.cancelled():
        return True
    exc = play.exception()  # retrieved either way
    if gone.cancelled():
        return isinstance(exc, WebSocketDisconnect | OSError)
    if exc is not None:
        log.debug("view ended by the player's departure: %r", exc)
    return True


async def _play(
    ws: WebSocket, channel_id: str, claims: StreamClaims, codec: str | None = None
) -> None:
    live = get_live(ws)
    await ws.send_json({"type": "status", "state": "connecting"})
    if getattr(ws.app.state, "admission", None) is not None:
        # A media worker: the main process admits the view (or refuses it: masked_stream
        # raises) while the stream opens, so a busy worker waits one round trip less; a
        # refusal still comes before any frame is sent.
        admitted = asyncio.ensure_future(masked_stream(ws, claims))
        admitted.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            async with live.hub.view(*_browser_stream(live, channel_id, codec)) as viewer:
                await admitted
                await _send(ws, viewer, claims, None, audio=True)
        finally:
            admitted.cancel()
        return
    masked = await masked_stream(ws, claims)
    check = unmasked_check(ws, claims) if masked is None else None
    # masked views stay silent: hiding faces and leaving voices would defeat the mask
    async with live.hub.view(*(masked or _browser_stream(live, channel_id, codec))) as viewer:
        await _send(ws, viewer, claims, check, audio=masked is None)


async def _send(
    ws: WebSocket,
    viewer: Viewer,
    claims: StreamClaims,
    check: Callable[[], None] | None,
    *,
    audio: bool,
) -> None:
    """The view's fMP4 to the player, with the status and init messages."""
    await ws.send_json({"type": "status", "state": "waiting"})
    packager, playing = Fmp4Packager(audio=audio), False
    async for segment in fmp4_segments(viewer, packager, claims, ws, check):
        if segment.init:
            await ws.send_json({"type": "init", "mime_type": segment.mime_type})
        await ws.send_bytes(segment.data)
        if not playing and not segment.init:
            playing = True
            await ws.send_json({"type": "status", "state": "playing"})


@router.websocket("/live/{channel_id}.mp4")
async def live_websocket(
    websocket: WebSocket,
    channel_id: str,
    token: Annotated[str | None, Query()] = None,
    codec: VideoCodec = None,
) -> None:
    """Live fMP4 over WebSocket (see the module docstring for the messages)."""
    await websocket.accept()
    if not _GB_ID.match(channel_id):
        await _close(websocket, 404, f"channel {channel_id[:40]!r} is not a 20-digit ID")
        return
    client = websocket.client.host if websocket.client is not None else None
    try:
        claims = get_stream_tokens(websocket).verify(
            token, channel_id=channel_id, action=StreamAction.LIVE, client=client
        )
    except TokenError as exc:
        log.info("live view of %s refused to %s: %s", channel_id, client, exc)
        _audit(websocket, AuditAction.PERMISSION_DENIED, channel_id, None, reason=str(exc))
        await _close(websocket, status_for(exc), str(exc))
        return
    log.info("live view of %s by %r from %s started", channel_id, claims.username, client)
    _audit(websocket, AuditAction.LIVE_START, channel_id, claims, transport="ws")
    started = time.monotonic()
    play = asyncio.ensure_future(_play(websocket, channel_id, claims, codec))
    gone = asyncio.ensure_future(until_disconnect(websocket))
    try:
        await asyncio.wait((play, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (play, gone):
            task.cancel()
        held = round(time.monotonic() - started, 1)  # recorded even if this handler is cancelled
        _audit(websocket, AuditAction.LIVE_STOP, channel_id, claims, transport="ws", seconds=held)
        # wait, not gather: gather would replace the server's own cancellation (anyio tells
        # its cancel scopes' CancelledErrors apart by their message) with the children's
        await asyncio.wait((play, gone))
        if not gone.cancelled():
            gone.exception()  # retrieved: a disconnect needs no report
    if not player_left(play, gone):
        await _finish(websocket, play, channel_id)
    log.info("live view of %s by %r from %s ended", channel_id, claims.username, client)


async def _finish(ws: WebSocket, play: asyncio.Future[None], channel_id: str) -> None:
    exc = play.exception()
    if exc is None:
        await _close(ws, 502, f"stream of {channel_id} ended")
    elif isinstance(exc, Revoked):
        await _close(ws, 403, f"access revoked: {exc.error}")
    else:
        failure = failure_of(exc, channel_id)
        if failure is None:
            log.error("live view of %s failed", channel_id, exc_info=exc)
            failure = (500, "internal error")
        await _close(ws, *failure)


# -- HTTP -------------------------------------------------------------------------------------


@router.get(
    "/live/{channel_id}.mp4",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"video/mp4": {}}, "description": "endless fragmented MP4"},
        401: {"model": ErrorOut},
        403: {"model": ErrorOut},
        404: {"model": ErrorOut},
        502: {"model": ErrorOut},
        503: {"model": ErrorOut},
        504: {"model": ErrorOut},
    },
)
async def live_http(
    channel_id: Annotated[str, Path(pattern=GB_ID_PATTERN)],
    request: Request,
    token: Annotated[str | None, Query(description="the token from POST .../live")] = None,
    codec: VideoCodec = None,
) -> StreamingResponse:
    """Live fMP4 as one chunked HTTP body (``ffplay URL`` plays it)."""
    client = client_address(request)
    try:
        claims = get_stream_tokens(request).verify(
            token, channel_id=channel_id, action=StreamAction.LIVE, client=client
        )
    except TokenError as exc:
        _audit(request, AuditAction.PERMISSION_DENIED, channel_id, None, reason=str(exc))
        raise HTTPException(status_for(exc), str(exc)) from None
    live = get_live(request)
    with live_errors(channel_id):
        masked = await masked_stream(request, claims)
        viewer = await live.hub.join(*(masked or _browser_stream(live, channel_id, codec)))
    check = unmasked_check(request, claims) if masked is None else None
    packager = Fmp4Packager(audio=masked is None)
    segments = fmp4_segments(viewer, packager, claims, request, check)
    try:
        with live_errors(channel_id):
            first = await anext(segments)  # failures before the first byte become statuses
    except BaseException:
        live.leave(viewer)
        raise

    _audit(request, AuditAction.LIVE_START, channel_id, claims, transport="http")
    started = time.monotonic()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield first.data
            async for segment in segments:
                yield segment.data
        except Exception as exc:  # the status is sent: a tool sees the stream end
            log.info("HTTP live view of %s ended: %s", channel_id, exc)
        finally:
            live.leave(viewer)
            held = round(time.monotonic() - started, 1)
            _audit(
                request, AuditAction.LIVE_STOP, channel_id, claims, transport="http", seconds=held
            )

    return StreamingResponse(
        body(),
        media_type="video/mp4",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
