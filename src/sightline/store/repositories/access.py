"""The access model: departments, members and roles, channel ownership, grants, requests.

Records are the frozen dataclasses below (the access model is the only user of them); the
request workflow's (requests, approvals, notifications) live in ``access_requests``.
``AccessRepository.load_*`` read whole tables for the in-memory policy snapshot of
``sightline.access``; the other methods are the administration writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.errors import AlreadyExistsError, NotFoundError
from sightline.store.models import (
    ChannelOwnershipRow,
    ChannelRow,
    DepartmentRow,
    GrantRow,
    GroupRow,
    MembershipRow,
    UserRoleRow,
    UserRow,
)
from sightline.store.models.access import (
    Classification,
    Role,
    ScopeKind,
    Sharing,
)
from sightline.store.repositories._sql import affected, fetch_all, fetch_one, table, upsert
from sightline.store.repositories.access_requests import (
    AccessRequest,
    Approval,
    Notification,
    RequestRecords,
)

__all__ = [
    "AccessRepository",
    "AccessRequest",
    "Approval",
    "ChannelOwnership",
    "ChannelPlace",
    "Department",
    "Grant",
    "GroupLink",
    "Member",
    "Notification",
]

DEPARTMENTS = table(DepartmentRow)
MEMBERSHIPS = table(MembershipRow)
ROLES = table(UserRoleRow)
OWNERSHIP = table(ChannelOwnershipRow)
GRANTS = table(GrantRow)
USERS = table(UserRow)
CHANNELS = table(ChannelRow)
GROUPS = table(GroupRow)


@dataclass(frozen=True, slots=True, kw_only=True)
class Department:
    """A department; ``region_prefix`` is the civil-code prefix its admins administer."""

    id: int
    name: str
    parent_id: int | None
    region_prefix: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A user as the access policy sees them."""

    user_id: int
    username: str
    display_name: str
    disabled: bool
    is_admin: bool
    department_id: int | None
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelOwnership:
    """Who owns a channel, how it is classified and what it shares without a grant."""

    channel_id: str
    department_id: int
    classification: Classification
    sharing: Sharing
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """Actions on a scope for a department or a user within [not_before, not_after)."""

    id: str
    grantee_department_id: int | None
    grantee_user_id: int | None
    include_subdepartments: bool
    grantor_department_id: int
    scope_kind: ScopeKind
    scope_id: str
    actions: Sequence[str]
    masked_only: bool
    not_before: datetime
    not_after: datetime
    created_by: int | None
    created_at: datetime
    request_id: int | None = None
    revoked_at: datetime | None = None
    revoked_by: int | None = None
    expiry_notified: bool = False
    expiry_recorded: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelPlace:
    """Where a channel sits in the directory (what grant scopes match against)."""

    id: str
    device_id: str
    civil_code: str | None
    parent_id: str | None
    business_group_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupLink:
    """A business group or virtual organisation and what it hangs under."""

    id: str
    parent_id: str | None
    business_group_id: str | None


