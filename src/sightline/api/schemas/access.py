"""Request and response bodies of the access routes (departments, users, grants, requests)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sightline.store.models.access import (
    Classification,
    GrantAction,
    RequestState,
    Role,
    ScopeKind,
    Sharing,
)
from sightline.store.repositories.access import (
    AccessRequest,
    Approval,
    ChannelOwnership,
    Department,
    Grant,
    Member,
    Notification,
)

__all__ = [
    "AccessRequestIn",
    "AccessRequestOut",
    "ApprovalOut",
    "DecisionIn",
    "DepartmentIn",
    "DepartmentOut",
    "GrantIn",
    "GrantOut",
    "MeAccessOut",
    "NotificationOut",
    "OwnershipIn",
    "OwnershipOut",
    "PasswordIn",
    "ScopeIn",
    "UserIn",
    "UserOut",
    "UserPatchIn",
]

_PREFIX = r"^(\d{2}|\d{4}|\d{6}|\d{8})$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DepartmentIn(_In):
    """A new or changed department."""

    name: str = Field(min_length=1, max_length=128)
    parent_id: int | None = Field(description="the department above; null only for the root")
    region_prefix: str | None = Field(
        default=None,
        pattern=_PREFIX,
        description="civil-code prefix its admins administer (within the parent's)",
    )


class DepartmentOut(BaseModel):
    """A department."""

    id: int
    name: str
    parent_id: int | None
    region_prefix: str | None

    @classmethod
    def of(cls, d: Department) -> DepartmentOut:
        """From the record."""
        return cls(id=d.id, name=d.name, parent_id=d.parent_id, region_prefix=d.region_prefix)


class UserIn(_In):
    """A new user."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    display_name: str = Field(default="", max_length=128)
    department_id: int
    roles: list[Role] = Field(min_length=1, max_length=6)


class UserPatchIn(_In):
    """Changes to a user; fields left out stay as they are."""

    department_id: int | None = None
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=6)
    disabled: bool | None = None


class PasswordIn(_In):
    """A new password set by an admin."""

    password: str = Field(min_length=8, max_length=256)


class UserOut(BaseModel):
    """A user with department and roles."""

    id: int
    username: str
    display_name: str
    department_id: int | None
    roles: list[Role]
    disabled: bool

    @classmethod
    def of(cls, m: Member) -> UserOut:
        """From the member record."""
        return cls(
            id=m.user_id,
            username=m.username,
            display_name=m.display_name,
            department_id=m.department_id,
            roles=sorted(m.roles),
            disabled=m.disabled,
        )


class OwnershipIn(_In):
    """Owner, classification and default sharing of a channel."""

    department_id: int
    classification: Classification
    sharing: Sharing = Field(
        default=Sharing.NONE,
        description="who watches live (masked) without a grant: none, the owner's "
        "sub-departments, or all departments; public-security channels only",
    )


class OwnershipOut(BaseModel):
    """A channel's ownership."""

    channel_id: str
    department_id: int
    classification: Classification
    sharing: Sharing

    @classmethod
    def of(cls, o: ChannelOwnership) -> OwnershipOut:
        """From the record."""
        return cls(
            channel_id=o.channel_id,
            department_id=o.department_id,
            classification=o.classification,
            sharing=o.sharing,
        )


class ScopeIn(_In):
    """A channel ID, a group ID, or a region (civil-code prefix)."""

    kind: ScopeKind
    id: str = Field(pattern=r"^\d{2,20}$")


class GrantIn(_In):
    """A new grant: exactly one of grantee_department_id and grantee_user_id."""

    grantee_department_id: int | None = None
    grantee_user_id: int | None = None
    include_subdepartments: bool = False
    scope: ScopeIn
    actions: list[GrantAction] = Field(min_length=1, max_length=4)
    masked_only: bool = False
    not_before: datetime
    not_after: datetime
    grantor_department_id: int | None = Field(
        default=None, description="the department giving access; default: your own"
    )


