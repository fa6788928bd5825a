"""Reading the audit trail for auditors: search, per-channel/department/user counts, verify.

The API's audit routes call this, never the repository; every read is a keyset page or a
bounded aggregate, so no request walks an unbounded number of rows at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sightline.access.audit_verify import VerifyReport, verify_chain
from sightline.errors import SightlineError
from sightline.store import Database
from sightline.store.repositories.audit import (
    AuditFilter,
    AuditRecord,
    AuditRepository,
    SummaryKey,
)

__all__ = ["AuditQueries", "KeySummary", "VerifyBusy"]

# (key, action) pairs read for one summary: far more than a page of the UI shows.
_SUMMARY_ROWS = 20_000
_EXPORT_PAGE = 1000


class VerifyBusy(SightlineError):
    """A verification is already running on this node."""


@dataclass(frozen=True, slots=True)
class KeySummary:
    """Record counts by action of one channel, department or user."""

    key: str | None
    total: int
    actions: dict[str, int] = field(default_factory=dict)


class AuditQueries:
    """Search, summaries, CSV pages and verification over one database."""

    def __init__(
        self, database: Database, anchor_key: bytes, *, first_within: int | None = None
    ) -> None:
        self._db = database
        self._anchor_key = anchor_key
        self._first_within = first_within
        self._verifying = asyncio.Lock()

    async def search(
        self, where: AuditFilter, *, limit: int, cursor: int | None, newest_first: bool
    ) -> list[AuditRecord]:
        """One page: records past ``cursor`` (a seq) in the order asked."""
        async with self._db.session() as session:
            repo = AuditRepository(session)
            if newest_first:
                return await repo.search(where, limit=limit, before=cursor, newest_first=True)
            return await repo.search(where, limit=limit, after=cursor, newest_first=False)

    async def export(self, where: AuditFilter) -> AsyncIterator[list[AuditRecord]]:
        """Every matching record, oldest first, in pages (one short session per page)."""
        cursor = 0
        while True:
            page = await self.search(where, limit=_EXPORT_PAGE, cursor=cursor, newest_first=False)
            if not page:
                return
            yield page
            cursor = page[-1].seq

    async def summary(self, by: SummaryKey, where: AuditFilter, limit: int) -> list[KeySummary]:
        """Counts per key and action, the busiest ``limit`` keys first."""
        async with self._db.session() as session:
            rows = await AuditRepository(session).summary(by, where, _SUMMARY_ROWS)
        grouped: dict[str | None, dict[str, int]] = {}
        for row in rows:
            grouped.setdefault(row.key, {})[row.action] = row.count
        out = [KeySummary(k, sum(a.values()), dict(sorted(a.items()))) for k, a in grouped.items()]
        out.sort(key=lambda s: (-s.total, s.key or ""))
        return out[:limit]

    async def verify(self, max_records: int | None = None) -> VerifyReport:
        """Check the chain (its first ``max_records``); :class:`VerifyBusy` if one runs."""
        if self._verifying.locked():
            raise VerifyBusy("a verification of the audit chain is already running")
        async with self._verifying:
            return await verify_chain(
                self._db,
                self._anchor_key,
                max_records=max_records,
                first_within=self._first_within,
            )
