"""The transaction layer's index: matching messages to transactions and driving their timers.

Matching follows RFC 3261 §17.1.3 for responses (top Via branch + CSeq method) and §17.2.3
for requests (branch + sent-by + method, ACK finding its INVITE), with the RFC 2543 fallback
for branches without the magic cookie.

Timers: every transaction reports to the table after each input (``set_watcher``), and the
table keeps a heap of ``(deadline, seq)`` with ``seq`` naming the transaction's live entry.
Superseded entries are skipped when they reach the top (lazy invalidation), so rescheduling is
O(log n), nothing is ever searched, and a removed transaction is released at once (the heap
holds no reference to it). Terminated transactions leave the table as soon as they report.

Retired transactions: a non-INVITE server transaction over UDP spends Timer J (32 s) in
Completed doing only one thing, answering retransmissions of its request with its final
response. ``retire`` keeps it in that form: key, response bytes, destination and deadline, in
plain tuples (which the cyclic garbage collector does not track), and drops the parsed request,
response and machine. At a thousand requests per second that is the difference between ~30
and ~0 tracked objects for each of 32,000 completed transactions, which is what full
collections spend their time traversing. ``retired_response`` answers the retransmissions.
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
    TransactionState,
    client_key,
    server_key,
)
from sightline.sip.transaction_client import InviteClientTransaction, NonInviteClientTransaction
from sightline.sip.transaction_server import InviteServerTransaction, NonInviteServerTransaction

__all__ = ["ClientTransaction", "RetiredResponse", "ServerTransaction", "TransactionTable"]

log = logging.getLogger(__name__)

ClientTransaction = InviteClientTransaction | NonInviteClientTransaction
ServerTransaction = InviteServerTransaction | NonInviteServerTransaction
AnyTransaction = ClientTransaction | ServerTransaction

# Rebuild the heap when superseded entries outnumber live ones by this factor.
_COMPACT_FACTOR = 4
_COMPACT_MIN = 1024

# What a retired transaction sends again: the response bytes, destination host and port.
RetiredResponse = tuple[bytes, str, int]
# method, branch, sent-by: a TransactionKey as a plain tuple (not tracked by the collector)
_RetiredKey = tuple[str, str, str]


class TransactionTable:
    """Client and server transactions by key, with one timer heap for all of them."""

    def __init__(self) -> None:
        self._clients: dict[TransactionKey, ClientTransaction] = {}
        self._servers: dict[TransactionKey, ServerTransaction] = {}
        self._heap: list[tuple[float, int]] = []
        self._scheduled: dict[AnyTransaction, tuple[float, int]] = {}
        self._by_seq: dict[int, AnyTransaction] = {}
        self._seq = itertools.count()
        self._retired: dict[_RetiredKey, tuple[bytes, str, int, float]] = {}
        self._retired_expiry: list[tuple[float, _RetiredKey]] = []

    def __len__(self) -> int:
        """Live transactions, retired ones included."""
        return len(self._clients) + len(self._servers) + len(self._retired)

    def __iter__(self) -> Iterator[AnyTransaction]:
        """The transactions kept as objects (retired ones are only bytes and no longer are)."""
        yield from list(self._clients.values())
        yield from list(self._servers.values())

    @property
    def retired_count(self) -> int:
        """Completed transactions kept only as their final response (see the module doc)."""
        return len(self._retired)

    def has_server(self, key: TransactionKey) -> bool:
        """True while a live server transaction holds ``key``."""
        return key in self._servers

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

    def match_response(
        self, response: Response, key: TransactionKey | None = None
    ) -> ClientTransaction | None:
        """The client transaction a received response belongs to (§17.1.3); ``key`` is its
        ``client_key`` when the caller has it already (the lite scan)."""
        if key is None:
            try:
                key = client_key(response)
            except SipError:
                return None
        return self._clients.get(key) if key.branch else None

    def match_request(
        self, request: Request, *, key: TransactionKey | None = None
    ) -> ServerTransaction | None:
        """The server transaction a received request (retransmission or ACK) belongs to.

        ``key`` is ``server_key(request)`` when the caller already has it.
        """
        try:
            if key is None:
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
        """The earliest timer of any transaction, or None.

        Retired transactions do not count: their expiry needs no action, so nothing has to
        wake up for it (``retired_response`` checks the deadline itself).
        """
        heap = self._heap
        while heap and heap[0][1] not in self._by_seq:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def handle_timeout(self, now: float) -> list[tuple[AnyTransaction, Action]]:
        """Fire every timer due at ``now``; terminated transactions are removed."""
        out: list[tuple[AnyTransaction, Action]] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq = heapq.heappop(heap)
            tx = self._by_seq.pop(seq, None)
            if tx is None:
                continue  # superseded entry
            del self._scheduled[tx]
            out.extend((tx, action) for action in tx.handle_timeout(now))
        self._expire_retired(now)
        return out

    def remove(self, tx: AnyTransaction) -> None:
        """Forget a transaction (terminated ones are forgotten automatically)."""
        if self._clients.get(tx.key) is tx:
            del self._clients[tx.key]
        if self._servers.get(tx.key) is tx:
            del self._servers[tx.key]
        entry = self._scheduled.pop(tx, None)
        if entry is not None:
            del self._by_seq[entry[1]]
        tx.set_watcher(None)

    # -- retired transactions ------------------------------------------------------------

    def retire(self, tx: ServerTransaction, wire: bytes, host: str, port: int, now: float) -> bool:
        """Keep a Completed non-INVITE UDP server transaction as ``wire`` sent to host:port.

        ``wire`` must be the serialized final response the transaction sent. The transaction
        leaves the table (and stops reporting to it); until its Timer J deadline,
        ``retired_response`` gives what to send for a retransmission of its request. Returns
        False, changing nothing, for a transaction that cannot be kept this way: INVITE, not
        Completed, reliable transport, or an RFC 2543 key (whose matching needs the To tag).
        """
        deadline = tx.pending_timers().get("J")
        if (
            tx.state is not TransactionState.COMPLETED
            or deadline is None
            or tx.reliable
            or tx.key.legacy
            or self._servers.get(tx.key) is not tx
        ):
            return False
        self.remove(tx)
        self._keep_retired(tx.key, wire, host, port, deadline=deadline, now=now)
        return True

    def retire_answered(
        self, key: TransactionKey, wire: bytes, host: str, port: int, *, deadline: float, now: float
    ) -> bool:
        """Keep a non-INVITE UDP request answered at once with a final response, as retired.

        The same end state as ``retire`` for a transaction that was never built: its request
        was answered before anything else could arrive, so only Timer J's absorption of
        retransmissions remains. Returns False, changing nothing, for an INVITE or RFC 2543
        key, or a key a live transaction still holds.
        """
        if key.method == "INVITE" or key.legacy or key in self._servers:
            return False
        self._keep_retired(key, wire, host, port, deadline=deadline, now=now)
        return True

    def _keep_retired(
        self, key: TransactionKey, wire: bytes, host: str, port: int, *, deadline: float, now: float
    ) -> None:
        plain = (key.method, key.branch, key.sent_by)
        self._retired[plain] = (wire, host, port, deadline)
        heapq.heappush(self._retired_expiry, (deadline, plain))
        self._expire_retired(now)

    def retired_response(self, key: TransactionKey, now: float) -> RetiredResponse | None:
        """What to send again for a request whose transaction was retired, or None."""
        entry = self._retired.get((key.method, key.branch, key.sent_by))
        if entry is None or key.legacy:
            return None
        if entry[3] <= now:
            return None  # Timer J fired: a new request, to be answered anew
        return entry[0], entry[1], entry[2]

    def _expire_retired(self, now: float) -> None:
        expiry = self._retired_expiry
        retired = self._retired
        while expiry and expiry[0][0] <= now:
            deadline, key = heapq.heappop(expiry)
            entry = retired.get(key)
            if entry is not None and entry[3] == deadline:
                del retired[key]

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
        old = self._scheduled.get(tx)
        if old is not None:
            if old[0] == deadline:
                return
            del self._by_seq[old[1]]
        if deadline is None:
            self._scheduled.pop(tx, None)
            return
        seq = next(self._seq)
        self._scheduled[tx] = (deadline, seq)
        self._by_seq[seq] = tx
        heapq.heappush(self._heap, (deadline, seq))
        if len(self._heap) > _COMPACT_FACTOR * len(self._scheduled) + _COMPACT_MIN:
            self._compact()

    def _compact(self) -> None:
        self._heap = list(self._scheduled.values())
        heapq.heapify(self._heap)


def _legacy_to_tag_matches(tx: ServerTransaction, request: Request) -> bool:
    # §17.2.3: an RFC 2543 ACK carries the To tag of the response it acknowledges
    tag = request.to.tag
    if request.method == "ACK":
        sent = tx.final_response
        return sent is not None and sent.to.tag == tag
    return tx.request.to.tag == tag
