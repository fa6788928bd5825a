"""Counters the SIP stack keeps; the HTTP layer exports them to Prometheus.

Plain integers keep ``sip`` free of any metrics library and cheap on the hot path.
"""

from __future__ import annotations

from collections import Counter
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
    retransmissions: int = 0
    transaction_timeouts: int = 0
    tcp_connections: int = 0

    def count_request(self, method: str) -> None:
        """Count a received request; unknown methods share one label to bound cardinality."""
        self.requests_by_method[method if method in KNOWN_METHODS else "OTHER"] += 1

    def count_response(self, status: int, *, sent: bool) -> None:
        """Count a response received or sent by its class (1xx..6xx)."""
        label = f"{status // 100}xx"
        if sent:
            self.responses_sent_by_class[label] += 1
        else:
            self.responses_by_class[label] += 1
