"""The audit trail's rows: appending to the chain, anchors, paging, search and summaries.

One writer appends at a time (:meth:`AuditRepository.lock_chain` serialises writers of several
nodes on PostgreSQL with a transaction-scoped advisory lock; SQLite has one writer by design).
Reads page by ``seq`` (keyset), never by offset, so the millionth page costs what the first does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sightline.store.models import AuditAnchorRow, AuditRecordRow
from sightline.store.repositories._sql import fetch_all, fetch_one, table

__all__ = [
    "GENESIS_HASH",
    "AuditAnchor",
    "AuditFilter",
    "AuditRecord",
    "AuditRepository",
    "DetailValue",
    "SummaryKey",
    "SummaryRow",
]

GENESIS_HASH = "0" * 64
# Arbitrary constant: the PostgreSQL advisory lock that makes one writer of the chain at a time.
_PG_CHAIN_LOCK = 0x5167_4175_6469_74

RECORDS = table(AuditRecordRow)
ANCHORS = table(AuditAnchorRow)

DetailValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored audit record (an ``audit_records`` row)."""

    seq: int
    at: datetime
    action: str
    outcome: str
    username: str | None
    user_id: int | None
    department: str | None
    channel_id: str | None
    address: str | None
    purpose: str | None
    detail: dict[str, DetailValue] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""


@dataclass(frozen=True, slots=True)
class AuditAnchor:
    """A signed statement "record ``seq`` had hash ``hash``", made at ``at``."""

    seq: int
    hash: str
    at: datetime
    key_id: str
    signature: str
    next_within: int | None = None  # the next anchor comes within this many records (signed)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Search criteria; ``None`` matches everything. Times: ``since <= at < until``."""

    since: datetime | None = None
    until: datetime | None = None
    username: str | None = None
    department: str | None = None
    channel_id: str | None = None
    action: str | None = None
    outcome: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE terms of this filter."""
        c = RECORDS.c
        terms: list[ColumnElement[bool]] = []
        if self.since is not None:
            terms.append(c.at >= self.since)
        if self.until is not None:
            terms.append(c.at < self.until)
        for column, value in (
            (c.username, self.username),
            (c.department, self.department),
            (c.channel_id, self.channel_id),
            (c.action, self.action),
            (c.outcome, self.outcome),
        ):
            if value is not None:
                terms.append(column == value)
        return terms


class SummaryKey(StrEnum):
    """What a summary groups by."""

    CHANNEL = "channel"
    DEPARTMENT = "department"
    USER = "user"


_SUMMARY_COLUMNS = {
    SummaryKey.CHANNEL: RECORDS.c.channel_id,
    SummaryKey.DEPARTMENT: RECORDS.c.department,
    SummaryKey.USER: RECORDS.c.username,
}


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """How many records of ``action`` one channel, department or user has."""

    key: str | None
    action: str
    count: int


_SELECT = select(*(RECORDS.c[f.name] for f in fields(AuditRecord)))


class AuditRepository:
    """Reads and appends ``audit_records`` and ``audit_anchors``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_chain(self) -> None:
        """Become the only writer of the chain until this transaction ends (PostgreSQL)."""
        if self._session.get_bind().dialect.name == "postgresql":
            await self._session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK}
            )

    async def head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the last record, or ``None`` for an empty chain."""
        stmt = select(RECORDS.c.seq, RECORDS.c.hash).order_by(RECORDS.c.seq.desc()).limit(1)
        row = (await self._session.execute(stmt)).first()
        return None if row is None else (int(row.seq), str(row.hash))

    async def append(self, records: Sequence[AuditRecord]) -> None:
        """Insert chained records (one executemany)."""
        if records:
            await self._session.execute(insert(RECORDS), [_values(r) for r in records])

    async def add_anchor(self, anchor: AuditAnchor) -> None:
        """Store a signed anchor."""
        await self._session.execute(insert(ANCHORS).values(asdict(anchor)))

    async def last_anchor(self) -> AuditAnchor | None:
        """The anchor with the highest ``seq``."""
        stmt = select(ANCHORS).order_by(ANCHORS.c.seq.desc()).limit(1)
        return await fetch_one(self._session, stmt, AuditAnchor)

    async def anchors(self, after_seq: int, limit: int) -> list[AuditAnchor]:
        """Anchors with ``seq > after_seq``, in order."""
        stmt = select(ANCHORS).where(ANCHORS.c.seq > after_seq).order_by(ANCHORS.c.seq).limit(limit)
        return await fetch_all(self._session, stmt, AuditAnchor)

    async def page(self, after_seq: int, limit: int) -> list[AuditRecord]:
        """Records with ``seq > after_seq`` in chain order (for verification)."""
        stmt = _SELECT.where(RECORDS.c.seq > after_seq).order_by(RECORDS.c.seq).limit(limit)
        return await self._records(stmt)

    async def _records(self, stmt: Select[Any]) -> list[AuditRecord]:
        # Positional: the select lists the columns in field order (much faster than by name,
        # which matters when verification reads a million rows).
        return [AuditRecord(*row) for row in await self._session.execute(stmt)]

    async def count(self) -> int:
        """How many records are stored."""
        return int(await self._session.scalar(select(func.count()).select_from(RECORDS)) or 0)

    async def search(
        self,
        where: AuditFilter,
        *,
        limit: int,
        after: int | None = None,
        before: int | None = None,
        newest_first: bool = True,
    ) -> list[AuditRecord]:
        """Matching records with ``after < seq < before``, newest or oldest first."""
        terms = where.conditions()
        if after is not None:
            terms.append(RECORDS.c.seq > after)
        if before is not None:
            terms.append(RECORDS.c.seq < before)
        order = RECORDS.c.seq.desc() if newest_first else RECORDS.c.seq
        stmt = _SELECT.where(and_(True, *terms)).order_by(order).limit(limit)
        return await self._records(stmt)

    async def summary(self, by: SummaryKey, where: AuditFilter, limit: int) -> list[SummaryRow]:
        """Record counts per (key, action), largest first, at most ``limit`` rows."""
        key = _SUMMARY_COLUMNS[by]
        count = func.count().label("n")
        stmt = (
            select(key.label("key"), RECORDS.c.action, count)
            .where(and_(True, *where.conditions()))
            .group_by(key, RECORDS.c.action)
            .order_by(count.desc(), key, RECORDS.c.action)
            .limit(limit)
        )
        rows = await self._session.execute(stmt)
        return [SummaryRow(r.key, str(r.action), int(r.n)) for r in rows]


def _values(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at,
        "action": record.action,
        "outcome": record.outcome,
        "username": record.username,
        "user_id": record.user_id,
        "department": record.department,
        "channel_id": record.channel_id,
        "address": record.address,
        "purpose": record.purpose,
        "detail": dict(record.detail),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }
