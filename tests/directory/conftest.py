"""Directory fixtures: the store's ``db`` (SQLite and PostgreSQL) and a device to import into."""

from __future__ import annotations

from tests.store.conftest import (
    backend,
    db,
    db_url,
    migrated,
    pg_migrated,
    server_url,
    sqlite_migrated,
)

__all__ = [
    "backend",
    "db",
    "db_url",
    "migrated",
    "pg_migrated",
    "server_url",
    "sqlite_migrated",
]
