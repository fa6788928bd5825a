"""Access requests: a user asks an owning department for access with a purpose; its admins
approve (once, or twice for export or an unmasked view), reject, or let the request expire.

An approved request becomes one grant per requested scope, to the requester, from the
deciding department, for the requested window. A requester never decides their own request,
and one admin counts once. Pending requests expire after ``pending_ttl_s`` (``expire_overdue``
runs from the node's housekeeping).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sightline.access.actions import (
    AccessConflict,
    Forbidden,
    InvalidAccessChange,
    Principal,
)
from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome, AuditSink
from sightline.access.grants import GrantService, GrantSpec
from sightline.access.model import AccessModel
from sightline.access.notify import Notifier
from sightline.access.policy import approvers
from sightline.store import AlreadyExistsError, Database, NotFoundError
from sightline.store.models.access import GrantAction, RequestState, ScopeKind
from sightline.store.repositories.access import AccessRepository, AccessRequest, Approval

__all__ = ["ApprovalPolicy", "RequestService", "RequestSpec", "Scope"]

log = logging.getLogger(__name__)

_MIN_PURPOSE = 5


@dataclass(frozen=True, slots=True)
class Scope:
    """One thing asked for: a channel, a group, or a region prefix."""

    kind: ScopeKind
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestSpec:
    """What a user asks for."""

    scopes: Sequence[Scope]
    actions: Sequence[GrantAction]
    purpose: str
    not_before: datetime
    not_after: datetime
    masked_only: bool = True
    department_id: int | None = None


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """How many approvals a request needs and how long it may stay pending."""

    sensitive_approvals: int = 2  # export, or an unmasked view
    pending_ttl_s: float = 3 * 86400.0


class RequestService:
    """The request → approval workflow."""

    def __init__(
        self,
        database: Database,
        model: AccessModel,
        grants: GrantService,
        notifier: Notifier,
        *,
        policy: ApprovalPolicy = ApprovalPolicy(),
        audit: AuditSink | None = None,
    ) -> None:
        self._db = database
        self.model = model
        self._grants = grants
        self._notifier = notifier
        self.policy = policy
        self._audit = audit

    def needed(self, spec: RequestSpec) -> int:
        """Approvals a request needs."""
        sensitive = GrantAction.EXPORT in spec.actions or not spec.masked_only
        return max(1, self.policy.sensitive_approvals) if sensitive else 1

    async def _deciding_department(self, spec: RequestSpec) -> int:
        snap = await self.model.current()
        owners = set()
        for scope in spec.scopes:
            if scope.kind is ScopeKind.CHANNEL:
                if scope.id not in snap.places and scope.id not in snap.ownership:
                    raise NotFoundError("channel", scope.id)
                owners.add(snap.owner_of(scope.id).department_id)
        if spec.department_id is not None:
            if spec.department_id not in snap.departments:
                raise NotFoundError("department", spec.department_id)
            if any(spec.department_id not in snap.ancestors.get(o, ()) for o in owners):
                raise InvalidAccessChange(
                    f"department {spec.department_id} does not own every requested channel"
                )
            return spec.department_id
        if len(owners) != 1:
            raise InvalidAccessChange(
                "name department_id: the department to ask (channels of one owner per request)"
            )
        return owners.pop()

    async def create(self, principal: Principal, spec: RequestSpec) -> AccessRequest:
        """File a request; the deciding admins are notified."""
        if len(spec.purpose.strip()) < _MIN_PURPOSE:
            raise InvalidAccessChange("say what the access is for (purpose)")
        if not spec.scopes or not spec.actions:
            raise InvalidAccessChange("ask for at least one scope and one action")
        if spec.not_after <= spec.not_before or spec.not_after <= self.model.now():
            raise InvalidAccessChange("the time window is empty or already over")
        department = await self._deciding_department(spec)
        now = self.model.now()
        async with self._db.session() as session:
            request = await AccessRepository(session).add_request(
                requester_id=principal.user_id,
                department_id=department,
                scopes=[{"kind": s.kind.value, "id": s.id} for s in spec.scopes],
                actions=sorted({a.value for a in spec.actions}),
                masked_only=spec.masked_only,
                purpose=spec.purpose.strip(),
                not_before=spec.not_before,
                not_after=spec.not_after,
                state=RequestState.PENDING,
                approvals_needed=self.needed(spec),
                created_at=now,
                expires_at=now + timedelta(seconds=self.policy.pending_ttl_s),
                decided_at=None,
                reason="",
            )
        self._record(AuditAction.ACCESS_REQUEST, principal, request)
        deciders = approvers(self.model.snapshot, department) - {principal.user_id}
        await self._notifier.notify(
            deciders,
            "request.created",
            f"{principal.username} asks for {', '.join(request.actions)}: {request.purpose}",
            self._data(request),
            request_id=request.id,
        )
        return request

    async def get(self, principal: Principal, request_id: int) -> AccessRequest:
        """A request its requester or one of its deciders may read."""
        async with self._db.session() as session:
            request = await AccessRepository(session).get_request(request_id)
        snap = await self.model.current()
        if request is None:
            raise NotFoundError("access request", request_id)
        if request.requester_id != principal.user_id and principal.user_id not in approvers(
            snap, request.department_id
        ):
            raise NotFoundError("access request", request_id)  # do not reveal it exists
        return request

    async def approvals(self, request_id: int) -> list[Approval]:
        """Decisions recorded on a request."""
        async with self._db.session() as session:
            return await AccessRepository(session).approvals(request_id)

    async def mine(
        self, principal: Principal, state: RequestState | None = None
    ) -> list[AccessRequest]:
        """Requests the principal filed."""
        async with self._db.session() as session:
            return await AccessRepository(session).list_requests(
                requester_id=principal.user_id, state=state, limit=1000
            )

    async def to_decide(
        self, principal: Principal, state: RequestState | None = RequestState.PENDING
    ) -> list[AccessRequest]:
        """Requests addressed to departments the principal may decide for."""
        snap = await self.model.current()
        departments = [d for d in snap.departments if principal.user_id in approvers(snap, d)]
        if not departments:
            return []
        async with self._db.session() as session:
            found = await AccessRepository(session).list_requests(
                department_ids=departments, state=state, limit=1000
            )
        return [r for r in found if r.requester_id != principal.user_id]

    async def decide(
        self, principal: Principal, request_id: int, *, approve: bool, comment: str = ""
    ) -> AccessRequest:
        """Approve or reject; enough approvals turn the request into grants."""
        request = await self._pending(request_id)
        if principal.user_id == request.requester_id:
            raise Forbidden("nobody decides their own request")
        if principal.user_id not in approvers(await self.model.current(), request.department_id):
            raise Forbidden("only an admin of the owning department (or above) decides this")
        now = self.model.now()
        async with self._db.session() as session:
            repo = AccessRepository(session)
            try:
                await repo.add_approval(
                    Approval(
                        request_id=request_id,
                        user_id=principal.user_id,
                        approve=approve,
                        comment=comment,
                        at=now,
                    )
                )
            except AlreadyExistsError:
                raise AccessConflict("you have already decided this request") from None
            decisions = await repo.approvals(request_id)
            state = None
            if not approve:
                state = RequestState.REJECTED
            elif sum(d.approve for d in decisions) >= request.approvals_needed:
                state = RequestState.APPROVED
            if state is not None and not await repo.set_request_state(
                request_id, state, now, comment
            ):
                raise AccessConflict("the request was decided meanwhile")
        self._record(
            AuditAction.ACCESS_DECISION,
            principal,
            request,
            decision={
                "decision": "approve" if approve else "reject",
                "approve": approve,
                "comment": comment,
                "approvals": sum(d.approve for d in decisions),
                "approvals_needed": request.approvals_needed,
                "state": (state or RequestState.PENDING).value,
            },
        )
        if state is RequestState.APPROVED:
            await self._grant(request)
        if state is not None:
            await self._tell_requester(request, state, comment)
        return await self.get_any(request_id)

    async def get_any(self, request_id: int) -> AccessRequest:
        """A request, without visibility checks."""
        async with self._db.session() as session:
            request = await AccessRepository(session).get_request(request_id)
        if request is None:
            raise NotFoundError("access request", request_id)
        return request

    async def _pending(self, request_id: int) -> AccessRequest:
        request = await self.get_any(request_id)
        if request.state is RequestState.PENDING and request.expires_at <= self.model.now():
            await self.expire_overdue()
            raise AccessConflict(f"request {request_id} expired before it was decided")
        if request.state is not RequestState.PENDING:
            raise AccessConflict(f"request {request_id} is {request.state}, no longer pending")
        if request.not_after <= self.model.now():
            raise AccessConflict(f"the time window of request {request_id} is already over")
        return request

    async def _grant(self, request: AccessRequest) -> None:
        for scope in request.scopes:
            await self._grants.create(
                None,
                GrantSpec(
                    grantee_user_id=request.requester_id,
                    scope_kind=ScopeKind(scope["kind"]),
                    scope_id=str(scope["id"]),
                    actions=[GrantAction(a) for a in request.actions],
                    masked_only=request.masked_only,
                    not_before=request.not_before,
                    not_after=request.not_after,
                    grantor_department_id=request.department_id,
                ),
                request_id=request.id,
            )

    async def _tell_requester(self, request: AccessRequest, state: RequestState, why: str) -> None:
        text = f"your access request {request.id} was {state}" + (f": {why}" if why else "")
        await self._notifier.notify(
            [request.requester_id],
            "request.decided",
            text,
            {**self._data(request), "state": state.value},
            request_id=request.id,
        )

    async def withdraw(self, principal: Principal, request_id: int) -> AccessRequest:
        """The requester takes back a pending request."""
        request = await self._pending(request_id)
        if request.requester_id != principal.user_id:
            raise Forbidden("only the requester withdraws a request")
        async with self._db.session() as session:
            if not await AccessRepository(session).set_request_state(
                request_id, RequestState.WITHDRAWN, self.model.now()
            ):
                raise AccessConflict("the request was decided meanwhile")
        return await self.get_any(request_id)

    async def expire_overdue(self) -> int:
        """Expire pending requests past their deadline; how many."""
        now = self.model.now()
        async with self._db.session() as session:
            repo = AccessRepository(session)
            overdue = [
                r
                for r in await repo.pending_overdue(now)
                if await repo.set_request_state(r.id, RequestState.EXPIRED, now, "not decided")
            ]
        for request in overdue:
            self._record_expiry(request)
            await self._tell_requester(request, RequestState.EXPIRED, "not decided in time")
        return len(overdue)

    @staticmethod
    def _data(request: AccessRequest) -> dict[str, str | int | bool | list[str] | None]:
        return {
            "request_id": request.id,
            "requester_id": request.requester_id,
            "department_id": request.department_id,
            "actions": list(request.actions),
            "scopes": [f"{s['kind']}:{s['id']}" for s in request.scopes],
            "masked_only": request.masked_only,
            "state": request.state.value,
        }

    def _record(
        self,
        action: AuditAction,
        principal: Principal,
        request: AccessRequest,
        *,
        decision: dict[str, str | int | bool | None] | None = None,
    ) -> None:
        if self._audit is None:
            return
        first = request.scopes[0] if request.scopes else {}
        self._audit.record(
            AuditEvent(
                action,
                AuditOutcome.OK,
                username=principal.username,
                user_id=principal.user_id,
                channel_id=str(first.get("id")) if first.get("kind") == "channel" else None,
                address=principal.address,
                purpose=request.purpose,
                detail={
                    "request": request.id,
                    "actions": ",".join(request.actions),
                    "scopes": ",".join(f"{s['kind']}:{s['id']}" for s in request.scopes),
                    **(decision or {}),
                },
            )
        )

    def _record_expiry(self, request: AccessRequest) -> None:
        """Audit a pending request that expired undecided (no acting user: the asked dept)."""
        if self._audit is None:
            return
        first = request.scopes[0] if request.scopes else {}
        asked = self.model.snapshot.departments.get(request.department_id)
        self._audit.record(
            AuditEvent(
                AuditAction.REQUEST_EXPIRE,
                AuditOutcome.OK,
                department=asked.name if asked is not None else None,
                channel_id=str(first.get("id")) if first.get("kind") == "channel" else None,
                purpose=request.purpose,
                detail={
                    "request": request.id,
                    "requester": request.requester_id,
                    "department": request.department_id,
                    "actions": ",".join(request.actions),
                    "scopes": ",".join(f"{s['kind']}:{s['id']}" for s in request.scopes),
                    "expires_at": request.expires_at.isoformat(),
                },
            )
        )
