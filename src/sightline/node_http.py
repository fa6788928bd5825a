"""The node's HTTP side: the API app served by uvicorn inside the node's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from sightline.config import Settings
from sightline.errors import ConfigError

__all__ = ["WS_MAX_MESSAGE", "EmbeddedHttp"]

WS_MAX_MESSAGE = 64 * 1024  # bytes a WebSocket client may send in one message


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns SIGINT/SIGTERM (and the main
    process a media worker's life)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedHttp:
    """An ASGI app served by uvicorn inside the running event loop: the node's API (see
    ``for_settings``) or a media worker's media routes."""

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str,
        port: int,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        ws_max_message: int = WS_MAX_MESSAGE,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ConfigError("HTTPS needs both http.tls_cert and http.tls_key")
        self._where = f"{host}:{port}"
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            lifespan="off",
            access_log=False,
            # Video fragments do not compress: permessage-deflate (which browsers offer) would
            # spend ~30 us of zlib per fragment per viewer for nothing, and keep a compressor
            # per connection. Clients only ever send control frames: no 16 MiB messages either.
            ws_per_message_deflate=False,
            ws_max_size=ws_max_message,
            ssl_certfile=tls_cert,
            ssl_keyfile=tls_key,
        )
        self.https = tls_cert is not None
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_settings(cls, settings: Settings, app: FastAPI) -> EmbeddedHttp:
        """The API app on ``http.host``:``http.port`` (HTTPS with ``http.tls_cert`` and key)."""
        http = settings.http
        return cls(
            app,
            host=http.host,
            port=http.port,
            tls_cert=None if http.tls_cert is None else str(http.tls_cert),
            tls_key=None if http.tls_key is None else str(http.tls_key),
        )

    async def start(self) -> tuple[str, int]:
        """Serve; the address bound (OSError when uvicorn could not start)."""
        self._task = asyncio.ensure_future(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"HTTP server failed to start on {self._where}")
            await asyncio.sleep(0.01)
        sock = self._server.servers[0].sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def stop(self) -> None:
        """Stop serving; what uvicorn raises on the way out is of no use any more."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
