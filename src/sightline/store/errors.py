"""Errors raised by the storage layer.

    SightlineError
    └── StoreError                 the database is unreachable or a statement failed
        ├── MigrationError         the schema could not be brought to the head revision
        ├── NotFoundError          a row the caller named does not exist
        └── AlreadyExistsError     a unique key is taken (for example a username)

Driver and SQLAlchemy exceptions never leave ``sightline.store``: ``Database.session()``
translates them into ``StoreError`` (the original is chained as ``__cause__``), so services
catch one family. After a ``StoreError`` the session is rolled back and must be discarded.
"""

from __future__ import annotations

from sightline.errors import SightlineError

__all__ = ["AlreadyExistsError", "MigrationError", "NotFoundError", "StoreError"]


class StoreError(SightlineError):
    """A database operation failed; the message says which and why."""


class MigrationError(StoreError):
    """Upgrading the schema failed; the database is left at its previous revision."""


class NotFoundError(StoreError):
    """The row named by the caller does not exist."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class AlreadyExistsError(StoreError):
    """A row with the same unique key already exists."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!r} already exists")
        self.what = what
        self.key = key
