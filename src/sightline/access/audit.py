"""The audit log: the real :class:`~sightline.access.audit_events.AuditSink` of a node.

``record(event)`` appends to an in-memory queue and returns (under 1 µs, less than building
the event; docs/benchmarks.md); it never blocks and never raises. One writer task drains the
queue in batches of up to ``batch_max`` records, each batch one transaction that links the
records to the chain head (:func:`~sightline.access.audit_chain.chain`) and, every
``anchor_every`` records or ``anchor_interval_s`` seconds, stores a signed anchor.

Nothing is dropped: when ``queue_max`` records are waiting (the database is down or far too
slow), every further record goes to the spill file (:mod:`sightline.access.audit_spill`) until
the writer has caught up with the queue and ingested the file, so the chain keeps the order in
which records arrived. ``close`` writes what is queued within a time limit and spills the rest
for the next start; it also signs a final anchor.

Several nodes on one PostgreSQL database: each batch takes a transaction-scoped advisory lock
and reads the chain head inside the transaction, so writers of different nodes interleave whole
batches and the chain stays one line (``AuditRepository.lock_chain``).

Call ``record`` from the event loop's thread (every producer in a node is).

A record naming a user but no department gets the user's department filled in by
``departments`` (the node sets it to :meth:`AccessModel.department_name`), so the
per-department audit views see every action of a department's users.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sightline.access.audit_chain import (
    ChainHead,
    anchor_key,
    anchor_promise,
    chain,
    sign_anchor,
)
from sightline.access.audit_events import AuditEvent
from sightline.access.audit_query import AuditQueries
from sightline.access.audit_spill import AuditSpill
from sightline.config import AuditSettings
from sightline.store import Database
from sightline.store.repositories.audit import AuditRepository

__all__ = ["AuditLog", "AuditStats"]

log = logging.getLogger(__name__)

_RETRY_MIN_S = 0.5
_RETRY_MAX_S = 30.0


@dataclass(frozen=True, slots=True)
class AuditStats:
    """Counters of one audit log since start."""

    accepted: int
    written: int
    queued: int
    spilled: int
    lost: int
    failed_batches: int
    anchors: int


class AuditLog:
    """Queue audit events and write them, hash-chained, in batches (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        server_key: bytes,
        settings: AuditSettings,
        *,
        spill_path: Path,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.settings = settings
        self.anchor_key = anchor_key(server_key)
        self.queries = AuditQueries(database, self.anchor_key, first_within=self._promise)
        self._spill = AuditSpill(spill_path)
        self._clock = clock
        self._monotonic = monotonic
        self._queue: deque[AuditEvent] = deque()
        self._spilling = False
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closing = self._closed = False
        self._anchored_seq = 0
        self._anchor_due = 0.0
        self._accepted = self._written = self._spilled = self._lost = 0
        self._failed_batches = self._anchors = 0
        # user ID -> department name, filling records that name a user but no department
        self.departments: Callable[[int], str | None] | None = None

    # -- the hot path -------------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        """Queue ``event``; returns at once and never raises."""
        try:
            if not isinstance(event, AuditEvent):
                raise TypeError(f"not an AuditEvent: {type(event).__name__}")
            self._accepted += 1
            if event.department is None and event.user_id is not None and self.departments:
                department = self.departments(event.user_id)
                if department is not None:
                    event = replace(event, department=department)
            queue = self._queue
            if self._spilling or len(queue) >= self.settings.queue_max:
                self._overflow(event)
                return
            queue.append(event)
            size = len(queue)
            if size == 1:
                self._wake.set()
            elif size >= self.settings.batch_max:
                self._full.set()
        except Exception:  # a sink must not break its caller
            self._lost += 1
            log.exception("audit record lost: %r", event)

    def _overflow(self, event: AuditEvent) -> None:
        if not self._spilling:
            self._spilling = True
            log.error(
                "audit queue full (%d records waiting): spilling to %s until the writer catches up",
                len(self._queue),
                self._spill.path,
            )
        try:
            self._spill.append(event)
            self._spilled += 1
            if self._closed:
                self._spill.close()  # nobody is left to close the handle
        except OSError as exc:
            self._lost += 1
            log.error(
                "audit record could not be spilled (%s), it is only in this log: %r", exc, event
            )
        self._wake.set()

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Read where the chain and its anchors stand and start the writer.

        Records a crash left after the last anchor are anchored at once, within the promise
        that anchor made, whatever ``anchor_every`` and ``batch_max`` are now.
        """
        await self._anchor_head()
        async with self.database.session() as session:
            last = await AuditRepository(session).last_anchor()
        self._anchored_seq = last.seq if last is not None else 0
        self._anchor_due = self._monotonic() + self.settings.anchor_interval_s
        if self._spill.has_data():
            log.warning("audit spill %s holds records from before: writing them", self._spill.path)
            self._spilling = True
        self._task = asyncio.ensure_future(self._run())

    async def flush(self) -> None:
        """Wait until every record accepted so far is written (or known lost)."""
        target = self._accepted
        self._full.set()
        self._wake.set()
        async with self._progress:
            await self._progress.wait_for(
                lambda: self._written + self._lost >= target or self._writer_gone()
            )
        self._raise_if_writer_failed()

    async def close(self, timeout_s: float | None = None) -> None:
        """Write what is queued (at most ``timeout_s``), sign a final anchor, stop the writer."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        self._full.set()
        limit = self.settings.shutdown_timeout_s if timeout_s is None else timeout_s
        try:
            async with asyncio.timeout(limit):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._spill_queue()
        except Exception:
            log.exception("audit writer failed at shutdown")
            self._spill_queue()
        self._task = None
        self._spill.close()
        self._closed = True  # a record arriving after this waits in the spill for next start
        self._spilling = True
        log.info("audit log closed: %s", self.stats())

    def _spill_queue(self) -> None:
        waiting = len(self._queue)
        while self._queue:
            event = self._queue.popleft()
            self._spilled += 1
            try:
                self._spill.append(event)
            except OSError:
                self._lost += 1
                log.error("audit record lost at shutdown: %r", event)
        if waiting:
            log.error(
                "audit: %d records not written in time; kept in %s for the next start",
                waiting,
                self._spill.path,
            )

    def stats(self) -> AuditStats:
        """The counters (for metrics, logs and tests)."""
        return AuditStats(
            accepted=self._accepted,
            written=self._written,
            queued=len(self._queue),
            spilled=self._spilled,
            lost=self._lost,
            failed_batches=self._failed_batches,
            anchors=self._anchors,
        )

    def _writer_gone(self) -> bool:
        return self._task is None or self._task.done()

    def _raise_if_writer_failed(self) -> None:
        if self._task is not None and self._task.done() and not self._task.cancelled():
            exc = self._task.exception()
            if exc is not None:
                raise exc

    # -- the writer ---------------------------------------------------------------------------

    async def _run(self) -> None:
        retry_s = 0.0
        while True:
            if not self._queue and not self._spilling:
                if self._closing:
                    break
                await self._idle()
                continue
            if retry_s == 0.0 and not self._closing:
                await self._gather()
            try:
                await self._write_next()
                retry_s = 0.0
            except Exception:
                self._failed_batches += 1
                retry_s = min(max(retry_s * 2, _RETRY_MIN_S), _RETRY_MAX_S)
                log.exception(
                    "audit batch not written (%d waiting); retry in %.1f s",
                    len(self._queue),
                    retry_s,
                )
                await asyncio.sleep(retry_s)
        await self._final_anchor()

    async def _idle(self) -> None:
        """Wait for a record, signing a time-based anchor when one is due."""
        wait_s = self._anchor_due - self._monotonic()
        if wait_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._wake.wait()
        self._wake.clear()
        # woken by a record: the batch about to be written signs the anchor, covering it too
        if not self._queue and self._monotonic() >= self._anchor_due:
            try:
                await self._anchor_head()
            except Exception:
                log.exception("audit anchor not written")
            self._anchor_due = self._monotonic() + self.settings.anchor_interval_s

    async def _gather(self) -> None:
        """Let a small batch grow for up to ``flush_interval_s`` (fewer, larger transactions)."""
        if len(self._queue) >= self.settings.batch_max or self._spilling:
            return
        self._full.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.flush_interval_s):
                await self._full.wait()

    async def _write_next(self) -> None:
        batch_max = self.settings.batch_max
        if self._queue:
            count = min(len(self._queue), batch_max)
            batch = [self._queue.popleft() for _ in range(count)]
            try:
                await self._write(batch)
            except BaseException:
                self._queue.extendleft(reversed(batch))
                raise
            return
        events, offset = self._spill.read(batch_max)
        if events:
            await self._write(events)
        self._spill.consumed(offset)
        if not events and not self._spill.has_data():
            self._spill.clear()  # no await since the last read: nothing can arrive in between
            self._spilling = False
            log.warning("audit spill ingested; records are queued in memory again")

    async def _write(self, events: list[AuditEvent]) -> None:
        now = self._monotonic()
        async with self.database.write_session() as session:
            repo = AuditRepository(session)
            await repo.lock_chain()
            stored = await repo.head()
            head = ChainHead(*stored) if stored is not None else ChainHead()
            records, head = chain(head, events)
            await repo.append(records)
            anchor = None
            due = now >= self._anchor_due
            if head.seq - self._anchored_seq >= self.settings.anchor_every or due:
                anchor = sign_anchor(
                    self.anchor_key, head.seq, head.hash, self._now(), self._promise
                )
                await repo.add_anchor(anchor)
        self._written += len(events)
        if anchor is not None:
            self._anchored(anchor.seq)
        async with self._progress:
            self._progress.notify_all()

    def _anchored(self, seq: int) -> None:
        self._anchored_seq = seq
        self._anchors += 1
        self._anchor_due = self._monotonic() + self.settings.anchor_interval_s

    async def _anchor_head(self) -> None:
        """Sign the chain head if records were written since the last anchor."""
        async with self.database.write_session() as session:
            repo = AuditRepository(session)
            await repo.lock_chain()
            stored = await repo.head()
            last = await repo.last_anchor()
            if stored is None or (last is not None and last.seq >= stored[0]):
                return
            anchor = sign_anchor(self.anchor_key, stored[0], stored[1], self._now(), self._promise)
            await repo.add_anchor(anchor)
        self._anchored(anchor.seq)

    async def _final_anchor(self) -> None:
        try:
            await self._anchor_head()
        except Exception:
            log.exception("final audit anchor not written")

    @property
    def _promise(self) -> int:
        return anchor_promise(self.settings.anchor_every, self.settings.batch_max)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)
