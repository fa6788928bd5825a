"""``/api/v1/auth``: login, logout, and who am I."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.service import LoginFailed, LoginLocked
from sightline.api.deps import (
    CurrentUser,
    client_address,
    department_of,
    get_auth,
    record_audit,
    require_json,
)
from sightline.api.schemas.auth import LoginIn, MeOut, TokenOut
from sightline.api.schemas.common import ErrorOut

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


@router.post(
    "/login",
    dependencies=[Depends(require_json)],
    responses={401: {"model": ErrorOut}, 415: {"model": ErrorOut}, 429: {"model": ErrorOut}},
)
async def login(body: LoginIn, request: Request) -> TokenOut:
    """Exchange a username and password for a bearer token."""
    address = client_address(request)
    try:
        token, claims = await get_auth(request).login(body.username, body.password, address)
    except LoginLocked as exc:
        _audit_login(request, body.username, None, AuditOutcome.DENIED, "locked")
        retry = str(int(exc.retry_after_s) + 1)
        raise HTTPException(429, str(exc), headers={"Retry-After": retry}) from None
    except LoginFailed as exc:
        _audit_login(request, body.username, None, AuditOutcome.FAILED, "bad credentials")
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    _audit_login(request, claims.username, claims.user_id, AuditOutcome.OK, None)
    expires_at = _time(claims.expires_at)
    assert expires_at is not None
    return TokenOut(access_token=token, expires_at=expires_at)


def _audit_login(
    request: Request,
    username: str,
    user_id: int | None,
    outcome: AuditOutcome,
    reason: str | None,
) -> None:
    """A login attempt for the audit trail: who, from where, how it ended; never the password."""
    event = AuditEvent(
        AuditAction.LOGIN,
        outcome,
        username=username,
        user_id=user_id,
        department=department_of(request, user_id),
        address=client_address(request),
        detail={} if reason is None else {"reason": reason},
    )
    record_audit(request, event)


@router.post("/logout", status_code=204, responses={401: {"model": ErrorOut}})
async def logout(principal: CurrentUser, request: Request) -> Response:
    """Revoke the token this request was sent with."""
    if principal.claims is not None:
        get_auth(request).logout(principal.claims)
    event = AuditEvent(
        AuditAction.LOGOUT,
        username=principal.username,
        user_id=principal.user_id,
        department=department_of(request, principal.user_id),
        address=client_address(request),
    )
    record_audit(request, event)
    return Response(status_code=204)


@router.get("/me", responses={401: {"model": ErrorOut}})
async def me(principal: CurrentUser) -> MeOut:
    """The user the token belongs to."""
    expires = principal.claims.expires_at if principal.claims is not None else None
    return MeOut(
        user_id=principal.user_id,
        username=principal.username,
        is_admin=principal.is_admin,
        expires_at=_time(expires),
    )
