"""``/api/v1/channels/{id}/masks``: static privacy masks, and which picture a viewer gets.

``GET`` answers the channel's polygons to anyone who may read the channel. ``PUT`` replaces
them; it needs the right to see the channel unmasked *and* an administrator (until the access
policy has an action of its own for it), and is audited (``mask.change``). A running masked
view shows the new polygons from its next picture.

:func:`masked_stream` is the decision the media routes make when a stream token is used: a
viewer who fails the ``UNMASKED`` check on the channel gets the masked view (one encode shared
by all such viewers, ``sightline.analytics.masked_stream``), everyone else the live stream. A
masked view passes the camera's stream through untouched while the channel has no masks (it is
never re-encoded then) and masks from the next picture once masks are set, so drawing a mask
also covers views already running. Deciding at use rather than at issue keeps the token format
as it is and applies a policy change to the next view started with a token already handed out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, cast

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from starlette.requests import HTTPConnection

from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.access.service import Action, AuthService, Principal, Resource
from sightline.access.stream_tokens import StreamClaims
from sightline.access.tokens import RevokedToken
from sightline.analytics.masked_stream import MaskedStreams, masked_key
from sightline.analytics.masking import MaskError
from sightline.api.deps import (
    CurrentUser,
    authorize,
    client_address,
    get_directory,
    record_audit,
    require_json,
)
from sightline.api.schemas.common import GB_ID_PATTERN, ErrorOut
from sightline.api.schemas.masks import MasksIn, MasksOut
from sightline.media.hub import Opener, StreamKey

__all__ = [
    "Admission",
    "get_masked_streams",
    "masked_recording_check",
    "masked_stream",
    "refuse_masked_recording",
    "router",
    "unmasked_check",
]

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/api/v1/channels",
    tags=["masks"],
    responses={
        401: {"model": ErrorOut},
        403: {"model": ErrorOut},
        404: {"model": ErrorOut},
        422: {"model": ErrorOut},
    },
)

ChannelId = Annotated[str, Path(pattern=GB_ID_PATTERN, description="20-digit channel ID")]


def get_masked_streams(conn: HTTPConnection) -> MaskedStreams | None:
    """The node's masked streams (None in an app built without them: nothing is masked)."""
    return cast(MaskedStreams | None, getattr(conn.app.state, "masked", None))


def _streams(request: Request) -> MaskedStreams:
    streams = get_masked_streams(request)
    if streams is None:  # the router is only mounted with them; a guard, not a path
        raise HTTPException(503, "privacy masks are not available on this node")
    return streams


async def _known_channel(request: Request, channel_id: str) -> None:
    if await get_directory(request).get_channel(channel_id) is None:
        raise HTTPException(404, f"channel {channel_id} is not known")


@router.get("/{channel_id}/masks")
async def get_masks(channel_id: ChannelId, principal: CurrentUser, request: Request) -> MasksOut:
    """The channel's privacy mask polygons (normalised 0..1 coordinates)."""
    await authorize(request, principal, Action.READ, Resource.channel(channel_id))
    await _known_channel(request, channel_id)
    return MasksOut.of(channel_id, await _streams(request).masks.get(channel_id))


@router.put("/{channel_id}/masks", responses={415: {"model": ErrorOut}})
async def put_masks(
    channel_id: ChannelId,
    body: MasksIn,
    principal: CurrentUser,
    _json: Annotated[None, Depends(require_json)],
    request: Request,
) -> MasksOut:
    """Replace the channel's privacy masks; running masked views change within a frame."""
    await authorize(request, principal, Action.UNMASKED, Resource.channel(channel_id))
    if not principal.is_admin:
        raise HTTPException(403, "changing privacy masks needs an administrator")
    await _known_channel(request, channel_id)
    try:
        saved = await _streams(request).masks.replace(
            channel_id, body.polygons, by=principal.username
        )
    except MaskError as exc:
        raise HTTPException(422, str(exc)) from None
    record_audit(
        request,
        AuditEvent(
            AuditAction.MASK_CHANGE,
            username=principal.username,
            user_id=principal.user_id,
            channel_id=channel_id,
            address=client_address(request),
            detail={"polygons": len(saved.polygons)},
        ),
    )
    return MasksOut.of(channel_id, saved)


