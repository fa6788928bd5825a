"""The transaction layer's index: matching messages to transactions and driving their timers.

Matching follows RFC 3261 §17.1.3 for responses (top Via branch + CSeq method) and §17.2.3
for requests (branch + sent-by + method, ACK finding its INVITE), with the RFC 2543 fallback
for branches without the magic cookie.

Timers: every transaction reports to the table after each input (``set_watcher``), and the
table keeps a heap of ``(deadline, seq, tx)``.  An entry is live only while it equals the
deadline last recorded for that transaction; superseded entries are skipped when they reach
the top (lazy invalidation), so rescheduling is O(log n) and nothing is ever searched.
Terminated transactions leave the table as soon as they report.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterator
from typing import cast

from sightline.sip.errors import SipError, TransactionError
from sightline.sip.message import Request, Response
from sightline.sip.transaction_base import (
    Action,
    Transaction,
    TransactionKey,
    client_key,
    server_key,
)
from sightline.sip.transaction_client import InviteClientTransaction, NonInviteClientTransaction
from sightline.sip.transaction_server import InviteServerTransaction, NonInviteServerTransaction

__all__ = ["ClientTransaction", "ServerTransaction", "TransactionTable"]

log = logging.getLogger(__name__)

ClientTransaction = InviteClientTransaction | NonInviteClientTransaction
ServerTransaction = InviteServerTransaction | NonInviteServerTransaction
AnyTransaction = ClientTransaction | ServerTransaction

# Rebuild the heap when superseded entries outnumber live ones by this factor.
_COMPACT_FACTOR = 4
_COMPACT_MIN = 1024


class TransactionTable:
    """Client and server transactions by key, with one timer heap for all of them."""

    def __init__(self) -> None:
        self._clients: dict[TransactionKey, ClientTransaction] = {}
        self._servers: dict[TransactionKey, ServerTransaction] = {}
        self._heap: list[tuple[float, int, AnyTransaction]] = []
        self._scheduled: dict[AnyTransaction, float] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)

    def __iter__(self) -> Iterator[AnyTransaction]:
        yield from list(self._clients.values())
        yield from list(self._servers.values())

    def add_client(self, tx: ClientTransaction) -> None:
        """Register a client transaction (before or after ``start``)."""
        if tx.key in self._clients:
            raise TransactionError(f"client transaction {tx.key} already exists")
        self._clients[tx.key] = tx
        self._watch(tx)

    def add_server(self, tx: ServerTransaction) -> None:
        """Register a server transaction created for a request that matched none."""
        if tx.key in self._servers:
            raise TransactionError(f"server transaction {tx.key} already exists")
        self._servers[tx.key] = tx
        self._watch(tx)

    def match_response(self, response: Response) -> ClientTransaction | None:
        """The client transaction a received response belongs to (§17.1.3)."""
        try:
            key = client_key(response)
        except SipError:
            return None
        return self._clients.get(key) if key.branch else None

    def match_request(self, request: Request) -> ServerTransaction | None:
        """The server transaction a received request (retransmission or ACK) belongs to."""
        try:
            key = server_key(request)
            tx = self._servers.get(key)
            if tx is not None and key.legacy and not _legacy_to_tag_matches(tx, request):
                return None
        except SipError:
            return None
        return tx

    def find_invite_for_cancel(self, cancel: Request) -> InviteServerTransaction | None:
        """The INVITE server transaction a CANCEL refers to (§9.2)."""
        try:
            key = server_key(cancel, method="INVITE")
            tx = self._servers.get(key)
            if tx is not None and key.legacy and not _legacy_to_tag_matches(tx, cancel):
                return None
        except SipError:
            return None
        return tx if isinstance(tx, InviteServerTransaction) else None

    def next_deadline(self) -> float | None:
        """The earliest timer of any transaction, or None."""
        heap = self._heap
        while heap and self._scheduled.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def handle_timeout(self, now: float) -> list[tuple[AnyTransaction, Action]]:
        """Fire every timer due at ``now``; terminated transactions are removed."""
        out: list[tuple[AnyTransaction, Action]] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, tx = heapq.heappop(heap)
            if self._scheduled.get(tx) != deadline:
                continue  # superseded entry
            del self._scheduled[tx]
            out.extend((tx, action) for action in tx.handle_timeout(now))
        return out

    def remove(self, tx: AnyTransaction) -> None:
        """Forget a transaction (terminated ones are forgotten automatically)."""
        if self._clients.get(tx.key) is tx:
            del self._clients[tx.key]
        if self._servers.get(tx.key) is tx:
            del self._servers[tx.key]
        self._scheduled.pop(tx, None)
        tx.set_watcher(None)

    # -- scheduling ----------------------------------------------------------------------

    def _watch(self, tx: AnyTransaction) -> None:
        tx.set_watcher(self._on_change)
        self._on_change(tx)

    def _on_change(self, base: Transaction) -> None:
        tx = cast(AnyTransaction, base)  # only transactions added through add_* are watched
        if tx.is_terminated:
            self.remove(tx)
            return
        deadline = tx.next_deadline()
        if deadline is None:
            self._scheduled.pop(tx, None)
            return
        if self._scheduled.get(tx) == deadline:
            return
        self._scheduled[tx] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), tx))
        if len(self._heap) > _COMPACT_FACTOR * len(self._scheduled) + _COMPACT_MIN:
            self._compact()

    def _compact(self) -> None:
        self._heap = [(d, next(self._seq), tx) for tx, d in self._scheduled.items()]
        heapq.heapify(self._heap)


def _legacy_to_tag_matches(tx: ServerTransaction, request: Request) -> bool:
    # §17.2.3: an RFC 2543 ACK carries the To tag of the response it acknowledges
    tag = request.to.tag
    if request.method == "ACK":
        sent = tx.final_response
        return sent is not None and sent.to.tag == tag
    return tx.request.to.tag == tag
