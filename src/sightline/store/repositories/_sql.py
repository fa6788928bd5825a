"""Helpers shared by the repositories: record/row conversion, portable upserts, row counts.

Repositories run Core statements against the ORM tables and convert rows to frozen records.
Skipping the ORM identity map means a Core ``UPDATE`` can never leave a stale object behind,
and a 10,000-channel catalog is not turned into 10,000 tracked objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import CursorResult, Executable, Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.models import Base

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["affected", "fetch_all", "fetch_one", "record_values", "table", "to_record", "upsert"]

R = TypeVar("R", bound="DataclassInstance")


def table(row_cls: type[Base]) -> Table:
    """The ``Table`` behind an ORM row class."""
    return cast(Table, row_cls.__table__)


def to_record(row: object, cls: type[R]) -> R:
    """Build ``cls`` from the same-named attributes of ``row``."""
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def record_values(record: DataclassInstance, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Column values of ``record`` (mappings copied to plain dicts for JSON columns)."""
    skipped = set(skip)
    values: dict[str, Any] = {}
    for f in fields(record):
        if f.name in skipped:
            continue
        value = getattr(record, f.name)
        values[f.name] = dict(value) if isinstance(value, Mapping) else value
    return values


async def fetch_one(session: AsyncSession, stmt: Select[Any], cls: type[R]) -> R | None:
    """The first row of ``stmt`` as a ``cls`` record, or ``None``."""
    row = (await session.execute(stmt)).first()
    return None if row is None else to_record(row, cls)


async def fetch_all(session: AsyncSession, stmt: Select[Any], cls: type[R]) -> list[R]:
    """Every row of ``stmt`` as ``cls`` records."""
    return [to_record(row, cls) for row in await session.execute(stmt)]


async def affected(session: AsyncSession, stmt: Executable) -> int:
    """Run an UPDATE/DELETE and return how many rows it matched."""
    result = cast(CursorResult[Any], await session.execute(stmt))
    return result.rowcount


async def upsert(
    session: AsyncSession,
    target: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keep: Iterable[str] = (),
) -> None:
    """Insert ``rows``, updating every column but the primary key and ``keep`` on conflict.

    SQLite and PostgreSQL both spell it ``INSERT .. ON CONFLICT (pk) DO UPDATE``, but
    SQLAlchemy builds it per dialect; one executemany sends a whole catalog at once.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        stmt: sqlite.Insert | postgresql.Insert = sqlite.insert(target)
    elif dialect == "postgresql":
        stmt = postgresql.insert(target)
    else:
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    key = [c.name for c in target.primary_key.columns]
    frozen = set(key) | set(keep)
    updates = {name: stmt.excluded[name] for name in rows[0] if name not in frozen}
    await session.execute(stmt.on_conflict_do_update(index_elements=key, set_=updates), rows)
