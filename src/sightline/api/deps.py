"""What every router depends on: the services, the bearer login, and error translation.

Routers get services from ``request.app.state`` (set by ``create_app``), authenticate with
:func:`current_principal` and ask :func:`authorize` before acting. Device errors become the HTTP
statuses of the product brief through :func:`device_errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Protocol, TypeVar, cast

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from sightline.access.actions import AccessConflict, InvalidAccessChange
from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome, AuditSink
from sightline.access.service import (
    Action,
    AuthService,
    Forbidden,
    Principal,
    Resource,
    ResourceKind,
)
from sightline.access.services import AccessServices
from sightline.access.tokens import TokenError
from sightline.directory import DirectoryService
from sightline.directory.service import Page
from sightline.gb28181.errors import (
    DeviceOfflineError,
    DeviceRejectedError,
    DeviceTimeoutError,
    UnknownDeviceError,
)
from sightline.gb28181.ptz import PtzCommand
from sightline.store import AlreadyExistsError, NotFoundError

__all__ = [
    "CurrentUser",
    "DeviceControl",
    "access_errors",
    "authorize",
    "channel_filter",
    "client_address",
    "current_principal",
    "department_of",
    "device_errors",
    "device_filter",
    "get_access",
    "get_auth",
    "get_devices",
    "get_directory",
    "record_audit",
    "require_json",
    "visible_page",
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
        if get_auth(request).audit is None:  # an AuthService with the sink records it itself
            record_audit(request, _denial(request, principal, action, resource))
        raise HTTPException(403, str(exc)) from None


def _denial(
    request: Request, principal: Principal, action: Action, resource: Resource
) -> AuditEvent:
    """The audit record of one refused ``authorize``."""
    return AuditEvent(
        AuditAction.PERMISSION_DENIED,
        AuditOutcome.DENIED,
        username=principal.username,
        user_id=principal.user_id,
        department=department_of(request, principal.user_id),
        channel_id=resource.id if resource.kind is ResourceKind.CHANNEL else None,
        address=client_address(request),
        detail={"action": str(action), "resource": str(resource.kind), "id": resource.id},
    )


def department_of(conn: HTTPConnection, user_id: int | None) -> str | None:
    """The name of the user's department, for audit records (``None`` when unknown)."""
    auth = cast(AuthService | None, getattr(conn.app.state, "auth", None))
    if auth is None or user_id is None:
        return None
    snapshot = auth.access.snapshot
    member = snapshot.members.get(user_id)
    if member is None or member.department_id is None:
        return None
    department = snapshot.departments.get(member.department_id)
    return department.name if department is not None else None


def record_audit(request: HTTPConnection, event: AuditEvent) -> None:
    """Hand ``event`` to the node's audit log (a test app built without one records nothing)."""
    sink = cast(AuditSink | None, getattr(request.app.state, "audit", None))
    if sink is not None:
        sink.record(event)


_SCAN = 1000
T = TypeVar("T")


async def visible_page(
    fetch: Callable[[int, int], Awaitable[Page[T]]],
    keep: Callable[[T], bool] | None,
    limit: int,
    offset: int,
) -> Page[T]:
    """One page of a list, keeping only what ``keep`` accepts (None: everything, one query).

    Filtering reads the whole list in pages of 1,000; a restricted user's list is small.
    """
    if keep is None:
        return await fetch(limit, offset)
    kept: list[T] = []
    start = 0
    while True:
        page = await fetch(_SCAN, start)
        kept.extend(item for item in page.items if keep(item))
        start += len(page.items)
        if not page.items or start >= page.total:
            break
    return Page(tuple(kept[offset : offset + limit]), len(kept), limit, offset)


async def channel_filter(request: Request, principal: Principal) -> Callable[[str], bool] | None:
    """Whether a channel ID is visible to the principal (None: every channel is)."""
    model = get_auth(request).access
    visible = await model.visible_channels(principal.user_id)
    if visible is None:
        return None
    snap = model.snapshot

    def keep(channel_id: str) -> bool:
        if channel_id in visible:
            return True
        # catalogued after the snapshot was loaded: decided as the root department's
        known = channel_id in snap.places or channel_id in snap.ownership
        resource = Resource.channel(channel_id)
        return not known and model.decide_now(principal.user_id, Action.READ, resource).allowed

    return keep


async def device_filter(request: Request, principal: Principal) -> Callable[[str], bool] | None:
    """Whether a device ID is visible to the principal (None: every device is)."""
    model = get_auth(request).access
    if await model.visible_channels(principal.user_id) is None:
        return None

    def keep(device_id: str) -> bool:
        resource = Resource.device(device_id)
        return model.decide_now(principal.user_id, Action.READ, resource).allowed

    return keep


def get_access(request: Request) -> AccessServices:
    """The node's access administration, grants, requests and notifications."""
    return cast(AccessServices, request.app.state.access)


@contextmanager
def access_errors(request: Request, principal: Principal) -> Iterator[None]:
    """Turn access-administration errors into 403/404/409/422 answers; a 403 is audited.

    The services refuse what only the whole change shows (a role beyond one's own rights, a
    grant outside one's departments, deciding one's own request): permission denials too.
    """
    try:
        yield
    except Forbidden as exc:
        log.info(
            "denied %s %s to %r: %s", request.method, request.url.path, principal.username, exc
        )
        event = AuditEvent(
            AuditAction.PERMISSION_DENIED,
            AuditOutcome.DENIED,
            username=principal.username,
            user_id=principal.user_id,
            department=department_of(request, principal.user_id),
            address=client_address(request),
            detail={"request": f"{request.method} {request.url.path}", "reason": str(exc)},
        )
        record_audit(request, event)
        raise HTTPException(403, str(exc)) from None
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except (AlreadyExistsError, AccessConflict) as exc:
        raise HTTPException(409, str(exc)) from None
    except InvalidAccessChange as exc:
        raise HTTPException(422, str(exc)) from None


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
