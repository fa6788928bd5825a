"""Checking the audit chain: every hash, every link, no gaps, every anchor's signature.

:class:`ChainVerifier` is the sans-IO core: feed it records and anchors in ``seq`` order and it
names the first broken link. :func:`verify_chain` pages through a database with it (keyset
pages of ``page_size`` records, so a million rows take one pass and constant memory).

What each check catches (the first that fails is reported, with its ``seq``):

- ``gap``: a record was deleted (seq N missing);
- ``hash``: a row was changed and its hash left alone;
- ``link``: a row was changed and re-hashed, so the next row no longer links to it (reported
  at the changed row);
- ``anchor``: the chain was rewritten consistently (every hash recomputed) from some row on;
  the first signed anchor after that row no longer matches (reported at the anchor, naming
  the range since the previous good anchor);
- ``anchor-signature`` / ``anchor-key``: an anchor was forged or altered, or signed with a key
  other than this installation's;
- ``truncated``: records after the chain's end were deleted, but an anchor signed one of them;
- ``anchor-missing``: an anchor promised the next one within ``next_within`` records (signed)
  and none came: anchors were deleted, typically to hide a rewrite after them. With
  ``first_within``, the same for a chain that has more records than that and no anchor at all.

Deleting or rewriting records after the last anchor, within its promise, cannot be told from a
shorter chain; the report gives how many records that tail holds (anchors are signed every
``anchor_every`` records, every ``anchor_interval_s`` seconds, at start and at shutdown, so the
tail stays short).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from sightline.access.audit_chain import anchor_key_id, anchor_signature_ok, record_hash
from sightline.store import Database
from sightline.store.repositories.audit import (
    GENESIS_HASH,
    AuditAnchor,
    AuditRecord,
    AuditRepository,
)

__all__ = ["ChainProblem", "ChainVerifier", "ProblemKind", "VerifyReport", "verify_chain"]

DEFAULT_PAGE_SIZE = 5000
_ANCHOR_PAGE = 10_000


class ProblemKind(StrEnum):
    """What kind of break was found."""

    GAP = "gap"
    HASH = "hash"
    LINK = "link"
    ANCHOR = "anchor"
    ANCHOR_SIGNATURE = "anchor-signature"
    ANCHOR_KEY = "anchor-key"
    TRUNCATED = "truncated"
    ANCHOR_MISSING = "anchor-missing"


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first broken link: at record ``seq``, what is wrong."""

    seq: int
    kind: ProblemKind
    message: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of a verification run."""

    records: int
    anchors: int
    head_seq: int
    last_anchor_seq: int
    problem: ChainProblem | None
    complete: bool = True

    @property
    def ok(self) -> bool:
        """No problem found (``complete`` says whether the whole chain was walked)."""
        return self.problem is None

    @property
    def unanchored(self) -> int:
        """Records after the last anchor (protected only by their hashes)."""
        return max(self.head_seq - self.last_anchor_seq, 0)


class ChainVerifier:
    """Sans-IO chain checker; ``feed`` records in order after the anchors up to them."""

    def __init__(self, anchor_key: bytes, *, first_within: int | None = None) -> None:
        self._key = anchor_key
        # the record by which the next anchor must come (None: no promise to hold)
        self._due: int | None = first_within
        self._promised_by: int | None = None  # the anchor that promised it (None: the start)
        self._key_id = anchor_key_id(anchor_key)
        self._anchors: dict[int, AuditAnchor] = {}
        self.seq = 0
        self.hash = GENESIS_HASH
        self.records = 0
        self.anchors_checked = 0
        self.last_anchor_seq = 0
        self.problem: ChainProblem | None = None

    def add_anchors(self, anchors: Iterable[AuditAnchor]) -> None:
        """Anchors to check when their records come."""
        for anchor in anchors:
            self._anchors[anchor.seq] = anchor

    def feed(self, records: Iterable[AuditRecord]) -> ChainProblem | None:
        """Check records following the ones fed before; the first problem, once found."""
        for record in records:
            if self.problem is not None:
                break
            self.problem = self._check(record)
            if self.problem is None:
                self.seq, self.hash = record.seq, record.hash
                self.records += 1
        return self.problem

    def finish(self) -> ChainProblem | None:
        """After the last record: anchors beyond it mean the tail was cut off."""
        if self.problem is None and self._anchors:
            beyond = min(self._anchors)
            self.problem = ChainProblem(
                self.seq + 1,
                ProblemKind.TRUNCATED,
                f"the chain ends at record {self.seq} but anchor {beyond} signs a later record: "
                f"records {self.seq + 1}..{beyond} (at least) were deleted",
            )
        return self.problem

    def _check(self, record: AuditRecord) -> ChainProblem | None:
        expected = self.seq + 1
        if record.seq != expected:
            return ChainProblem(
                expected,
                ProblemKind.GAP,
                f"record {expected} is missing (the next stored record is {record.seq})",
            )
        if record_hash(record) != record.hash:
            return ChainProblem(
                record.seq,
                ProblemKind.HASH,
                f"record {record.seq} does not match its hash: the row was changed",
            )
        if record.prev_hash != self.hash:
            return ChainProblem(
                self.seq,
                ProblemKind.LINK,
                f"record {record.seq} does not link to record {self.seq}: record {self.seq} "
                f"was changed and re-hashed (or the link of {record.seq} was edited)",
            )
        anchor = self._anchors.pop(record.seq, None)
        if anchor is not None:
            return self._check_anchor(record, anchor)
        if self._due is not None and record.seq > self._due:
            return self._missing_anchor(record.seq)
        return None

    def _missing_anchor(self, seq: int) -> ChainProblem:
        due, by = self._due, self._promised_by
        origin = (
            f"anchor {by} promised the next one within {due - by} records"
            if by is not None and due is not None
            else f"the chain has no anchor in its first {due} records"
        )
        return ChainProblem(
            self.last_anchor_seq + 1,
            ProblemKind.ANCHOR_MISSING,
            f"no anchor signs records {self.last_anchor_seq + 1}..{due} but {origin}: anchors "
            f"were deleted, and the records after {self.last_anchor_seq} may have been rewritten",
        )

    def _check_anchor(self, record: AuditRecord, anchor: AuditAnchor) -> ChainProblem | None:
        seq = record.seq
        if anchor.key_id != self._key_id:
            return ChainProblem(
                seq,
                ProblemKind.ANCHOR_KEY,
                f"anchor {seq} was signed with another key ({anchor.key_id}, this server's is "
                f"{self._key_id}): wrong secrets.json, or a forged anchor",
            )
        if not anchor_signature_ok(self._key, anchor):
            return ChainProblem(
                seq,
                ProblemKind.ANCHOR_SIGNATURE,
                f"anchor {seq} has a bad signature: the anchor was forged or altered",
            )
        if anchor.hash != record.hash:
            return ChainProblem(
                seq,
                ProblemKind.ANCHOR,
                f"record {seq} differs from its signed anchor: the chain was rewritten "
                f"between records {self.last_anchor_seq + 1} and {seq}",
            )
        self.anchors_checked += 1
        self.last_anchor_seq = seq
        if anchor.next_within is None:  # signed before anchors made promises
            self._due = self._promised_by = None
        else:
            self._due, self._promised_by = seq + anchor.next_within, seq
        return None


async def verify_chain(
    database: Database,
    anchor_key: bytes,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    max_records: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    first_within: int | None = None,
) -> VerifyReport:
    """Walk the whole chain (or its first ``max_records``) and report the first problem.

    ``first_within``: the first anchor must sign one of the first that many records (the
    writer's promise at the chain's start, :func:`~sightline.access.audit_chain.anchor_promise`).
    """
    verifier = ChainVerifier(anchor_key, first_within=first_within)
    async with database.session() as session:
        total = await AuditRepository(session).count()
    anchors = _AnchorPager(database, verifier)
    complete = True
    while verifier.problem is None:
        if max_records is not None and verifier.records >= max_records:
            complete = False
            break
        size = page_size if max_records is None else min(page_size, max_records - verifier.records)
        async with database.session() as session:
            records = await AuditRepository(session).page(verifier.seq, size)
        if not records:
            await anchors.load_all()
            verifier.finish()
            break
        await anchors.load_until(records[-1].seq)
        verifier.feed(records)
        if progress is not None:
            progress(verifier.records, total)
    return VerifyReport(
        records=verifier.records,
        anchors=verifier.anchors_checked,
        head_seq=verifier.seq,
        last_anchor_seq=verifier.last_anchor_seq,
        problem=verifier.problem,
        complete=complete,
    )


class _AnchorPager:
    """Loads anchors page by page, just ahead of the records being checked."""

    def __init__(self, database: Database, verifier: ChainVerifier) -> None:
        self._database = database
        self._verifier = verifier
        self._cursor = 0
        self._done = False

    async def load_until(self, seq: int) -> None:
        while not self._done and self._cursor < seq:
            async with self._database.session() as session:
                page = await AuditRepository(session).anchors(self._cursor, _ANCHOR_PAGE)
            self._done = len(page) < _ANCHOR_PAGE
            if page:
                self._cursor = page[-1].seq
            self._verifier.add_anchors(page)

    async def load_all(self) -> None:
        while not self._done:
            await self.load_until(self._cursor + 1)
