"""Grants: created by department admins (or by an approved request), revoked, listed.

A grant's grantor department is the one giving access: it only ever covers channels that
department (or one below it) owns, whatever its scope says. Revoking a grant reloads the
access snapshot and revokes every stream token issued under it, so running views stop at
their next re-check (``sightline.api.routers.media``, every two seconds). A grant that ran
out leaves one ``grant.expire`` audit record (``record_expired``, from node housekeeping).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sightline.access.actions import Action, Forbidden, InvalidAccessChange, Principal, Resource
from sightline.access.admin import check_region_prefix
from sightline.access.audit_events import AuditAction, AuditEvent, AuditSink
from sightline.access.model import AccessModel
from sightline.access.notify import Notifier
from sightline.access.policy import (
    administered,
    decide,
    grant_scope_problem,
    is_system_admin,
    region_prefix_of,
)
from sightline.access.stream_tokens import StreamTokens
from sightline.store import Database, NotFoundError
from sightline.store.models.access import ROOT_DEPARTMENT_ID, GrantAction, ScopeKind
from sightline.store.repositories.access import AccessRepository, Grant

__all__ = ["GrantService", "GrantSpec"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantSpec:
    """What a new grant gives, to whom, on what, for how long."""

    grantee_department_id: int | None = None
    grantee_user_id: int | None = None
    include_subdepartments: bool = False
    scope_kind: ScopeKind
    scope_id: str
    actions: Sequence[GrantAction]
    masked_only: bool = False
    not_before: datetime
    not_after: datetime
    grantor_department_id: int | None = None


class GrantService:
    """Creates, revokes and lists grants."""

    def __init__(
        self,
        database: Database,
        model: AccessModel,
        notifier: Notifier,
        *,
        stream_tokens: StreamTokens | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self._db = database
        self.model = model
        self._notifier = notifier
        self._stream_tokens = stream_tokens
        self._audit = audit

    def _check_spec(self, spec: GrantSpec) -> None:
        if (spec.grantee_department_id is None) == (spec.grantee_user_id is None):
            raise InvalidAccessChange("give exactly one of grantee_department_id, grantee_user_id")
        if not spec.actions:
            raise InvalidAccessChange("a grant names at least one action")
        if spec.not_after <= spec.not_before:
            raise InvalidAccessChange("not_after must come after not_before")
        if spec.not_after <= self.model.now():
            raise InvalidAccessChange("the grant would already have expired")
        if spec.include_subdepartments and spec.grantee_department_id is None:
            raise InvalidAccessChange("include_subdepartments needs a department grantee")

    async def _check_grantor(self, principal: Principal | None, spec: GrantSpec) -> int:
        """The grantor department, after checking the principal may give this away."""
        snap = await self.model.current()
        if spec.grantee_department_id is not None:
            if spec.grantee_department_id not in snap.departments:
                raise NotFoundError("department", spec.grantee_department_id)
        elif spec.grantee_user_id not in snap.members:
            raise NotFoundError("user", spec.grantee_user_id)
        member = snap.members.get(principal.user_id) if principal is not None else None
        grantor = spec.grantor_department_id
        if grantor is None:
            grantor = ROOT_DEPARTMENT_ID if is_system_admin(member) else None
            grantor = grantor or (member.department_id if member is not None else None)
        if grantor is None or grantor not in snap.departments:
            raise InvalidAccessChange("the grantor department is not known")
        if principal is not None:
            mine = administered(snap, member)
            if mine is not None and grantor not in mine:
                raise Forbidden(f"department {grantor} is not one you administer")
            if spec.scope_kind is ScopeKind.CHANNEL:
                target = Resource.channel(spec.scope_id)
                now = self.model.now()
                if not decide(snap, principal.user_id, Action.MANAGE, target, now).allowed:
                    raise Forbidden(f"channel {spec.scope_id} is not one you administer")
            problem = grant_scope_problem(snap, member, grantor, spec.scope_kind, spec.scope_id)
            if problem is not None:
                raise Forbidden(problem)
        if spec.scope_kind is ScopeKind.REGION:
            check_region_prefix(spec.scope_id, region_prefix_of(snap, grantor))
        return grantor

    async def create(
        self, principal: Principal | None, spec: GrantSpec, *, request_id: int | None = None
    ) -> Grant:
        """Store a grant (``principal`` None: an approved request is creating it)."""
        self._check_spec(spec)
        grantor = await self._check_grantor(principal, spec)
        grant = Grant(
            id=secrets.token_hex(16),
            grantee_department_id=spec.grantee_department_id,
            grantee_user_id=spec.grantee_user_id,
            include_subdepartments=spec.include_subdepartments,
            grantor_department_id=grantor,
            scope_kind=spec.scope_kind,
            scope_id=spec.scope_id,
            actions=sorted({a.value for a in spec.actions}),
            masked_only=spec.masked_only,
            not_before=spec.not_before,
            not_after=spec.not_after,
            created_by=principal.user_id if principal is not None else None,
            created_at=self.model.now(),
            request_id=request_id,
        )
        async with self._db.session() as session:
            await AccessRepository(session).add_grant(grant)
        await self.model.refresh()
        self._record(AuditAction.GRANT_CREATE, principal, grant)
        await self._notifier.notify(
            self._holders(grant),
            "grant.created",
            f"you were granted {', '.join(grant.actions)} on {grant.scope_kind} "
            f"{grant.scope_id} until {grant.not_after.isoformat()}",
            self._data(grant),
            grant_id=grant.id,
        )
        log.info("grant %s on %s %s created", grant.id, grant.scope_kind, grant.scope_id)
        return grant

    def _holders(self, grant: Grant) -> set[int]:
        snap = self.model.snapshot
        if grant.grantee_user_id is not None:
            return {grant.grantee_user_id}
        departments = (
            snap.subtree(grant.grantee_department_id or 0)
            if grant.include_subdepartments
            else {grant.grantee_department_id}
        )
        return {m.user_id for m in snap.members.values() if m.department_id in departments}

    @staticmethod
    def _data(grant: Grant) -> dict[str, str | int | bool | list[str] | None]:
        return {
            "grant_id": grant.id,
            "scope_kind": grant.scope_kind.value,
            "scope_id": grant.scope_id,
            "actions": list(grant.actions),
            "masked_only": grant.masked_only,
            "grantee_user_id": grant.grantee_user_id,
            "grantee_department_id": grant.grantee_department_id,
            "not_after": grant.not_after.isoformat(),
        }

    def _record(self, action: AuditAction, principal: Principal | None, grant: Grant) -> None:
        if self._audit is None:
            return
        grantor = self.model.snapshot.departments.get(grant.grantor_department_id)
        self._audit.record(
            AuditEvent(
                action,
                username=principal.username if principal is not None else None,
                user_id=principal.user_id if principal is not None else None,
                # no acting user (an expiry, an approved request): the giving department
                department=grantor.name if principal is None and grantor is not None else None,
                channel_id=grant.scope_id if grant.scope_kind is ScopeKind.CHANNEL else None,
                address=principal.address if principal is not None else None,
                detail={
                    "grant": grant.id,
                    "scope": f"{grant.scope_kind}:{grant.scope_id}",
                    "actions": ",".join(grant.actions),
                    "grantee_user": grant.grantee_user_id,
                    "grantee_department": grant.grantee_department_id,
                    "masked_only": grant.masked_only,
                    "grantor_department": grant.grantor_department_id,
                    "not_after": grant.not_after.isoformat(),
                },
            )
        )

    async def revoke(self, principal: Principal, grant_id: str) -> Grant:
        """Revoke a grant and every stream opened under it."""
        snap = await self.model.current()
        grant = snap.grants.get(grant_id)
        if grant is None:
            raise NotFoundError("grant", grant_id)
        mine = administered(snap, snap.members.get(principal.user_id))
        if mine is not None and grant.grantor_department_id not in mine:
            raise Forbidden("only an admin of the granting department revokes a grant")
        async with self._db.session() as session:
            await AccessRepository(session).revoke_grant(
                grant_id, principal.user_id, self.model.now()
            )
        if self._stream_tokens is not None:
            self._stream_tokens.revocations.revoke_grant(grant_id)
        await self.model.refresh()
        self._record(AuditAction.GRANT_REVOKE, principal, grant)
        await self._notifier.notify(
            self._holders(grant),
            "grant.revoked",
            f"your grant on {grant.scope_kind} {grant.scope_id} was revoked",
            self._data(grant),
            grant_id=grant.id,
        )
        return grant

    async def visible(self, principal: Principal, *, include_revoked: bool = False) -> list[Grant]:
        """Grants the principal may see: those they administer or hold."""
        snap = await self.model.current()
        member = snap.members.get(principal.user_id)
        mine = administered(snap, member)
        async with self._db.session() as session:
            grants = await AccessRepository(session).list_grants(
                include_revoked=include_revoked, limit=10_000
            )
        if mine is None:
            return grants
        dept = member.department_id if member is not None else None
        above = snap.ancestors.get(dept or 0, frozenset())
        return [
            g
            for g in grants
            if g.grantor_department_id in mine
            or g.grantee_user_id == principal.user_id
            or g.grantee_department_id == dept
            or (g.include_subdepartments and g.grantee_department_id in above)
        ]

    async def warn_expiring(self, within_s: float) -> int:
        """Notify holders of grants ending within ``within_s``; how many grants."""
        now = self.model.now()
        async with self._db.session() as session:
            repo = AccessRepository(session)
            expiring = await repo.grants_expiring(now + timedelta(seconds=within_s), now)
            for grant in expiring:
                await repo.mark_expiry_notified(grant.id)
        for grant in expiring:
            await self._notifier.notify(
                self._holders(grant),
                "grant.expiring",
                f"your grant on {grant.scope_kind} {grant.scope_id} ends at "
                f"{grant.not_after.isoformat()}",
                self._data(grant),
                grant_id=grant.id,
            )
        return len(expiring)

    async def record_expired(self) -> int:
        """Audit (once) every grant whose ``not_after`` has passed; how many were recorded.

        The ``expiry_recorded`` flag is claimed in the database before the record is queued,
        so a restarted node, or a second node on the same database, never records one twice.
        """
        now = self.model.now()
        claimed: list[Grant] = []
        async with self._db.session() as session:
            repo = AccessRepository(session)
            for grant in await repo.grants_expired_unrecorded(now):
                if await repo.mark_expiry_recorded(grant.id):
                    claimed.append(grant)
        if claimed:
            await self.model.current()
        for grant in claimed:
            self._record(AuditAction.GRANT_EXPIRE, None, grant)
            log.info("grant %s on %s %s expired", grant.id, grant.scope_kind, grant.scope_id)
        return len(claimed)
