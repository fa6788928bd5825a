"""Initial schema: devices, channels, status events, alarms, users, regions, groups.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must not change when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)


def _enum(name: str, length: int, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    """Create every table of the first release."""
    _create_devices()
    _create_channels()
    _create_device_status_events()
    _create_alarms()
    _create_users()
    _create_directory()


def _create_devices() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("manufacturer", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("firmware", sa.String(255), nullable=False),
        sa.Column("transport", _enum("transport", 8, "UDP", "TCP"), nullable=False),
        sa.Column("gb_version", _enum("gb_version", 8, "2016", "2022"), nullable=False),
        sa.Column("charset", sa.String(16), nullable=False),
        sa.Column("realm", sa.String(128), nullable=True),
        sa.Column("password_ha1", sa.String(64), nullable=True),
        sa.Column("remote_host", sa.String(64), nullable=True),
        sa.Column("remote_port", sa.Integer(), nullable=True),
        sa.Column("contact", sa.String(255), nullable=True),
        sa.Column("expires_s", sa.Integer(), nullable=True),
        sa.Column("registered_at", UTC_TIME, nullable=True),
        sa.Column("last_seen", UTC_TIME, nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("channel_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )


def _create_channels() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("device_id", sa.String(20), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("manufacturer", sa.String(255), nullable=True),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("civil_code", sa.String(32), nullable=True),
        sa.Column("block", sa.String(255), nullable=True),
        sa.Column("address", sa.String(255), nullable=True),
        sa.Column("parental", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.String(255), nullable=True),
        sa.Column("business_group_id", sa.String(20), nullable=True),
        sa.Column("register_way", sa.Integer(), nullable=True),
        sa.Column("secrecy", sa.Integer(), nullable=True),
        sa.Column("ip_address", sa.String(64), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("status", _enum("status", 8, "ON", "OFF"), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("ptz_type", sa.Integer(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_channels_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
    )
    for column in ("device_id", "civil_code", "business_group_id", "status"):
        op.create_index(op.f(f"ix_channels_{column}"), "channels", [column])


def _create_device_status_events() -> None:
    op.create_table(
        "device_status_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(20), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_status_events_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_status_events")),
    )
    op.create_index(
        "ix_device_status_events_device_id_at", "device_status_events", ["device_id", "at"]
    )


def _create_alarms() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(20), nullable=False),
        sa.Column("channel_id", sa.String(20), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("method", sa.Integer(), nullable=True),
        sa.Column("alarm_type", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("alarm_time", UTC_TIME, nullable=True),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    op.create_index("ix_alarms_device_id_received_at", "alarms", ["device_id", "received_at"])


def _create_users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )


def _create_directory() -> None:
    op.create_table(
        "regions",
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parent_code", sa.String(8), nullable=True),
        sa.CheckConstraint("length(code) IN (2, 4, 6, 8)", name=op.f("ck_regions_code_length")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_regions")),
    )
    op.create_index(op.f("ix_regions_parent_code"), "regions", ["parent_code"])
    op.create_table(
        "groups",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("kind", _enum("kind", 16, "business", "virtual"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("parent_id", sa.String(20), nullable=True),
        sa.Column("business_group_id", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
    )
    op.create_index(op.f("ix_groups_parent_id"), "groups", ["parent_id"])
    op.create_index(op.f("ix_groups_business_group_id"), "groups", ["business_group_id"])


def downgrade() -> None:
    """Drop every table (children first); their indexes go with them."""
    for table in (
        "groups",
        "regions",
        "users",
        "alarms",
        "device_status_events",
        "channels",
        "devices",
    ):
        op.drop_table(table)
