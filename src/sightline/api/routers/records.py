"""``GET /api/v1/channels/{id}/records``: the recordings of a channel, from a record source.

``source=device`` asks the channel's device (RecordInfo); ``source=platform`` reads sightline's
own recordings when platform recording is enabled, else 409. The helpers here (the source
registry, time-range checks, error translation) are shared by the playback and download
routers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, cast

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import AwareDatetime
from starlette.requests import HTTPConnection

from sightline.access.service import Action, Resource
from sightline.api.deps import CurrentUser, authorize
from sightline.api.routers.live import failure_of
from sightline.api.schemas.common import GB_ID_PATTERN, ErrorOut
from sightline.api.schemas.records import RecordOut, RecordsOut
from sightline.gb28181.errors import DeviceRejectedError
from sightline.media.downloads import DownloadNotFound, Downloads
from sightline.media.playback import RecordSource, RecordSourceName
from sightline.media.playback_sessions import (
    PlaybackSessions,
    SessionLimit,
    SessionNotFound,
    SourceNotEnabled,
)

__all__ = [
    "ChannelId",
    "check_range",
    "get_downloads",
    "get_playback",
    "record_errors",
    "record_source",
    "router",
]

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/api/v1/channels",
    tags=["records"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)

ChannelId = Annotated[str, Path(pattern=GB_ID_PATTERN, description="20-digit channel ID")]

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (404, 409, 429, 502, 503, 504)
}


def get_playback(conn: HTTPConnection) -> PlaybackSessions:
    """The node's playback sessions (and through them, the record sources)."""
    return cast(PlaybackSessions, conn.app.state.playback)


def get_downloads(conn: HTTPConnection) -> Downloads:
    """The node's download jobs."""
    return cast(Downloads, conn.app.state.downloads)


def record_source(conn: HTTPConnection, name: RecordSourceName) -> RecordSource:
    """The source called ``name``; 409 when this node does not have it."""
    sources = cast(dict[RecordSourceName, RecordSource], conn.app.state.record_sources)
    found = sources.get(name)
    if found is None:
        raise HTTPException(409, f"{name.value} recording is not enabled on this node")
    return found


def check_range(conn: HTTPConnection, start: datetime, end: datetime) -> None:
    """422 unless start < end and the range spans at most ``playback.max_search_days``."""
    if end <= start:
        raise HTTPException(422, "end must be after start")
    days = cast(int, conn.app.state.max_record_days)
    if end - start > timedelta(days=days):
        raise HTTPException(422, f"the range spans more than {days} days")


@contextmanager
def record_errors(channel_id: str) -> Iterator[None]:
    """Turn record-source and device failures into HTTP errors."""
    try:
        yield
    except (SessionNotFound, DownloadNotFound) as exc:
        raise HTTPException(404, str(exc)) from None
    except SourceNotEnabled as exc:
        raise HTTPException(409, str(exc)) from None
    except SessionLimit as exc:
        raise HTTPException(429, str(exc)) from None
    except DeviceRejectedError as exc:
        if exc.status == 404:
            raise HTTPException(404, f"no recording of {channel_id} in that range") from None
        raise HTTPException(502, str(exc)) from None
    except Exception as exc:
        failure = failure_of(exc, channel_id)
        if failure is not None:
            raise HTTPException(*failure) from None
        if isinstance(exc, LookupError):  # e.g. the platform source has nothing there
            raise HTTPException(404, str(exc)) from None
        if isinstance(exc, ValueError):
            raise HTTPException(422, str(exc)) from None
        raise


@router.get("/{channel_id}/records", responses=ERROR_RESPONSES)
async def list_records(
    *,
    channel_id: ChannelId,
    principal: CurrentUser,
    request: Request,
    start: Annotated[AwareDatetime, Query(description="ISO 8601 with a zone")],
    end: Annotated[AwareDatetime, Query(description="ISO 8601 with a zone")],
    source: Annotated[RecordSourceName, Query()] = RecordSourceName.DEVICE,
) -> RecordsOut:
    """The recordings of the channel overlapping [start, end), oldest first."""
    await authorize(request, principal, Action.PLAYBACK, Resource.channel(channel_id))
    check_range(request, start, end)
    found = record_source(request, source)
    with record_errors(channel_id):
        segments = await found.search(channel_id, start, end)
    return RecordsOut(
        items=[
            RecordOut(
                channel_id=s.channel_id,
                start=s.start,
                end=s.end,
                source=s.source,
                size_bytes=s.size_bytes,
                kind=s.kind,
            )
            for s in segments
        ]
    )
