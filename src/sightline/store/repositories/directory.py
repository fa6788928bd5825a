"""The directory tree: administrative regions and business groups / virtual organisations.

Records are ``Region`` and ``Group`` from ``sightline.store.records`` (frozen).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.models import GroupRow, RegionRow
from sightline.store.records import Group, GroupKind, Region
from sightline.store.repositories._sql import (
    affected,
    fetch_all,
    fetch_one,
    record_values,
    table,
    upsert,
)

__all__ = ["DirectoryRepository"]

REGIONS = table(RegionRow)
GROUPS = table(GroupRow)
_CHUNK = 500


def _chunks(keys: Iterable[str]) -> Iterable[list[str]]:
    unique = sorted(set(keys))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


class DirectoryRepository:
    """Reads and writes ``regions`` and ``groups``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_region(self, code: str) -> Region | None:
        """The region with civil code ``code``, or ``None``."""
        stmt = select(REGIONS).where(REGIONS.c.code == code)
        return await fetch_one(self._session, stmt, Region)

    async def save_regions(self, regions: Sequence[Region]) -> None:
        """Insert or update regions by code."""
        await upsert(self._session, REGIONS, [record_values(r) for r in regions])

    async def regions_by_code(self, codes: Iterable[str]) -> dict[str, Region]:
        """The stored regions among ``codes``, by code."""
        found: dict[str, Region] = {}
        for chunk in _chunks(codes):
            stmt = select(REGIONS).where(REGIONS.c.code.in_(chunk))
            found.update((r.code, r) for r in await fetch_all(self._session, stmt, Region))
        return found

    async def child_regions(self, parent_code: str | None) -> Sequence[Region]:
        """Direct children of ``parent_code`` (the top level for ``None``), ordered by code."""
        parent = REGIONS.c.parent_code
        cond = parent.is_(None) if parent_code is None else parent == parent_code
        stmt = select(REGIONS).where(cond).order_by(REGIONS.c.code)
        return await fetch_all(self._session, stmt, Region)

    async def get_group(self, group_id: str) -> Group | None:
        """The group with ``group_id``, or ``None``."""
        stmt = select(GROUPS).where(GROUPS.c.id == group_id)
        return await fetch_one(self._session, stmt, Group)

    async def save_groups(self, groups: Sequence[Group]) -> None:
        """Insert or update groups by ID."""
        await upsert(self._session, GROUPS, [record_values(g) for g in groups])

    async def groups_by_id(self, group_ids: Iterable[str]) -> dict[str, Group]:
        """The stored groups among ``group_ids``, by ID."""
        found: dict[str, Group] = {}
        for chunk in _chunks(group_ids):
            stmt = select(GROUPS).where(GROUPS.c.id.in_(chunk))
            found.update((g.id, g) for g in await fetch_all(self._session, stmt, Group))
        return found

    async def child_groups(
        self, parent_id: str | None, kind: GroupKind | None = None
    ) -> Sequence[Group]:
        """Direct children of ``parent_id`` (roots for ``None``), optionally of one kind."""
        parent = GROUPS.c.parent_id
        stmt = select(GROUPS).where(parent.is_(None) if parent_id is None else parent == parent_id)
        if kind is not None:
            stmt = stmt.where(GROUPS.c.kind == kind)
        return await fetch_all(self._session, stmt.order_by(GROUPS.c.id), Group)

    async def delete_group(self, group_id: str) -> bool:
        """Remove one group (its children are left for the caller to move or remove)."""
        return await affected(self._session, delete(GROUPS).where(GROUPS.c.id == group_id)) > 0
