"""What every router depends on: the services, the bearer login, and error translation.

Routers get services from ``request.app.state`` (set by ``create_app``), authenticate with
:func:`current_principal` and ask :func:`authorize` before acting. Device errors become the HTTP
statuses of the product brief through :func:`device_errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Protocol, cast

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sightline.access.audit_events import AuditEvent, AuditSink
from sightline.access.service import Action, AuthService, Forbidden, Principal, Resource
from sightline.access.tokens import TokenError
from sightline.directory import DirectoryService
from sightline.gb28181.errors import (
    DeviceOfflineError,
    DeviceRejectedError,
    DeviceTimeoutError,
    UnknownDeviceError,
)
from sightline.gb28181.ptz import PtzCommand

__all__ = [
    "CurrentUser",
    "DeviceControl",
    "authorize",
    "client_address",
    "current_principal",
    "device_errors",
    "get_auth",
    "get_devices",
    "get_directory",
    "record_audit",
    "require_json",
]

log = logging.getLogger(__name__)


class DeviceControl(Protocol):
    """The part of ``sightline.gb28181.devices.DeviceManager`` the API drives."""

    def is_online(self, device_id: str) -> bool:
        """Whether the device is registered and alive."""
        ...

    async def ptz(self, device_id: str, channel_id: str, command: PtzCommand) -> None:
        """Send a PTZCmd to a channel of the device."""
        ...

    async def refresh_catalog(self, device_id: str) -> int:
        """Query the catalog again and store it; the channel count."""
        ...


def get_auth(request: Request) -> AuthService:
    """The node's ``AuthService``."""
    return cast(AuthService, request.app.state.auth)


def get_directory(request: Request) -> DirectoryService:
    """The node's ``DirectoryService``."""
    return cast(DirectoryService, request.app.state.directory)


def get_devices(request: Request) -> DeviceControl:
    """The node's device manager."""
    return cast(DeviceControl, request.app.state.devices)


def client_address(request: Request) -> str | None:
    """The peer address of the HTTP connection (proxies are not trusted for it)."""
    return request.client.host if request.client is not None else None


_bearer = HTTPBearer(auto_error=False, description="the access_token from POST /api/v1/auth/login")


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The logged-in user of this request; 401 without a valid bearer token."""
    if credentials is None:
        raise _unauthorized("not logged in: send Authorization: Bearer <token>")
    try:
        return await get_auth(request).authenticate(
            credentials.credentials, client_address(request)
        )
    except TokenError as exc:
        raise _unauthorized(str(exc), "invalid_token") from None


CurrentUser = Annotated[Principal, Depends(current_principal)]


async def authorize(
    request: Request, principal: Principal, action: Action, resource: Resource
) -> None:
    """403 unless the principal may do ``action`` on ``resource``."""
    try:
        await get_auth(request).authorize(principal, action, resource)
    except Forbidden as exc:
        log.info("denied %s %s %s to %r", action, resource.kind, resource.id, principal.username)
        raise HTTPException(403, str(exc)) from None


def record_audit(request: Request, event: AuditEvent) -> None:
    """Hand ``event`` to the node's audit log (a test app built without one records nothing)."""
    sink = cast(AuditSink | None, getattr(request.app.state, "audit", None))
    if sink is not None:
        sink.record(event)


def require_json(request: Request) -> None:
    """415 unless the body is declared as JSON."""
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if mime != "application/json" and not mime.endswith("+json"):
        raise HTTPException(415, "send the body as Content-Type: application/json")


@contextmanager
def device_errors(device_id: str) -> Iterator[None]:
    """Turn device errors into 404/502/503/504 answers naming the device."""
    try:
        yield
    except UnknownDeviceError:
        raise HTTPException(404, f"device {device_id} is not known") from None
    except DeviceOfflineError:
        raise HTTPException(503, f"device {device_id} is offline") from None
    except DeviceTimeoutError:
        raise HTTPException(504, f"device {device_id} did not answer in time") from None
    except DeviceRejectedError as exc:
        raise HTTPException(502, f"device {device_id} answered with an error: {exc}") from None