Admission = Callable[[StreamClaims], Awaitable[None]]
"""A media worker's admission of a view (``app.state.admission``): raises TokenError when the
view may not run there (token revoked, or its holder is to see the channel masked)."""


async def masked_stream(
    conn: HTTPConnection, claims: StreamClaims
) -> tuple[StreamKey, Opener] | None:
    """The masked view's hub key and opener if this token's holder lacks the unmasked right on
    the channel; None when they have it (or the node has no masked views)."""
    admission = cast(Admission | None, getattr(conn.app.state, "admission", None))
    if admission is not None:  # a media worker: the main process decides, before any frame
        await admission(claims)
        return None
    streams = get_masked_streams(conn)
    channel_id = claims.channel_id
    if streams is None:
        return None
    auth = cast(AuthService, conn.app.state.auth)
    client = conn.client.host if conn.client is not None else None
    # The policy decides by user (grants, roles); the token names the user it was issued to.
    # ``decide``, not ``authorize``: a masked view is a normal outcome, not an audited denial.
    principal = Principal(claims.user_id, claims.username, is_admin=False, address=client)
    decision = await auth.decide(principal, Action.UNMASKED, Resource.channel(channel_id))
    if decision.allowed:
        return None
    log.info("live view of %s by %r from %s is masked", channel_id, claims.username, client)
    return masked_key(channel_id), streams.opener(channel_id)


def unmasked_check(conn: HTTPConnection, claims: StreamClaims) -> Callable[[], None] | None:
    """For a running unmasked view: a check raising RevokedToken once its holder may no longer
    see the channel unmasked (None: the node has no masked views). The view ends; started
    again, it is the masked one. Run with the token re-check, over the snapshot in hand."""
    if get_masked_streams(conn) is None:
        return None
    model = cast(AuthService, conn.app.state.auth).access
    resource = Resource.channel(claims.channel_id)

    def check() -> None:
        if not model.decide_now(claims.user_id, Action.UNMASKED, resource).allowed:
            raise RevokedToken(
                f"the right to see {claims.channel_id} unmasked was withdrawn: "
                "start the view again for the masked picture"
            )

    return check


def masked_recording_check(conn: HTTPConnection, claims: StreamClaims) -> Callable[[], None] | None:
    """For a running playback: a check raising RevokedToken once the channel has masks and the
    viewer may not see it unmasked (None: the node has no masked views). Recordings are served
    as recorded, so a mask drawn while a playback runs ends that playback for such a viewer, as
    :func:`refuse_masked_recording` would have refused it. Run with the token re-check."""
    streams = get_masked_streams(conn)
    if streams is None:
        return None
    model = cast(AuthService, conn.app.state.auth).access
    resource = Resource.channel(claims.channel_id)

    def check() -> None:
        if not streams.masks.cached_mask(claims.channel_id):
            return
        if not model.decide_now(claims.user_id, Action.UNMASKED, resource).allowed:
            raise RevokedToken(
                f"privacy masks were drawn on {claims.channel_id} and its recordings are not "
                "masked: playback needs the right to see it unmasked"
            )

    return check


async def refuse_masked_recording(
    request: Request, principal: Principal, channel_id: str, what: str
) -> None:
    """403 unless the channel has no masks or the principal may see it unmasked.

    Recorded video (device or platform) is stored and served as the camera sent it; there is
    no masked playback or export path, so ``what`` (playback, export) of a masked channel
    needs the ``UNMASKED`` right, like an unmasked live view.
    """
    streams = get_masked_streams(request)
    if streams is None or not await streams.needs_mask(channel_id):
        return
    try:
        await authorize(request, principal, Action.UNMASKED, Resource.channel(channel_id))
    except HTTPException as exc:
        log.info("%s of masked channel %s refused to %r", what, channel_id, principal.username)
        raise HTTPException(
            403,
            f"channel {channel_id} has privacy masks and its recordings are not masked: "
            f"{what} needs the right to see it unmasked ({exc.detail})",
        ) from None
