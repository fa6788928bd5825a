"""Schema for departments, roles, grants, approvals (issue 8).

Creates the root department (id 1) and puts every existing user in it: administrators become
system administrators, everyone else an operator (what issue 4's policy let them do).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must not change when the models do.
UTC_TIME = sa.DateTime(timezone=True)
ROLES = ("viewer", "operator", "exporter", "department_admin", "auditor", "system_admin")


def _enum(name: str, length: int, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".", maxsplit=1)[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )


def upgrade() -> None:
    """Create the access tables and the root department."""
    _create_departments()
    _create_channel_ownership()
    _create_grants()
    _create_requests()
    _create_notifications()
    _seed()


def _create_departments() -> None:
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("region_prefix", sa.String(8), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        _fk("departments", "parent_id", "departments.id", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("name", name=op.f("uq_departments_name")),
    )
    op.create_index(op.f("ix_departments_parent_id"), "departments", ["parent_id"])
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        _fk("memberships", "user_id", "users.id", "CASCADE"),
        _fk("memberships", "department_id", "departments.id", "RESTRICT"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_department_id"), "memberships", ["department_id"])
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", _enum("role", 32, *ROLES), nullable=False),
        _fk("user_roles", "user_id", "users.id", "CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_roles")),
    )


def _create_channel_ownership() -> None:
    op.create_table(
        "channel_ownership",
        sa.Column("channel_id", sa.String(20), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column(
            "classification",
            _enum("classification", 32, "public_security", "department_private"),
            nullable=False,
        ),
        sa.Column("sharing", _enum("sharing", 16, "none", "subtree", "all"), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        _fk("channel_ownership", "department_id", "departments.id", "RESTRICT"),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_ownership")),
    )
    op.create_index(
        op.f("ix_channel_ownership_department_id"), "channel_ownership", ["department_id"]
    )


def _create_grants() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("grantee_department_id", sa.Integer(), nullable=True),
        sa.Column("grantee_user_id", sa.Integer(), nullable=True),
        sa.Column("include_subdepartments", sa.Boolean(), nullable=False),
        sa.Column("grantor_department_id", sa.Integer(), nullable=False),
        sa.Column(
            "scope_kind", _enum("scope_kind", 16, "channel", "group", "region"), nullable=False
        ),
        sa.Column("scope_id", sa.String(20), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("masked_only", sa.Boolean(), nullable=False),
        sa.Column("not_before", UTC_TIME, nullable=False),
        sa.Column("not_after", UTC_TIME, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.Column("expiry_notified", sa.Boolean(), nullable=False),
        _fk("grants", "grantee_department_id", "departments.id", "CASCADE"),
        _fk("grants", "grantee_user_id", "users.id", "CASCADE"),
        _fk("grants", "grantor_department_id", "departments.id", "CASCADE"),
        _fk("grants", "created_by", "users.id", "SET NULL"),
        _fk("grants", "revoked_by", "users.id", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    for column in ("grantee_department_id", "grantee_user_id", "not_after"):
        op.create_index(op.f(f"ix_grants_{column}"), "grants", [column])


def _create_requests() -> None:
    states = ("pending", "approved", "rejected", "expired", "withdrawn")
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("masked_only", sa.Boolean(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("not_before", UTC_TIME, nullable=False),
        sa.Column("not_after", UTC_TIME, nullable=False),
        sa.Column("state", _enum("state", 16, *states), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("decided_at", UTC_TIME, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        _fk("access_requests", "requester_id", "users.id", "CASCADE"),
        _fk("access_requests", "department_id", "departments.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
    )
    for column in ("requester_id", "department_id", "state"):
        op.create_index(op.f(f"ix_access_requests_{column}"), "access_requests", [column])
    op.create_table(
        "access_approvals",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("approve", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        _fk("access_approvals", "request_id", "access_requests.id", "CASCADE"),
        _fk("access_approvals", "user_id", "users.id", "CASCADE"),
        sa.PrimaryKeyConstraint("request_id", "user_id", name=op.f("pk_access_approvals")),
    )


def _create_notifications() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("grant_id", sa.String(32), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("read_at", UTC_TIME, nullable=True),
        _fk("notifications", "user_id", "users.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(op.f("ix_notifications_user_id"), "notifications", ["user_id"])


def _seed() -> None:
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # what UtcDateTime stores on SQLite
    departments = sa.table(
        "departments",
        sa.column("id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("parent_id", sa.Integer()),
        sa.column("region_prefix", sa.String()),
        sa.column("created_at", UTC_TIME),
    )
    op.bulk_insert(
        departments,
        [{"id": 1, "name": "root", "parent_id": None, "region_prefix": None, "created_at": now}],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval('departments_id_seq', 1)")
    op.execute("INSERT INTO memberships (user_id, department_id) SELECT id, 1 FROM users")
    op.execute(
        "INSERT INTO user_roles (user_id, role) SELECT id, CASE WHEN is_admin "
        "THEN 'system_admin' ELSE 'operator' END FROM users"
    )


def downgrade() -> None:
    """Drop the access tables (children first)."""
    for table in (
        "notifications",
        "access_approvals",
        "access_requests",
        "grants",
        "channel_ownership",
        "user_roles",
        "memberships",
        "departments",
    ):
        op.drop_table(table)
