"""Downloads: export a recording to an MP4 file, follow its progress, fetch the file.

``POST /channels/{id}/downloads`` needs a ``purpose`` (stored in the audit trail with the
request) and answers at once with the job; ``GET /downloads/{id}`` reports state and progress;
``GET /downloads/{id}/file`` hands the finished MP4 over. A job is visible only to the user who
started it (anyone else gets 404); its file is deleted ``playback.download_retention_s`` after
it finished.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import FileResponse

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.service import Action, Resource
from sightline.api.deps import (
    CurrentUser,
    authorize,
    client_address,
    get_directory,
    record_audit,
    require_json,
)
from sightline.api.routers.masks import refuse_masked_recording
from sightline.api.routers.records import (
    ERROR_RESPONSES,
    ChannelId,
    check_range,
    get_downloads,
    record_errors,
    record_source,
)
from sightline.api.schemas.common import ErrorOut
from sightline.api.schemas.records import DownloadIn, DownloadOut, DownloadStatusOut
from sightline.media.downloads import DownloadJob, DownloadLimit, DownloadState

__all__ = ["channel_router", "router"]

log = logging.getLogger(__name__)

channel_router = APIRouter(
    prefix="/api/v1/channels",
    tags=["downloads"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
router = APIRouter(
    prefix="/api/v1/downloads",
    tags=["downloads"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)

DownloadId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="from POST .../downloads")
]


@channel_router.post("/{channel_id}/downloads", status_code=202, responses=ERROR_RESPONSES)
async def start_download(
    channel_id: ChannelId,
    body: DownloadIn,
    principal: CurrentUser,
    _json: Annotated[None, Depends(require_json)],
    request: Request,
) -> DownloadOut:
    """Start exporting [start, end) of the channel to MP4; poll ``GET /downloads/{id}``."""
    await authorize(request, principal, Action.EXPORT, Resource.channel(channel_id))
    await refuse_masked_recording(request, principal, channel_id, "export")
    check_range(request, body.start, body.end)
    source = record_source(request, body.source)
    if await get_directory(request).get_channel(channel_id) is None:
        raise HTTPException(404, f"channel {channel_id} is not known")
    try:
        job = get_downloads(request).start(
            source,
            owner_id=principal.user_id,
            username=principal.username,
            channel_id=channel_id,
            start=body.start,
            end=body.end,
            purpose=body.purpose,
        )
    except DownloadLimit as exc:
        raise HTTPException(429, str(exc)) from None
    event = AuditEvent(
        AuditAction.DOWNLOAD,
        AuditOutcome.OK,
        username=principal.username,
        user_id=principal.user_id,
        channel_id=channel_id,
        address=client_address(request),
        purpose=body.purpose,
        detail={
            "download": job.id,
            "stage": "request",
            "source": body.source.value,
            "start": body.start.isoformat(),
            "end": body.end.isoformat(),
        },
    )
    record_audit(request, event)
    log.info(
        "download %s of %s (%s to %s) started for %r",
        job.id,
        channel_id,
        body.start.isoformat(),
        body.end.isoformat(),
        principal.username,
    )
    return DownloadOut(download_id=job.id, state=job.state)


async def _own_job(request: Request, principal: CurrentUser, download_id: str) -> DownloadJob:
    with record_errors(download_id):
        job = get_downloads(request).get(download_id, principal.user_id)
    await authorize(request, principal, Action.EXPORT, Resource.channel(job.channel_id))
    return job


@router.get("/{download_id}")
async def download_status(
    download_id: DownloadId, principal: CurrentUser, request: Request
) -> DownloadStatusOut:
    """State (running, done, failed), progress 0..1, size and error of your download."""
    job = await _own_job(request, principal, download_id)
    return DownloadStatusOut(
        download_id=job.id,
        channel_id=job.channel_id,
        source=job.source,
        start=job.start,
        end=job.end,
        state=job.state,
        progress=round(job.progress, 4),
        size_bytes=job.size_bytes,
        error=job.error,
    )


@router.get(
    "/{download_id}/file",
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}}}, 409: {"model": ErrorOut}},
)
async def download_file(
    download_id: DownloadId, principal: CurrentUser, request: Request
) -> FileResponse:
    """The finished MP4 of your download (409 while it runs or after it failed)."""
    job = await _own_job(request, principal, download_id)
    await refuse_masked_recording(request, principal, job.channel_id, "export")  # masks set since
    if job.state is not DownloadState.DONE:
        raise HTTPException(409, f"download {job.id} is {job.state.value}, not done")
    if not job.path.is_file():
        raise HTTPException(404, f"the file of download {job.id} is gone")
    event = AuditEvent(
        AuditAction.DOWNLOAD,
        AuditOutcome.OK,
        username=principal.username,
        user_id=principal.user_id,
        channel_id=job.channel_id,
        address=client_address(request),
        purpose=job.purpose,
        detail={"download": job.id, "stage": "file", "size_bytes": job.size_bytes},
    )
    record_audit(request, event)
    return FileResponse(
        job.path,
        media_type="video/mp4",
        filename=job.filename,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
