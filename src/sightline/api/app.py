"""The FastAPI application: health, metrics, and (from later issues) the REST API and web UI."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["ApiContext", "create_app"]


@dataclass(frozen=True)
class ApiContext:
    """What the HTTP layer needs from the rest of the node."""

    registry: CollectorRegistry


def create_app(ctx: ApiContext) -> FastAPI:
    """Build the application for one node."""
    app = FastAPI(
        title="sightline",
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )

    @app.get("/healthz", tags=["system"])
    async def healthz() -> dict[str, str]:
        """Liveness: answers without login."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["system"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)

    return app
