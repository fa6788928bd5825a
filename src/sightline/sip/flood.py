"""Per-source anti-flood limits for the SIP transports, sans-IO with time injected.

The transport calls :meth:`FloodPolicy.check` with the source address for each datagram (or
each framed TCP message) before parsing it, and drops anything not ALLOWed.  The registrar
reports digest results through :meth:`FloodPolicy.record_failure` / ``record_success``.

Why the defaults (200 messages/s, burst 400, ban after 5 wrong passwords in 60 s for 300 s):

* Many devices can share one source address: an NVR or a lower platform registers hundreds or
  thousands of channels from one IP, and a NAT hides whole sites behind one.  Keepalives are one
  MESSAGE per device per minute, so 1,000 devices behind one address average ~17 messages/s;
  200/s leaves room for REGISTER storms after a site's link comes back, and the burst of 400
  absorbs a catalog answer of a few hundred items.  A lower platform pushing a 10,000-channel
  catalog one item per MESSAGE is slowed (UDP retransmission recovers the drops); put cascaded
  platforms in ``exempt``.
* One source at 200 messages/s costs about 1% of a core to parse and authenticate, so a single
  flooding host cannot starve the registrar.  Per-source limits do not stop floods from many
  (or spoofed) sources; that needs a global limit or filtering upstream.
* GB/T 28181 devices wait at least 60 s before retrying a failed registration, so a few
  misconfigured devices behind one address stay below 5 failures a minute, while a password
  guesser is held to about 5 guesses per 6 minutes.  A success from the same address clears
  the count, which also keeps a NAT with mixed good and bad devices from being banned.
* Loopback is not exempt by default (tests and the simulator need bans to work).

Memory is bounded: each table keeps at most ``max_sources`` entries and evicts the least
recently seen (≈250 bytes per entry, ~16 MB at the default 65,536).
"""

from __future__ import annotations

import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_RATE_PER_S",
    "AuthFailureTracker",
    "FloodPolicy",
    "FloodVerdict",
    "Network",
    "RateLimiter",
]

_log = logging.getLogger(__name__)

DEFAULT_RATE_PER_S = 200.0
DEFAULT_BURST = 400

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FloodVerdict(Enum):
    """What the transport does with a message from a source."""

    ALLOW = "allow"
    RATE_LIMITED = "rate_limited"
    BANNED = "banned"


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """Token bucket per source key: ``rate_per_s`` sustained, ``burst`` at once."""

    def __init__(self, rate_per_s: float, burst: int, max_sources: int = 65_536) -> None:
        if rate_per_s <= 0 or burst < 1 or max_sources < 1:
            raise ValueError("rate_per_s, burst and max_sources must be positive")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, source: str, now: float) -> bool:
        """Take one token for ``source``; False when its bucket is empty."""
        bucket = self._buckets.get(source)
        if bucket is None:
            self._buckets[source] = _Bucket(self.burst - 1.0, now)
            if len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)
            return True
        self._buckets.move_to_end(source)
        elapsed = now - bucket.stamp
        if elapsed > 0:  # a clock that steps back refills nothing
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_s)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False

    def __len__(self) -> int:
        return len(self._buckets)


class _Window:
    __slots__ = ("count", "start")

    def __init__(self, start: float) -> None:
        self.count = 0
        self.start = start


class AuthFailureTracker:
    """Bans a source for ``ban_s`` after ``max_failures`` failures within ``window_s``."""

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        ban_s: float = 300.0,
        max_sources: int = 65_536,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or ban_s <= 0 or max_sources < 1:
            raise ValueError("limits must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.ban_s = ban_s
        self.max_sources = max_sources
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        # Insertion order is expiry order because every ban lasts ban_s.
        self._bans: OrderedDict[str, float] = OrderedDict()
        # told (source, seconds) of every ban this tracker decides (not of ``ban`` calls)
        self.on_ban: Callable[[str, float], None] | None = None

    def record_failure(self, source: str, now: float) -> bool:
        """Count a failed authentication; True when this failure bans the source."""
        if self.is_banned(source, now):
            return False
        window = self._windows.get(source)
        if window is None or now - window.start >= self.window_s:
            window = _Window(now)
            self._windows[source] = window
        self._windows.move_to_end(source)
        if len(self._windows) > self.max_sources:
            self._windows.popitem(last=False)
        window.count += 1
        if window.count < self.max_failures:
            return False
        self._windows.pop(source, None)
        self._ban(source, now)
        return True

    def record_success(self, source: str, now: float) -> None:
        """Forget the failures of ``source`` (a ban in force stays)."""
        self._windows.pop(source, None)

    def ban(self, source: str, now: float, seconds: float) -> None:
        """Ban ``source`` for ``seconds`` (a ban decided elsewhere, e.g. by another process)."""
        self._windows.pop(source, None)
        self._bans.pop(source, None)
        self._bans[source] = now + seconds
        # keep expiry order: a shorter remaining ban may now sit after longer ones, which only
        # delays its removal from the table, never its end (is_banned compares the time)
        if len(self._bans) > self.max_sources:
            self._bans.popitem(last=False)

    def is_banned(self, source: str, now: float) -> bool:
        """True while ``source`` is banned."""
        until = self._bans.get(source)
        if until is None:
            return False
        if until > now:
            return True
        del self._bans[source]
        return False

    def banned_count(self, now: float) -> int:
        """Number of sources banned at ``now``."""
        self._expire(now)
        return len(self._bans)

    def __len__(self) -> int:
        return len(self._windows) + len(self._bans)

    def _ban(self, source: str, now: float) -> None:
        self._bans[source] = now + self.ban_s
        self._expire(now)
        if len(self._bans) > self.max_sources:
            self._bans.popitem(last=False)  # the ban closest to its end anyway
        _log.warning("auth failures from %s: banned for %.0f s", source, self.ban_s)
        if self.on_ban is not None:
            self.on_ban(source, self.ban_s)

    def _expire(self, now: float) -> None:
        bans = self._bans
        while bans:
            source, until = next(iter(bans.items()))
            if until > now:
                break
            del bans[source]


def _default_rate() -> RateLimiter:
    return RateLimiter(DEFAULT_RATE_PER_S, DEFAULT_BURST)


@dataclass
class FloodPolicy:
    """Rate limit and auth-failure bans together, with addresses or networks exempt from both."""

    rate: RateLimiter = field(default_factory=_default_rate)
    failures: AuthFailureTracker = field(default_factory=AuthFailureTracker)
    exempt: Iterable[str | Network] = ()
    _networks: tuple[Network, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in self.exempt)

    def check(self, source: str, now: float) -> FloodVerdict:
        """Decide whether a message from ``source`` (an IP address string) is processed."""
        if self._networks and self.is_exempt(source):
            return FloodVerdict.ALLOW
        if self.failures.is_banned(source, now):
            return FloodVerdict.BANNED
        if not self.rate.allow(source, now):
            return FloodVerdict.RATE_LIMITED
        return FloodVerdict.ALLOW

    def record_failure(self, source: str, now: float) -> bool:
        """Count a failed authentication from ``source``; True when it is now banned."""
        if self._networks and self.is_exempt(source):
            return False
        return self.failures.record_failure(source, now)

    def record_success(self, source: str, now: float) -> None:
        """Clear the failure count of ``source``."""
        self.failures.record_success(source, now)

    def is_exempt(self, source: str) -> bool:
        """True when ``source`` lies in an exempt network (IPv4-mapped IPv6 counts as IPv4)."""
        try:
            address = ipaddress.ip_address(source.strip("[]"))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)
