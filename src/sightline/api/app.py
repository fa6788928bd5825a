"""The FastAPI application: health, metrics, the REST API and (from later issues) the web UI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.datastructures import Headers
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sightline.access.audit_events import AuditSink
from sightline.access.service import AuthService
from sightline.access.services import AccessServices
from sightline.access.stream_tokens import StreamTokens
from sightline.analytics.masked_stream import MaskedStreams
from sightline.api.console import mount_console
from sightline.api.deps import DeviceControl
from sightline.api.routers import (
    access_requests,
    audit,
    auth,
    channels,
    departments,
    devices,
    directory,
    downloads,
    grants,
    live,
    masks,
    me,
    media,
    notifications,
    playback,
    playback_media,
    preferences,
    recording_plans,
    records,
    tree,
    ui,
    users,
)
from sightline.api.routers.masks import Admission
from sightline.config import WebSettings
from sightline.directory import DirectoryService
from sightline.gb28181.live import LiveService
from sightline.media.downloads import Downloads
from sightline.media.playback import RecordSource, RecordSourceName
from sightline.media.playback_sessions import PlaybackSessions
from sightline.media.recording import RecordingService
from sightline.store import Database

__all__ = ["MAX_BODY_BYTES", "ApiContext", "BodyLimit", "create_app", "create_media_app"]

# Every request body of the API is a small JSON object; anything larger is an attack or a bug.
MAX_BODY_BYTES = 64 * 1024
# The MSE test player (issue 5); the web console of issue 6 replaces it.
PLAYER_DIR = Path(__file__).resolve().parent.parent / "web" / "player"


@dataclass(frozen=True)
class ApiContext:
    """What the HTTP layer needs from the rest of the node.

    The REST API is mounted when ``auth``, ``directory`` and ``devices`` are all given; without
    them only /healthz and /metrics exist. Live view (``/channels/{id}/live``, ``/media``)
    needs ``live`` and ``stream_tokens`` as well. The test player is always at /player/.
    """

    registry: CollectorRegistry
    auth: AuthService | None = None
    directory: DirectoryService | None = None
    devices: DeviceControl | None = None
    live: LiveService | None = None
    stream_tokens: StreamTokens | None = None
    rtsp_port: int | None = None
    audit: AuditSink | None = None
    # Departments, users, grants, requests, notifications (issue 8).
    access: AccessServices | None = None
    # The web console (issue 6): saved preferences and the tree need the database.
    database: Database | None = None
    web: WebSettings | None = None
    # Static privacy masks (issue 8): /channels/{id}/masks and masked live views.
    masked: MaskedStreams | None = None
    # Platform recording (issue 7): plans, status, group retention.
    recording: RecordingService | None = None
    # Recordings of every source (issue 7): search, playback sessions, downloads. node_media.py
    # registers each RecordSource in ``record_sources`` (shared with ``playback``).
    record_sources: dict[RecordSourceName, RecordSource] | None = None
    playback: PlaybackSessions | None = None
    downloads: Downloads | None = None
    max_record_days: int = 31
    # channel → HTTP port of the media worker to play it (None: the main process plays it)
    live_worker_port: Callable[[str], int | None] | None = None


class BodyLimit:
    """Answer 413 to a request body over ``max_bytes``, declared or streamed (chunked).

    A declared Content-Length is refused before the app runs; a streamed body is counted as it
    is read, and the HTTPException raised from ``receive`` reaches FastAPI's handler, which
    answers with the usual JSON ``detail``.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"request body is larger than {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            error = self._too_large()
            response = JSONResponse({"detail": error.detail}, error.status_code)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, counted, send)


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable ``detail`` sentence, plus the individual ``errors``."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": _where(tuple(e.get("loc", ()))), "msg": str(e.get("msg", "")), "type": e["type"]}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors) or "invalid request"
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


def create_media_app(
    *, live: object, stream_tokens: StreamTokens, audit: AuditSink, admission: Admission
) -> FastAPI:
    """The app of a media worker process: only the live fMP4 routes (WebSocket and HTTP).

    ``live`` is the worker's :class:`~sightline.gb28181.live_remote.RemoteLive` (hub, opener,
    leave: what the routes use of a LiveService); ``admission`` asks the main process whether
    a view may run here before its first frame (``masks.masked_stream``)."""
    app = FastAPI(title="sightline media worker", openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.state.audit = audit
    app.state.live = live
    app.state.stream_tokens = stream_tokens
    app.state.admission = admission

    @app.get("/healthz", tags=["system"])
    async def healthz() -> dict[str, str]:
        """Liveness: answers without login."""
        return {"status": "ok"}

    app.include_router(media.router)
    return app


def create_app(ctx: ApiContext) -> FastAPI:
    """Build the application for one node."""
    app = FastAPI(
        title="sightline",
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.state.audit = ctx.audit

    @app.get("/healthz", tags=["system"])
    async def healthz() -> dict[str, str]:
        """Liveness: answers without login."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["system"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)

    app_has_api = ctx.auth is not None and ctx.directory is not None and ctx.devices is not None
    if app_has_api:
        app.state.auth = ctx.auth
        app.state.directory = ctx.directory
        app.state.devices = ctx.devices
        for module in (auth, devices, channels, directory, audit):
            app.include_router(module.router)
        if ctx.access is not None:
            app.state.access = ctx.access
            for module in (departments, users, grants, access_requests, me, notifications):
                app.include_router(module.router)
        if ctx.live is not None and ctx.stream_tokens is not None:
            app.state.live = ctx.live
            app.state.stream_tokens = ctx.stream_tokens
            app.state.rtsp_port = ctx.rtsp_port
            app.state.live_worker_port = ctx.live_worker_port
            app.include_router(live.router)
            app.include_router(media.router)
            if ctx.masked is not None:
                app.state.masked = ctx.masked
                app.include_router(masks.router)
    if app_has_api and ctx.recording is not None:
        app.state.recording = ctx.recording
        app.include_router(recording_plans.router)
    recordings = (ctx.record_sources, ctx.playback, ctx.downloads, ctx.stream_tokens)
    if app_has_api and None not in recordings:
        app.state.record_sources = ctx.record_sources
        app.state.playback = ctx.playback
        app.state.downloads = ctx.downloads
        app.state.max_record_days = ctx.max_record_days
        for router in (
            records.router,
            playback.channel_router,
            playback.router,
            playback_media.router,
            downloads.channel_router,
            downloads.router,
        ):
            app.include_router(router)
    if PLAYER_DIR.is_dir():
        app.mount("/player", StaticFiles(directory=PLAYER_DIR, html=True), name="player")
    if app_has_api and ctx.database is not None:
        app.state.database = ctx.database
        app.state.web = ctx.web if ctx.web is not None else WebSettings()
        for module in (preferences, tree, ui):
            app.include_router(module.router)
    # Last: its catch-all answers the console's client-side routes.
    mount_console(app)
    return app
