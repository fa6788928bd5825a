"""Platform logins.

Records are ``sightline.store.records.User`` (frozen). Hashing is not done here:
``sightline.access`` hashes and verifies, the store keeps the hash string.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.errors import AlreadyExistsError, NotFoundError
from sightline.store.models import UserRow
from sightline.store.records import User
from sightline.store.repositories._sql import affected, fetch_all, fetch_one, table

__all__ = ["UserRepository"]

USERS = table(UserRow)


class UserRepository:
    """Reads and writes ``users``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: int) -> User | None:
        """The user with ``user_id``, or ``None``."""
        return await fetch_one(self._session, select(USERS).where(USERS.c.id == user_id), User)

    async def get_by_username(self, username: str) -> User | None:
        """The user called ``username`` (exact, case-sensitive match), or ``None``."""
        stmt = select(USERS).where(USERS.c.username == username)
        return await fetch_one(self._session, stmt, User)

    async def create(
        self,
        username: str,
        password_hash: str,
        created_at: datetime,
        display_name: str = "",
        is_admin: bool = False,
    ) -> User:
        """Add a user; raises ``AlreadyExistsError`` if ``username`` is taken.

        After that error the transaction is unusable: let the session block end.
        """
        stmt = (
            insert(USERS)
            .values(
                username=username,
                password_hash=password_hash,
                display_name=display_name,
                is_admin=is_admin,
                disabled=False,
                created_at=created_at,
            )
            .returning(USERS.c.id)
        )
        try:
            user_id = (await self._session.execute(stmt)).scalar_one()
        except IntegrityError as exc:
            # The only unique key besides the generated id is the username.
            raise AlreadyExistsError("user", username) from exc
        return User(
            id=user_id,
            username=username,
            password_hash=password_hash,
            created_at=created_at,
            display_name=display_name,
            is_admin=is_admin,
        )

    async def list(self, limit: int = 100, offset: int = 0) -> Sequence[User]:
        """Users ordered by username."""
        stmt = select(USERS).order_by(USERS.c.username).limit(limit).offset(offset)
        return await fetch_all(self._session, stmt, User)

    async def count(self) -> int:
        """How many users exist (zero means first start: create the admin)."""
        return (await self._session.scalar(select(func.count()).select_from(USERS))) or 0

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace the user's password hash."""
        stmt = update(USERS).where(USERS.c.id == user_id).values(password_hash=password_hash)
        if await affected(self._session, stmt) == 0:
            raise NotFoundError("user", user_id)

    async def set_disabled(self, user_id: int, disabled: bool) -> None:
        """Disable (or re-enable) a login without deleting its audit history."""
        stmt = update(USERS).where(USERS.c.id == user_id).values(disabled=disabled)
        if await affected(self._session, stmt) == 0:
            raise NotFoundError("user", user_id)