class AccessRepository(RequestRecords):
    """Reads and writes the access tables (requests and notifications: ``RequestRecords``)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- snapshot loads -------------------------------------------------------------------

    async def load_departments(self) -> list[Department]:
        """Every department."""
        return await fetch_all(self._session, select(DEPARTMENTS), Department)

    async def load_members(self) -> list[Member]:
        """Every user with department and roles."""
        stmt = select(
            USERS.c.id,
            USERS.c.username,
            USERS.c.display_name,
            USERS.c.disabled,
            USERS.c.is_admin,
            MEMBERSHIPS.c.department_id,
        ).outerjoin(MEMBERSHIPS, MEMBERSHIPS.c.user_id == USERS.c.id)
        roles: dict[int, set[Role]] = {}
        for user_id, role in await self._session.execute(select(ROLES.c.user_id, ROLES.c.role)):
            roles.setdefault(user_id, set()).add(Role(role))
        return [
            Member(
                user_id=row.id,
                username=row.username,
                display_name=row.display_name,
                disabled=row.disabled,
                is_admin=row.is_admin,
                department_id=row.department_id,
                roles=frozenset(roles.get(row.id, ())),
            )
            for row in await self._session.execute(stmt.order_by(USERS.c.username))
        ]

    async def load_ownership(self) -> list[ChannelOwnership]:
        """Every ownership row."""
        return await fetch_all(self._session, select(OWNERSHIP), ChannelOwnership)

    async def load_grants(self) -> list[Grant]:
        """Every grant not revoked (expired ones included: the policy checks the window)."""
        stmt = select(GRANTS).where(GRANTS.c.revoked_at.is_(None))
        return await fetch_all(self._session, stmt, Grant)

    async def load_places(
        self, after_id: str | None = None, limit: int | None = None
    ) -> list[ChannelPlace]:
        """Channels' device, civil code and groups: every one, or a page of ``limit`` in ID
        order after ``after_id``."""
        stmt = select(
            CHANNELS.c.id,
            CHANNELS.c.device_id,
            CHANNELS.c.civil_code,
            CHANNELS.c.parent_id,
            CHANNELS.c.business_group_id,
        )
        if limit is not None:
            stmt = stmt.order_by(CHANNELS.c.id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(CHANNELS.c.id > after_id)
        return await fetch_all(self._session, stmt, ChannelPlace)

    async def load_groups(self) -> list[GroupLink]:
        """Every group with its parents."""
        stmt = select(GROUPS.c.id, GROUPS.c.parent_id, GROUPS.c.business_group_id)
        return await fetch_all(self._session, stmt, GroupLink)

    # -- departments and members ----------------------------------------------------------

    async def create_department(
        self, name: str, parent_id: int | None, region_prefix: str | None, now: datetime
    ) -> Department:
        """Add a department; ``AlreadyExistsError`` if the name is taken."""
        values = {"name": name, "parent_id": parent_id, "region_prefix": region_prefix}
        stmt = insert(DEPARTMENTS).values(created_at=now, **values).returning(DEPARTMENTS.c.id)
        try:
            new_id = (await self._session.execute(stmt)).scalar_one()
        except IntegrityError as exc:
            raise AlreadyExistsError("department", name) from exc
        return Department(id=new_id, created_at=now, **values)  # type: ignore[arg-type]

    async def update_department(
        self, department_id: int, name: str, parent_id: int | None, region_prefix: str | None
    ) -> None:
        """Rename, move or rescope a department."""
        stmt = (
            update(DEPARTMENTS)
            .where(DEPARTMENTS.c.id == department_id)
            .values(name=name, parent_id=parent_id, region_prefix=region_prefix)
        )
        try:
            if await affected(self._session, stmt) == 0:
                raise NotFoundError("department", department_id)
        except IntegrityError as exc:
            raise AlreadyExistsError("department", name) from exc

    async def delete_department(self, department_id: int) -> None:
        """Remove a department (the caller checks it is empty)."""
        stmt = delete(DEPARTMENTS).where(DEPARTMENTS.c.id == department_id)
        if await affected(self._session, stmt) == 0:
            raise NotFoundError("department", department_id)

    async def department_in_use(self, department_id: int) -> bool:
        """Whether users, sub-departments or channels still belong to the department."""
        for stmt in (
            select(MEMBERSHIPS.c.user_id).where(MEMBERSHIPS.c.department_id == department_id),
            select(DEPARTMENTS.c.id).where(DEPARTMENTS.c.parent_id == department_id),
            select(OWNERSHIP.c.channel_id).where(OWNERSHIP.c.department_id == department_id),
        ):
            if (await self._session.execute(stmt.limit(1))).first() is not None:
                return True
        return False

    async def set_membership(self, user_id: int, department_id: int, roles: Iterable[Role]) -> None:
        """Put the user in ``department_id`` with exactly ``roles``."""
        await upsert(
            self._session,
            MEMBERSHIPS,
            [{"user_id": user_id, "department_id": department_id}],
        )
        await self._session.execute(delete(ROLES).where(ROLES.c.user_id == user_id))
        rows = [{"user_id": user_id, "role": role} for role in sorted(set(roles))]
        if rows:
            await self._session.execute(insert(ROLES), rows)

    # -- channel ownership -----------------------------------------------------------------

    async def set_ownership(self, ownership: ChannelOwnership) -> None:
        """Create or replace a channel's ownership row."""
        values = {
            "channel_id": ownership.channel_id,
            "department_id": ownership.department_id,
            "classification": ownership.classification,
            "sharing": ownership.sharing,
            "updated_at": ownership.updated_at,
        }
        await upsert(self._session, OWNERSHIP, [values])

    # -- grants ------------------------------------------------------------------------------

    async def add_grant(self, grant: Grant) -> None:
        """Store a new grant."""
        values = {name: getattr(grant, name) for name in (c.name for c in GRANTS.columns)}
        values["actions"] = list(grant.actions)
        await self._session.execute(insert(GRANTS).values(**values))

    async def get_grant(self, grant_id: str) -> Grant | None:
        """One grant, revoked or not."""
        return await fetch_one(self._session, select(GRANTS).where(GRANTS.c.id == grant_id), Grant)

    async def list_grants(
        self, *, include_revoked: bool = False, limit: int = 100, offset: int = 0
    ) -> list[Grant]:
        """Grants, newest first."""
        stmt = select(GRANTS).order_by(GRANTS.c.created_at.desc(), GRANTS.c.id)
        if not include_revoked:
            stmt = stmt.where(GRANTS.c.revoked_at.is_(None))
        return await fetch_all(self._session, stmt.limit(limit).offset(offset), Grant)

    async def revoke_grant(self, grant_id: str, by: int | None, now: datetime) -> None:
        """Mark a grant revoked."""
        stmt = (
            update(GRANTS)
            .where(GRANTS.c.id == grant_id, GRANTS.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=by)
        )
        if await affected(self._session, stmt) == 0:
            raise NotFoundError("grant", grant_id)

    async def grants_expiring(self, before: datetime, now: datetime) -> list[Grant]:
        """Live grants ending before ``before`` whose holders were not warned yet."""
        stmt = select(GRANTS).where(
            GRANTS.c.revoked_at.is_(None),
            GRANTS.c.expiry_notified.is_(False),
            GRANTS.c.not_after <= before,
            GRANTS.c.not_after > now,
        )
        return await fetch_all(self._session, stmt, Grant)

    async def mark_expiry_notified(self, grant_id: str) -> None:
        """Remember that the expiry warning went out."""
        stmt = update(GRANTS).where(GRANTS.c.id == grant_id).values(expiry_notified=True)
        await self._session.execute(stmt)

    async def grants_expired_unrecorded(self, now: datetime, limit: int = 1000) -> list[Grant]:
        """Unrevoked grants past ``not_after`` whose expiry is not in the audit trail yet."""
        stmt = (
            select(GRANTS)
            .where(
                GRANTS.c.revoked_at.is_(None),
                GRANTS.c.expiry_recorded.is_(False),
                GRANTS.c.not_after <= now,
            )
            .order_by(GRANTS.c.not_after, GRANTS.c.id)
            .limit(limit)
        )
        return await fetch_all(self._session, stmt, Grant)

    async def mark_expiry_recorded(self, grant_id: str) -> bool:
        """Claim a grant's expiry record; False when another writer claimed it first."""
        stmt = (
            update(GRANTS)
            .where(GRANTS.c.id == grant_id, GRANTS.c.expiry_recorded.is_(False))
            .values(expiry_recorded=True)
        )
        return await affected(self._session, stmt) > 0
