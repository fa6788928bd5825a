"""Per-user console preferences: one JSON document per user, replaced whole on save."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.errors import NotFoundError
from sightline.store.models.preferences import UserPreferencesRow
from sightline.store.repositories._sql import fetch_one, table, upsert

__all__ = ["PreferencesRepository", "UserPreferences"]

PREFERENCES = table(UserPreferencesRow)


@dataclass(frozen=True)
class UserPreferences:
    """A user's saved preferences; ``data`` is the document the API validated."""

    user_id: int
    updated_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


class PreferencesRepository:
    """Reads and writes ``user_preferences``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: int) -> UserPreferences | None:
        """The preferences of ``user_id``, or ``None`` if never saved."""
        stmt = select(PREFERENCES).where(PREFERENCES.c.user_id == user_id)
        return await fetch_one(self._session, stmt, UserPreferences)

    async def save(self, user_id: int, data: Mapping[str, Any], at: datetime) -> UserPreferences:
        """Replace the preferences of ``user_id``; ``NotFoundError`` for an unknown user."""
        row = {"user_id": user_id, "data": dict(data), "updated_at": at}
        try:
            await upsert(self._session, PREFERENCES, [row])
        except IntegrityError as exc:
            # The only reference is the user: the foreign key failed. After this error the
            # transaction is unusable: let the session block end.
            raise NotFoundError("user", user_id) from exc
        return UserPreferences(user_id=user_id, updated_at=at, data=dict(data))
