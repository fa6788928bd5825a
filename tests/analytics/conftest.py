"""Store fixtures for the mask service tests: SQLite and PostgreSQL, as in tests/store."""

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

__all__ = ["backend", "db", "db_url", "migrated", "pg_migrated", "server_url", "sqlite_migrated"]