class GrantOut(BaseModel):
    """A grant."""

    id: str
    grantee_department_id: int | None
    grantee_user_id: int | None
    include_subdepartments: bool
    grantor_department_id: int
    scope: ScopeIn
    actions: list[str]
    masked_only: bool
    not_before: datetime
    not_after: datetime
    request_id: int | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, g: Grant) -> GrantOut:
        """From the record."""
        return cls(
            id=g.id,
            grantee_department_id=g.grantee_department_id,
            grantee_user_id=g.grantee_user_id,
            include_subdepartments=g.include_subdepartments,
            grantor_department_id=g.grantor_department_id,
            scope=ScopeIn(kind=g.scope_kind, id=g.scope_id),
            actions=list(g.actions),
            masked_only=g.masked_only,
            not_before=g.not_before,
            not_after=g.not_after,
            request_id=g.request_id,
            revoked_at=g.revoked_at,
        )


class AccessRequestIn(_In):
    """A request for access, with its purpose."""

    scopes: list[ScopeIn] = Field(min_length=1, max_length=100)
    actions: list[GrantAction] = Field(min_length=1, max_length=4)
    purpose: str = Field(min_length=5, max_length=2000)
    not_before: datetime
    not_after: datetime
    masked_only: bool = Field(
        default=True, description="false asks for the unmasked view (needs more approvals)"
    )
    department_id: int | None = Field(
        default=None, description="the department to ask; default: the channels' owner"
    )


class ApprovalOut(BaseModel):
    """One admin's decision."""

    user_id: int
    approve: bool
    comment: str
    at: datetime

    @classmethod
    def of(cls, a: Approval) -> ApprovalOut:
        """From the record."""
        return cls(user_id=a.user_id, approve=a.approve, comment=a.comment, at=a.at)


class AccessRequestOut(BaseModel):
    """A request and its decisions so far."""

    id: int
    requester_id: int
    department_id: int
    scopes: list[ScopeIn]
    actions: list[str]
    masked_only: bool
    purpose: str
    not_before: datetime
    not_after: datetime
    state: RequestState
    approvals_needed: int
    approvals: list[ApprovalOut] = []
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    reason: str

    @classmethod
    def of(cls, r: AccessRequest, approvals: list[Approval] | None = None) -> AccessRequestOut:
        """From the record."""
        return cls(
            id=r.id,
            requester_id=r.requester_id,
            department_id=r.department_id,
            scopes=[ScopeIn(kind=ScopeKind(s["kind"]), id=str(s["id"])) for s in r.scopes],
            actions=list(r.actions),
            masked_only=r.masked_only,
            purpose=r.purpose,
            not_before=r.not_before,
            not_after=r.not_after,
            state=r.state,
            approvals_needed=r.approvals_needed,
            approvals=[ApprovalOut.of(a) for a in approvals or []],
            created_at=r.created_at,
            expires_at=r.expires_at,
            decided_at=r.decided_at,
            reason=r.reason,
        )


class DecisionIn(_In):
    """An approval or rejection."""

    comment: str = Field(default="", max_length=2000)


class NotificationOut(BaseModel):
    """An in-app notification."""

    id: int
    kind: str
    text: str
    request_id: int | None
    grant_id: str | None
    created_at: datetime
    read: bool

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        """From the record."""
        return cls(
            id=n.id,
            kind=n.kind,
            text=n.text,
            request_id=n.request_id,
            grant_id=n.grant_id,
            created_at=n.created_at,
            read=n.read_at is not None,
        )


class MeAccessOut(BaseModel):
    """Who I am and what I may do."""

    user_id: int
    username: str
    department: DepartmentOut | None
    roles: list[Role]
    is_system_admin: bool
    administers: list[int] | None = Field(
        description="departments I administer (null: all, as system admin)"
    )
    role_actions: list[str] = Field(description="what my roles allow on my department's channels")
    grants: list[GrantOut] = Field(description="grants that apply to me, valid now or later")
    visible_channels: int | None = Field(description="how many channels I may see (null: all)")
