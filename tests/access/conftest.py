"""Access fixtures: a migrated SQLite database."""

from __future__ import annotations

from tests.access.fixtures import sqlite_db
from tests.store.conftest import sqlite_migrated

__all__ = ["sqlite_db", "sqlite_migrated"]
