"""The operators' web console (issue 6): the Vue build in ``sightline/web/console`` at ``/``.

``/`` and every client-side route (``/wall``, ``/devices/<id>``, ...) answer ``index.html``,
never cached, so a new release is picked up at the next load; the hashed files under
``/assets/`` are cached for a year, their names change with their content. Paths the console
does not own (``/api/``, ``/player/``, ``/docs``, ...) are never answered with the page: an
unknown API path stays a JSON 404. Without a build (a source checkout before ``make console``)
``/`` says how to build it instead of failing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["CONSOLE_DIR", "NOT_BUILT", "mount_console"]

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "web" / "console"
NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>sightline</title>"
    "<h1>The web console is not built</h1>"
    "<p>Run <code>make console</code> (needs Node.js and npm) and reload this page. "
    "The REST API is at <a href=/docs>/docs</a>, the test player at "
    "<a href=/player/>/player/</a>.</p>"
)
# First path segments that belong to the server, not to the console's client-side routes.
SERVER_PREFIXES = frozenset({"api", "player", "docs", "metrics", "healthz", "assets"})
NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate"}
IMMUTABLE = "public, max-age=31536000, immutable"


def _is_dir(path: Path) -> bool:
    return path.is_dir()


def _top_level_file(directory: Path, name: str) -> Path | None:
    """``directory/name`` if it is a file directly in ``directory`` (no ``..`` escapes)."""
    candidate = directory / name
    if candidate.is_file() and candidate.resolve().parent == directory.resolve():
        return candidate
    return None


class CachedAssets(StaticFiles):
    """Static files whose names carry a content hash: cache them for a year."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the file, adding a long ``Cache-Control`` to successful answers."""
        if scope["type"] == "http" and not _is_dir(Path(str(self.directory))):
            # Not built (yet): a plain 404 rather than StaticFiles' missing-directory error.
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return

        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = list(message.get("headers", []))
                headers.append((b"cache-control", IMMUTABLE.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_cached)


def _index(directory: Path) -> Response:
    index = directory / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers=NO_CACHE)
    return FileResponse(index, media_type="text/html", headers=NO_CACHE)


def _router(directory: Path) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def console_root() -> Response:
        """The console's page."""
        return _index(directory)

    @router.get("/{path:path}")
    async def console_route(path: str) -> Response:
        """A client-side route (the page) or a top-level file of the build (favicon)."""
        first = path.split("/", 1)[0]
        if first in SERVER_PREFIXES:
            raise HTTPException(404, "Not Found")
        if "/" not in path and "." in path:
            candidate = _top_level_file(directory, path)
            if candidate is None:
                raise HTTPException(404, "Not Found")
            return FileResponse(candidate)
        return _index(directory)

    return router


def mount_console(app: FastAPI, directory: Path = CONSOLE_DIR) -> None:
    """Serve the console from ``directory``; call after every other route is added."""
    assets = directory / "assets"
    # check_dir=False: a build made after start is served without a restart.
    app.mount("/assets", CachedAssets(directory=assets, check_dir=False), name="console-assets")
    app.include_router(_router(directory))
    if not (directory / "index.html").is_file():
        log.warning("web console not built in %s: run `make console`", directory)
