"""``POST /api/v1/channels/{id}/live``: a play grant (URLs with a stream token) for a channel.

The answer comes without waiting for video: the checks that fail fast (not logged in, not
allowed, unknown channel → 404, device offline → 503) are made here, and the player's own
connection starts (or joins) the stream, which errors it meets are sent on (INVITE refused,
no media), so a tile shows what is happening within the same second. That is what a video wall
wants: sixteen tiles asked at once do not each hold an HTTP request open for seconds.

``?wait=true`` instead starts or joins the stream and answers only after its first key frame,
so a script gets the classic failures as statuses: device refused → 502, no answer or
"stream never arrived" → 504; the answer then names the MSE ``mime_type`` too (with
``mp4a.40.2`` when the camera sends audio, which browsers get as AAC). The stream is
kept for the grace period, so the player connecting next finds it running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Literal, cast

from fastapi import APIRouter, HTTPException, Path, Query, Request
from starlette.requests import HTTPConnection

from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.access.service import Action, Resource
from sightline.access.stream_tokens import StreamAction, StreamClaims, StreamTokens, status_for
from sightline.access.tokens import TokenError
from sightline.api.deps import (
    CurrentUser,
    authorize,
    client_address,
    department_of,
    get_auth,
    record_audit,
)
from sightline.api.routers.masks import masked_stream
from sightline.api.schemas.common import GB_ID_PATTERN, ErrorOut
from sightline.api.schemas.live import LiveOut, LiveUrls
from sightline.gb28181.errors import (
    DeviceOfflineError,
    DeviceRejectedError,
    DeviceTimeoutError,
    UnknownDeviceError,
)
from sightline.gb28181.live import LiveService, UnknownChannelError
from sightline.gb28181.ssrc import SsrcExhausted
from sightline.media.audio import aac_key, aac_opener
from sightline.media.fmp4 import Fmp4Packager
from sightline.media.hub import NoMediaError, StreamError, StreamKey, StreamNeverArrivedError
from sightline.media.ports import PortsExhaustedError

__all__ = ["failure_of", "get_live", "get_stream_tokens", "live_errors", "media_path", "router"]

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/api/v1/channels",
    tags=["live"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)

ChannelId = Annotated[str, Path(pattern=GB_ID_PATTERN, description="20-digit channel ID")]


def get_live(conn: HTTPConnection) -> LiveService:
    """The node's ``LiveService``."""
    return cast(LiveService, conn.app.state.live)


def get_stream_tokens(conn: HTTPConnection) -> StreamTokens:
    """The node's stream-token signer."""
    return cast(StreamTokens, conn.app.state.stream_tokens)


def failure_of(exc: BaseException, channel_id: str) -> tuple[int, str] | None:
    """The HTTP status and sentence for a live-view failure; None if it is not one."""
    if isinstance(exc, TokenError):  # a media worker's admission refused the view
        return status_for(exc), str(exc)
    if isinstance(exc, UnknownChannelError | UnknownDeviceError):
        return 404, f"channel {channel_id} is not known"
    if isinstance(exc, DeviceOfflineError):
        return 503, str(exc)
    if isinstance(exc, PortsExhaustedError | SsrcExhausted):
        return 503, f"no capacity for another stream: {exc}"
    if isinstance(exc, DeviceRejectedError):
        return 502, str(exc)
    if isinstance(exc, DeviceTimeoutError):
        return 504, str(exc)
    if isinstance(exc, StreamNeverArrivedError):
        return 504, f"stream never arrived: {exc}"
    if isinstance(exc, NoMediaError):
        return 504, f"media stopped: {exc}"
    if isinstance(exc, StreamError):
        return 502, str(exc)
    return None


@contextmanager
def live_errors(channel_id: str) -> Iterator[None]:
    """Turn live-view failures into HTTP errors (see :func:`failure_of`)."""
    try:
        yield
    except Exception as exc:
        failure = failure_of(exc, channel_id)
        if failure is None:
            raise
        raise HTTPException(*failure) from None


