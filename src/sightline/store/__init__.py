"""Storage: SQLAlchemy 2 async models, repositories and Alembic migrations.

SQLite (the default, one file in ``data_dir``) and PostgreSQL run the same migrations. Typical
use::

    await migrate(url)                      # at start; idempotent
    db = await Database.connect(url)
    async with db.session() as session:     # one transaction
        device = await DeviceRepository(session).get("34020000001320000001")
    await db.close()
"""

from __future__ import annotations

from sightline.store.db import (
    Database,
    current_revision,
    default_sqlite_url,
    head_revision,
    migrate,
)
from sightline.store.errors import AlreadyExistsError, MigrationError, NotFoundError, StoreError
from sightline.store.records import (
    Alarm,
    Channel,
    ChannelStatus,
    Device,
    DeviceStatusEvent,
    GbVersion,
    Group,
    GroupKind,
    Region,
    StatusReason,
    Transport,
    User,
)
from sightline.store.repositories import (
    ChannelRepository,
    DeviceRepository,
    DirectoryRepository,
    EventRepository,
    UserRepository,
)

__all__ = [
    "Alarm",
    "AlreadyExistsError",
    "Channel",
    "ChannelRepository",
    "ChannelStatus",
    "Database",
    "Device",
    "DeviceRepository",
    "DeviceStatusEvent",
    "DirectoryRepository",
    "EventRepository",
    "GbVersion",
    "Group",
    "GroupKind",
    "MigrationError",
    "NotFoundError",
    "Region",
    "StatusReason",
    "StoreError",
    "Transport",
    "User",
    "UserRepository",
    "current_revision",
    "default_sqlite_url",
    "head_revision",
    "migrate",
]
