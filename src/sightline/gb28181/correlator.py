"""Matching MANSCDP answers to the queries that asked for them. Sans-IO.

A device answers a query in two steps (§4.1 of the notes): a bodyless 200 to the MESSAGE, then
one or more separate MESSAGEs with a ``<Response>`` carrying the query's SN. Answers are keyed
by (device, CmdType, SN), where *device* is the SIP-level sender (the From user), not the XML
``DeviceID``: an answer about a channel carries the channel's ID there.

Collecting depends on the command:

    single      first answer completes it (DeviceInfo, DeviceStatus, PresetQuery, controls)
    count(n)    n answers complete it (ConfigDownload sends one per requested ConfigType)
    list        Catalog and RecordInfo, split over several messages (Annex N/M): items are
                gathered until as many distinct items as ``SumNum`` have arrived

List answers are tolerant of what devices actually send: parts in any order; the same item
sent twice (kept once); ``SumNum`` that changes between parts (the largest value wins, since
some devices write the count of the current part in early parts and the total later); an
empty result as ``SumNum`` 0. When the deadline passes, a list query completes with what
arrived, flagged ``complete=False``; a query that got nothing at all times out.

Timers are inputs: :meth:`Correlator.next_deadline` and :meth:`Correlator.handle_timeout`.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum

from sightline.gb28181.manscdp import (
    CatalogItem,
    CatalogResponse,
    Message,
    RecordInfoResponse,
    RecordItem,
)

__all__ = ["Collect", "Correlator", "Outcome", "QueryKey"]


@dataclass(frozen=True, slots=True)
class QueryKey:
    """What identifies an answer: the answering device, the command and the SN."""

    device_id: str
    cmd_type: str
    sn: int


class Collect(Enum):
    """How many answers a query waits for."""

    SINGLE = "single"
    COUNT = "count"
    LIST = "list"


@dataclass(frozen=True)
class Outcome:
    """A finished query: every answer message, the reassembled items, and how it ended.

    ``complete`` is False when the deadline passed first; ``timed_out`` when nothing came.
    """

    key: QueryKey
    messages: tuple[Message, ...]
    items: tuple[object, ...] = ()
    complete: bool = True

    @property
    def timed_out(self) -> bool:
        """True when no answer arrived at all."""
        return not self.messages


@dataclass
class _Pending:
    key: QueryKey
    collect: Collect
    deadline: float
    seq: int
    expected_messages: int = 1
    sum_num: int | None = None
    messages: list[Message] = field(default_factory=list)
    items: dict[Hashable, object] = field(default_factory=dict)

    def add(self, message: Message) -> bool:
        """Take one answer; True when the query is complete."""
        self.messages.append(message)
        if self.collect is Collect.SINGLE:
            return True
        if self.collect is Collect.COUNT:
            return len(self.messages) >= self.expected_messages
        total, items = _list_of(message)
        if total is not None:
            self.sum_num = total if self.sum_num is None else max(self.sum_num, total)
        for item in items:
            self.items.setdefault(_identity(item), item)
        if self.sum_num is None:
            return False
        return len(self.items) >= self.sum_num

    def outcome(self, complete: bool) -> Outcome:
        return Outcome(self.key, tuple(self.messages), tuple(self.items.values()), complete)


def _list_of(message: Message) -> tuple[int | None, tuple[object, ...]]:
    if isinstance(message, CatalogResponse | RecordInfoResponse):
        return message.sum_num, message.items
    return None, ()


def _identity(item: object) -> Hashable:
    if isinstance(item, CatalogItem):
        return ("catalog", item.device_id)
    if isinstance(item, RecordItem):
        # two segments of one channel differ by their times or file; a resent one is equal
        return item
    return id(item)


class Correlator:
    """Pending queries and their partial answers."""

    def __init__(self) -> None:
        self._pending: dict[QueryKey, _Pending] = {}
        self._deadlines: list[tuple[float, int, QueryKey]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, key: object) -> bool:
        return key in self._pending

    def expect(
        self, key: QueryKey, deadline: float, collect: Collect = Collect.SINGLE, count: int = 1
    ) -> None:
        """Start waiting for answers to ``key`` until ``deadline``."""
        if key in self._pending:
            raise ValueError(f"already waiting for {key}")
        self._seq += 1
        self._pending[key] = _Pending(key, collect, deadline, self._seq, max(1, count))
        heapq.heappush(self._deadlines, (deadline, self._seq, key))

    def cancel(self, key: QueryKey) -> Outcome | None:
        """Stop waiting (e.g. the request itself failed); returns what arrived, if anything."""
        pending = self._pending.pop(key, None)
        return None if pending is None else pending.outcome(complete=False)

    def feed(self, device_id: str, message: Message) -> Outcome | None:
        """An answer from ``device_id``; returns the outcome if it completed a query.

        Raises ``KeyError`` when nothing waits for it, so the caller can treat it as
        unsolicited (e.g. a catalog pushed without a query, or a late part).
        """
        key = QueryKey(device_id, message.command, message.sn)
        pending = self._pending[key]
        if not pending.add(message):
            return None
        del self._pending[key]
        return pending.outcome(complete=True)

    def next_deadline(self) -> float | None:
        """The earliest deadline of a query still waiting."""
        heap = self._deadlines
        while heap and not self._live(heap[0][1], heap[0][2]):
            heapq.heappop(heap)  # finished before its deadline
        return heap[0][0] if heap else None

    def handle_timeout(self, now: float) -> list[Outcome]:
        """Finish every query whose deadline is at or before ``now`` with what it has."""
        out: list[Outcome] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            if self._live(seq, key):
                out.append(self._pending.pop(key).outcome(complete=False))
        return out

    def _live(self, seq: int, key: QueryKey) -> bool:
        pending = self._pending.get(key)
        return pending is not None and pending.seq == seq