def media_path(channel_id: str) -> str:
    """The path of a channel's live fMP4 (WebSocket and HTTP share it)."""
    return f"/api/v1/media/live/{channel_id}.mp4"


def _urls(
    request: Request,
    channel_id: str,
    token: str,
    codec: str | None = None,
    worker_port: int | None = None,
) -> LiveUrls:
    """The play URLs; the fMP4 ones on ``worker_port`` when a media worker plays the channel."""
    base_url = request.base_url
    if worker_port is not None:
        base_url = base_url.replace(port=worker_port)
    base = str(base_url).rstrip("/")
    ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    tail = f"{media_path(channel_id)}?token={token}" + (f"&codec={codec}" if codec else "")
    rtsp_port = getattr(request.app.state, "rtsp_port", None)
    rtsp = (
        f"rtsp://{request.url.hostname}:{rtsp_port}/live/{channel_id}?token={token}"
        if rtsp_port
        else None
    )
    return LiveUrls(ws=ws_base + tail, http=base + tail, rtsp=rtsp)


async def _worker_port(request: Request, claims: StreamClaims) -> int | None:
    """The HTTP port of the media worker to play this view (None: this process plays it).
    Masked views are this process's: their masking runs where the access model is."""
    assign = cast(
        Callable[[str], int | None] | None, getattr(request.app.state, "live_worker_port", None)
    )
    if assign is None or await masked_stream(request, claims) is not None:
        return None
    return assign(claims.channel_id)


async def _mime_type(live: LiveService, channel_id: str) -> str | None:
    """The MSE type a player of the channel gets, audio (AAC) included when the camera sends it."""
    key = StreamKey(channel_id)
    opener = aac_opener(live.hub, key, live.opener(channel_id))
    async with live.hub.view(aac_key(key), opener) as viewer:
        packager = Fmp4Packager(audio=True)
        async for unit in viewer:
            if packager.push(unit):
                return packager.mime_type
    return None


@router.post(
    "/{channel_id}/live",
    responses={
        404: {"model": ErrorOut},
        502: {"model": ErrorOut},
        503: {"model": ErrorOut},
        504: {"model": ErrorOut},
    },
)
async def start_live(
    channel_id: ChannelId,
    principal: CurrentUser,
    request: Request,
    wait: Annotated[
        bool, Query(description="answer after the first key frame; errors become statuses")
    ] = False,
    codec: Annotated[
        Literal["h264"] | None,
        Query(description="h264: play URLs of the H.264 variant (H.265 cameras transcoded)"),
    ] = None,
) -> LiveOut:
    """URLs to play the channel live, each with a short-lived stream token."""
    await authorize(request, principal, Action.LIVE, Resource.channel(channel_id))
    # the token names the grant that allowed it (None: a role or default sharing did)
    decision = await get_auth(request).decide(principal, Action.LIVE, Resource.channel(channel_id))
    live = get_live(request)
    mime_type = None
    with live_errors(channel_id):
        await live.device_for(channel_id)
        if wait:
            mime_type = await _mime_type(live, channel_id)
    token, claims = get_stream_tokens(request).issue(
        user_id=principal.user_id,
        username=principal.username,
        channel_id=channel_id,
        action=StreamAction.LIVE,
        client=client_address(request),
        session_id=principal.claims.token_id if principal.claims is not None else None,
        grant_id=decision.grant_id,
    )
    log.info(
        "live view of %s granted to %r from %s (token %s)",
        channel_id,
        principal.username,
        client_address(request),
        claims.token_id,
    )
    event = AuditEvent(
        AuditAction.LIVE_TOKEN,
        username=principal.username,
        user_id=principal.user_id,
        department=department_of(request, principal.user_id),
        channel_id=channel_id,
        address=client_address(request),
        detail={"token": claims.token_id},
    )
    record_audit(request, event)
    return LiveOut(
        channel_id=channel_id,
        urls=_urls(request, channel_id, token, codec, await _worker_port(request, claims)),
        token=token,
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
        mime_type=mime_type,
    )
