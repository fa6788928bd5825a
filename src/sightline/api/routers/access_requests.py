"""``/api/v1/access-requests``: ask for access with a purpose; admins approve or reject.

Any logged-in user may file a request; ``?box=mine`` lists your own, ``?box=to_decide`` the
ones addressed to departments you decide for. Export and unmasked-view requests need two
approvals by default (``access.sensitive_approvals``); the last approval creates the grants.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from sightline.access.approvals import RequestSpec, Scope
from sightline.access.service import Action, Resource
from sightline.api.deps import CurrentUser, access_errors, authorize, get_access, require_json
from sightline.api.schemas.access import AccessRequestIn, AccessRequestOut, DecisionIn
from sightline.api.schemas.common import ErrorOut
from sightline.store.models.access import RequestState
from sightline.store.repositories.access import AccessRequest

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/access-requests",
    tags=["access"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
_ERRORS: dict[int | str, dict[str, object]] = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}}
RequestId = Annotated[int, Path(ge=1, description="access request ID")]


async def _out(request: Request, found: AccessRequest) -> AccessRequestOut:
    approvals = await get_access(request).requests.approvals(found.id)
    return AccessRequestOut.of(found, approvals)


@router.post("", status_code=201, dependencies=[Depends(require_json)], responses=_ERRORS)
async def create_request(
    body: AccessRequestIn, principal: CurrentUser, request: Request
) -> AccessRequestOut:
    """Ask for actions on channels (one owner), a group or a region, saying why."""
    await authorize(request, principal, Action.READ, Resource.channel())
    spec = RequestSpec(
        scopes=[Scope(s.kind, s.id) for s in body.scopes],
        actions=body.actions,
        purpose=body.purpose,
        not_before=body.not_before,
        not_after=body.not_after,
        masked_only=body.masked_only,
        department_id=body.department_id,
    )
    with access_errors(request, principal):
        created = await get_access(request).requests.create(principal, spec)
    return await _out(request, created)


@router.get("")
async def list_requests(
    principal: CurrentUser,
    request: Request,
    box: Annotated[
        Literal["mine", "to_decide"], Query(description="your own, or those you decide")
    ] = "mine",
    state: Annotated[RequestState | None, Query(description="only this state")] = None,
) -> list[AccessRequestOut]:
    """Your requests, or the requests waiting for your decision (pending by default)."""
    await authorize(request, principal, Action.READ, Resource.channel())
    requests = get_access(request).requests
    if box == "mine":
        found = await requests.mine(principal, state)
    else:
        found = await requests.to_decide(principal, state or RequestState.PENDING)
    return [await _out(request, r) for r in found]


@router.get("/{request_id}", responses=_ERRORS)
async def get_request(
    request_id: RequestId, principal: CurrentUser, request: Request
) -> AccessRequestOut:
    """One request (its requester and its deciders see it)."""
    await authorize(request, principal, Action.READ, Resource.channel())
    with access_errors(request, principal):
        found = await get_access(request).requests.get(principal, request_id)
    return await _out(request, found)


async def _decide(
    request: Request, principal: CurrentUser, request_id: int, approve: bool, comment: str
) -> AccessRequestOut:
    requests = get_access(request).requests
    with access_errors(request, principal):
        pending = await requests.get(principal, request_id)
    await authorize(request, principal, Action.APPROVE, Resource.department(pending.department_id))
    with access_errors(request, principal):
        decided = await requests.decide(principal, request_id, approve=approve, comment=comment)
    return await _out(request, decided)


@router.post("/{request_id}/approve", dependencies=[Depends(require_json)], responses=_ERRORS)
async def approve(
    request_id: RequestId, body: DecisionIn, principal: CurrentUser, request: Request
) -> AccessRequestOut:
    """Approve; with enough approvals the request becomes grants."""
    return await _decide(request, principal, request_id, True, body.comment)


@router.post("/{request_id}/reject", dependencies=[Depends(require_json)], responses=_ERRORS)
async def reject(
    request_id: RequestId, body: DecisionIn, principal: CurrentUser, request: Request
) -> AccessRequestOut:
    """Reject (one rejection ends the request)."""
    return await _decide(request, principal, request_id, False, body.comment)


@router.post("/{request_id}/withdraw", responses=_ERRORS)
async def withdraw(
    request_id: RequestId, principal: CurrentUser, request: Request
) -> AccessRequestOut:
    """Take back your own pending request."""
    await authorize(request, principal, Action.READ, Resource.channel())
    with access_errors(request, principal):
        found = await get_access(request).requests.withdraw(principal, request_id)
    return await _out(request, found)
