"""Counters the SIP stack keeps; the HTTP layer exports them to Prometheus.

Plain integers keep ``sip`` free of any metrics library and cheap on the hot path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sightline.sip.message import KNOWN_METHODS

__all__ = ["SipStats"]


@dataclass
class SipStats:
    """Cumulative counters since start."""

    requests_by_method: Counter[str] = field(default_factory=Counter)
    responses_by_class: Counter[str] = field(default_factory=Counter)
    responses_sent_by_class: Counter[str] = field(default_factory=Counter)
    parse_errors: Counter[str] = field(default_factory=Counter)
    auth_failures: int = 0
    auth_successes: int = 0
    bans: int = 0
    dropped_banned: int = 0
    dropped_rate_limited: int = 0
    dropped_overload: int = 0  # shed by a REGISTER worker while the main process lagged
    retransmissions: int = 0
    transaction_timeouts: int = 0
    tcp_connections: int = 0

    def count_request(self, method: str) -> None:
        """Count a received request; unknown methods share one label to bound cardinality."""
        self.requests_by_method[method if method in KNOWN_METHODS else "OTHER"] += 1

    def take(self) -> SipStats:
        """The counts since the last ``take`` (or the start); this object restarts at zero.

        Gauges (``tcp_connections``) are not moved. Used by processes that report their
        counts to another one, which ``add``s them.
        """
        taken = SipStats()
        for name in _COUNTERS:
            counter: Counter[str] = getattr(self, name)
            setattr(taken, name, Counter(counter))
            counter.clear()
        for name in _INTEGERS:
            setattr(taken, name, getattr(self, name))
            setattr(self, name, 0)
        return taken

    def add(self, other: SipStats) -> None:
        """Add another process's counts (from its ``take``) to these."""
        for name in _COUNTERS:
            counter: Counter[str] = getattr(self, name)
            counter.update(getattr(other, name))
        for name in _INTEGERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def take_counts(self) -> list[tuple[str, str, int]]:
        """Like ``take``, as (counter, label, count) for each non-zero count ("" for no label).

        Cheap enough for every loop turn: nothing is built for counts that stayed at zero.
        """
        out: list[tuple[str, str, int]] = []
        for name in _COUNTERS:
            counter: Counter[str] = getattr(self, name)
            if counter:
                out.extend((name, label, count) for label, count in counter.items() if count)
                counter.clear()
        for name in _INTEGERS:
            count = getattr(self, name)
            if count:
                out.append((name, "", count))
                setattr(self, name, 0)
        return out

    def add_counts(self, counts: Iterable[tuple[str, str, int]]) -> None:
        """Add ``take_counts`` output from another process; unknown names and bad counts are
        ignored."""
        for name, label, count in counts:
            if not isinstance(count, int) or count <= 0:
                continue
            if name in _COUNTERS:
                counter: Counter[str] = getattr(self, name)
                counter[label] += count
            elif name in _INTEGERS:
                setattr(self, name, getattr(self, name) + count)

    def to_dict(self) -> dict[str, int | dict[str, int]]:
        """The counters as plain data (for a process channel)."""
        out: dict[str, int | dict[str, int]] = {n: dict(getattr(self, n)) for n in _COUNTERS}
        out.update({n: int(getattr(self, n)) for n in _INTEGERS})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SipStats:
        """Counters from ``to_dict``'s form; unknown names and bad values are ignored."""
        stats = cls()
        for name in _COUNTERS:
            value = data.get(name)
            if isinstance(value, dict):
                counter: Counter[str] = getattr(stats, name)
                counter.update(
                    {str(k): v for k, v in value.items() if isinstance(v, int) and v > 0}
                )
        for name in _INTEGERS:
            value = data.get(name)
            if isinstance(value, int) and value > 0:
                setattr(stats, name, value)
        return stats

    def count_response(self, status: int, *, sent: bool) -> None:
        """Count a response received or sent by its class (1xx..6xx)."""
        label = f"{status // 100}xx"
        if sent:
            self.responses_sent_by_class[label] += 1
        else:
            self.responses_by_class[label] += 1


_COUNTERS = ("requests_by_method", "responses_by_class", "responses_sent_by_class", "parse_errors")
_INTEGERS = (
    "auth_failures",
    "auth_successes",
    "bans",
    "dropped_banned",
    "dropped_rate_limited",
    "dropped_overload",
    "retransmissions",
    "transaction_timeouts",
)
