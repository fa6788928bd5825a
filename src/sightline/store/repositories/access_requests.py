"""Access requests, their approvals and in-app notifications (the request workflow's rows).

:class:`RequestRecords` is mixed into :class:`~sightline.store.repositories.access.
AccessRepository`, so callers keep one repository for the access tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.errors import AlreadyExistsError
from sightline.store.models import AccessRequestRow, ApprovalRow, NotificationRow
from sightline.store.models.access import RequestState
from sightline.store.repositories._sql import affected, fetch_all, fetch_one, table

__all__ = ["AccessRequest", "Approval", "Notification", "RequestRecords"]

REQUESTS = table(AccessRequestRow)
APPROVALS = table(ApprovalRow)
NOTIFICATIONS = table(NotificationRow)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRequest:
    """A user's request for access, decided by admins of ``department_id``."""

    id: int
    requester_id: int
    department_id: int
    scopes: Sequence[Any]
    actions: Sequence[str]
    masked_only: bool
    purpose: str
    not_before: datetime
    not_after: datetime
    state: RequestState
    approvals_needed: int
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """One admin's decision on a request."""

    request_id: int
    user_id: int
    approve: bool
    comment: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """An in-app message for one user."""

    id: int
    user_id: int
    kind: str
    text: str
    created_at: datetime
    request_id: int | None = None
    grant_id: str | None = None
    read_at: datetime | None = None


class RequestRecords:
    """Requests, approvals and notifications (a mixin of ``AccessRepository``)."""

    _session: AsyncSession

    # -- requests ------------------------------------------------------------------------

    async def add_request(self, **values: Any) -> AccessRequest:
        """Store a new pending request."""
        stmt = insert(REQUESTS).values(**values).returning(REQUESTS.c.id)
        new_id = (await self._session.execute(stmt)).scalar_one()
        request = await self.get_request(new_id)
        assert request is not None
        return request

    async def get_request(self, request_id: int) -> AccessRequest | None:
        """One request."""
        stmt = select(REQUESTS).where(REQUESTS.c.id == request_id)
        return await fetch_one(self._session, stmt, AccessRequest)

    async def list_requests(
        self,
        *,
        requester_id: int | None = None,
        department_ids: Iterable[int] | None = None,
        state: RequestState | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AccessRequest]:
        """Requests filtered by requester, deciding departments and state, newest first."""
        stmt = select(REQUESTS).order_by(REQUESTS.c.id.desc())
        if requester_id is not None:
            stmt = stmt.where(REQUESTS.c.requester_id == requester_id)
        if department_ids is not None:
            stmt = stmt.where(REQUESTS.c.department_id.in_(list(department_ids)))
        if state is not None:
            stmt = stmt.where(REQUESTS.c.state == state)
        return await fetch_all(self._session, stmt.limit(limit).offset(offset), AccessRequest)

    async def set_request_state(
        self, request_id: int, state: RequestState, now: datetime, reason: str = ""
    ) -> bool:
        """Move a pending request to ``state``; False if it was no longer pending."""
        stmt = (
            update(REQUESTS)
            .where(REQUESTS.c.id == request_id, REQUESTS.c.state == RequestState.PENDING)
            .values(state=state, decided_at=now, reason=reason)
        )
        return await affected(self._session, stmt) == 1

    async def pending_overdue(self, now: datetime) -> list[AccessRequest]:
        """Pending requests past their decision deadline."""
        stmt = select(REQUESTS).where(
            REQUESTS.c.state == RequestState.PENDING, REQUESTS.c.expires_at <= now
        )
        return await fetch_all(self._session, stmt, AccessRequest)

    async def add_approval(self, approval: Approval) -> None:
        """Record one admin's decision; ``AlreadyExistsError`` if they decided already."""
        values = {
            "request_id": approval.request_id,
            "user_id": approval.user_id,
            "approve": approval.approve,
            "comment": approval.comment,
            "at": approval.at,
        }
        try:
            async with self._session.begin_nested():
                await self._session.execute(insert(APPROVALS).values(**values))
        except IntegrityError as exc:
            raise AlreadyExistsError(
                "approval", f"{approval.request_id}/{approval.user_id}"
            ) from exc

    async def approvals(self, request_id: int) -> list[Approval]:
        """The decisions on a request, oldest first."""
        stmt = select(APPROVALS).where(APPROVALS.c.request_id == request_id)
        return await fetch_all(self._session, stmt.order_by(APPROVALS.c.at), Approval)

    # -- notifications ---------------------------------------------------------------------

    async def notify(
        self,
        user_ids: Iterable[int],
        kind: str,
        text: str,
        now: datetime,
        *,
        request_id: int | None = None,
        grant_id: str | None = None,
    ) -> None:
        """Add one in-app notification per user."""
        rows = [
            {
                "user_id": user_id,
                "kind": kind,
                "text": text,
                "request_id": request_id,
                "grant_id": grant_id,
                "created_at": now,
                "read_at": None,
            }
            for user_id in sorted(set(user_ids))
        ]
        if rows:
            await self._session.execute(insert(NOTIFICATIONS), rows)

    async def notifications(
        self, user_id: int, *, unread_only: bool = False, limit: int = 100
    ) -> list[Notification]:
        """A user's notifications, newest first."""
        stmt = select(NOTIFICATIONS).where(NOTIFICATIONS.c.user_id == user_id)
        if unread_only:
            stmt = stmt.where(NOTIFICATIONS.c.read_at.is_(None))
        stmt = stmt.order_by(NOTIFICATIONS.c.id.desc()).limit(limit)
        return await fetch_all(self._session, stmt, Notification)

    async def mark_read(self, user_id: int, notification_ids: Iterable[int], now: datetime) -> int:
        """Mark the user's notifications read; how many changed."""
        ids = list(notification_ids)
        stmt = (
            update(NOTIFICATIONS)
            .where(
                NOTIFICATIONS.c.user_id == user_id,
                NOTIFICATIONS.c.id.in_(ids),
                NOTIFICATIONS.c.read_at.is_(None),
            )
            .values(read_at=now)
        )
        return await affected(self._session, stmt)
