"""Rows for the access model (issue 8): departments, roles, channel ownership, grants, requests.

Users keep their ``users`` row; their department and roles live here (``memberships``,
``user_roles``) so the login table stays as issue 4 made it. ``channel_ownership`` is keyed by
channel ID without a foreign key: a channel that leaves a catalog and comes back keeps its
owner and classification. A channel without a row belongs to the root department.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sightline.store.models.base import Base, enum_type
from sightline.store.models.device import ID_LEN

__all__ = [
    "ROOT_DEPARTMENT_ID",
    "AccessRequestRow",
    "ApprovalRow",
    "ChannelOwnershipRow",
    "Classification",
    "DepartmentRow",
    "GrantAction",
    "GrantRow",
    "MembershipRow",
    "NotificationRow",
    "RequestState",
    "Role",
    "ScopeKind",
    "Sharing",
    "UserRoleRow",
]

ROOT_DEPARTMENT_ID = 1


class Role(StrEnum):
    """What a user may do inside their department."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    EXPORTER = "exporter"
    DEPARTMENT_ADMIN = "department_admin"
    AUDITOR = "auditor"
    SYSTEM_ADMIN = "system_admin"


class Classification(StrEnum):
    """Public-security resources may be shared by default; department-private ones never are."""

    PUBLIC_SECURITY = "public_security"
    DEPARTMENT_PRIVATE = "department_private"


class Sharing(StrEnum):
    """Who sees a channel (live, masked) without a grant, besides its owners."""

    NONE = "none"
    SUBTREE = "subtree"  # the owner department's sub-departments
    ALL = "all"  # every department


class GrantAction(StrEnum):
    """Actions a grant or an access request can name."""

    LIVE = "live"
    PLAYBACK = "playback"
    PTZ = "ptz"
    EXPORT = "export"


class ScopeKind(StrEnum):
    """What a grant covers: one channel, a business group / virtual organisation, a region."""

    CHANNEL = "channel"
    GROUP = "group"
    REGION = "region"


class RequestState(StrEnum):
    """The life of an access request."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class DepartmentRow(Base):
    """``departments``: a tree; ``region_prefix`` limits what its admins administer."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), index=True
    )
    region_prefix: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]


class MembershipRow(Base):
    """``memberships``: the one department of a user."""

    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), index=True
    )


class UserRoleRow(Base):
    """``user_roles``: the roles of a user (several allowed)."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(enum_type(Role, "role", 32), primary_key=True)


class ChannelOwnershipRow(Base):
    """``channel_ownership``: owner department, classification and default sharing."""

    __tablename__ = "channel_ownership"

    channel_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), index=True
    )
    classification: Mapped[Classification] = mapped_column(
        enum_type(Classification, "classification", 32)
    )
    sharing: Mapped[Sharing] = mapped_column(enum_type(Sharing, "sharing", 16))
    updated_at: Mapped[datetime]


class GrantRow(Base):
    """``grants``: actions on a scope, to a department or a user, within a time window."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grantee_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), index=True
    )
    grantee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    include_subdepartments: Mapped[bool]
    grantor_department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE")
    )
    scope_kind: Mapped[ScopeKind] = mapped_column(enum_type(ScopeKind, "scope_kind", 16))
    scope_id: Mapped[str] = mapped_column(String(ID_LEN))
    actions: Mapped[list[str]] = mapped_column(JSON)
    masked_only: Mapped[bool]
    not_before: Mapped[datetime]
    not_after: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    request_id: Mapped[int | None] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expiry_notified: Mapped[bool]
    expiry_recorded: Mapped[bool]


class AccessRequestRow(Base):
    """``access_requests``: a user asks a department for access, with a purpose."""

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    requester_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    actions: Mapped[list[str]] = mapped_column(JSON)
    masked_only: Mapped[bool]
    purpose: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    state: Mapped[RequestState] = mapped_column(enum_type(RequestState, "state", 16), index=True)
    approvals_needed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text)


class ApprovalRow(Base):
    """``access_approvals``: one admin's approval or rejection of a request."""

    __tablename__ = "access_approvals"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("access_requests.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    approve: Mapped[bool]
    comment: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class NotificationRow(Base):
    """``notifications``: in-app messages for one user."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    request_id: Mapped[int | None] = mapped_column(Integer)
    grant_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
