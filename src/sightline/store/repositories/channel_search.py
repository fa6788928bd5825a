"""Channel look-ups for the web console's directory tree: by name or ID, or exactly in an area.

``ChannelRepository.list`` filters a region with its sub-regions; a tree node needs only the
channels placed exactly in it (its sub-regions are nodes of their own), and the search box needs
a match on part of the name or the start of the ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.models import ChannelRow
from sightline.store.records import Channel
from sightline.store.repositories._sql import fetch_all, table

__all__ = ["ChannelSearchRepository"]

CHANNELS = table(ChannelRow)

S = TypeVar("S", bound=Select[Any])


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(stmt: S, text: str | None, civil_codes: Sequence[str] | None, unplaced: bool) -> S:
    if text:
        pattern = _escape_like(text.lower())
        stmt = stmt.where(
            or_(
                CHANNELS.c.id.like(f"{pattern}%", escape="\\"),
                func.lower(CHANNELS.c.name).like(f"%{pattern}%", escape="\\"),
            )
        )
    if civil_codes is not None:
        stmt = stmt.where(CHANNELS.c.civil_code.in_(list(civil_codes)))
    if unplaced:
        stmt = stmt.where(CHANNELS.c.civil_code.is_(None))
    return stmt


class ChannelSearchRepository:
    """Reads ``channels`` for searches and tree nodes."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find(
        self,
        *,
        text: str | None = None,
        civil_codes: Sequence[str] | None = None,
        unplaced: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Channel]:
        """Channels by ID whose ID starts with or name contains ``text`` (any case), whose
        civil code is one of ``civil_codes`` (exact spellings), and, with ``unplaced``, that
        have no usable civil code (so no place in the region tree); each filter when given."""
        stmt = select(CHANNELS).order_by(CHANNELS.c.id).limit(limit).offset(offset)
        stmt = _filtered(stmt, text, civil_codes, unplaced)
        return await fetch_all(self._session, stmt, Channel)

    async def count(
        self,
        *,
        text: str | None = None,
        civil_codes: Sequence[str] | None = None,
        unplaced: bool = False,
    ) -> int:
        """How many channels ``find`` would return without paging."""
        stmt = _filtered(select(func.count()).select_from(CHANNELS), text, civil_codes, unplaced)
        return (await self._session.scalar(stmt)) or 0
