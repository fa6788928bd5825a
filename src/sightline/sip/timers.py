"""SIP transaction timer values (RFC 3261 §17, Table 4).

Every timer is derived from three base values: T1 (round-trip estimate), T2 (the cap on
retransmission intervals for non-INVITE requests and INVITE responses) and T4 (how long a
message can stay in the network).  Timers that only absorb retransmissions (D, I, J, K) are
zero over reliable transports, which never retransmit.

    timer  meaning                                    value
    A      INVITE request retransmit (UDP)            T1, doubling
    B      INVITE client gives up                     64*T1
    D      wait for response retransmits              >= 32 s UDP, 0 reliable
    E      non-INVITE request retransmit (UDP)        T1, doubling up to T2
    F      non-INVITE client gives up                 64*T1
    G      INVITE final response retransmit (UDP)     T1, doubling up to T2
    H      wait for ACK                               64*T1
    I      wait for ACK retransmits                   T4 UDP, 0 reliable
    J      wait for non-INVITE request retransmits    64*T1 UDP, 0 reliable
    K      wait for response retransmits              T4 UDP, 0 reliable
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sightline.errors import ConfigError

__all__ = ["AbsorbTimer", "TimerConfig", "TimerName"]

TimerName = Literal["A", "B", "D", "E", "F", "G", "H", "I", "J", "K", "Trying", "Cancel"]
AbsorbTimer = Literal["D", "I", "J", "K"]


@dataclass(frozen=True)
class TimerConfig:
    """The base timer values; every transaction timer is computed from them."""

    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0
    # RFC 3261 asks for "at least 32 s", independently of T1.
    timer_d_unreliable_s: float = 32.0
    # §17.2.1: a server transaction answers 100 Trying itself if the TU is slower than this.
    trying_delay_s: float = 0.2

    def __post_init__(self) -> None:
        for name in ("t1_s", "t2_s", "t4_s", "trying_delay_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"SIP timer {name} must be positive")
        if self.t2_s < self.t1_s:
            raise ConfigError("SIP timer t2_s must not be smaller than t1_s")
        if self.timer_d_unreliable_s < 0:
            raise ConfigError("SIP timer timer_d_unreliable_s must not be negative")

    @property
    def timer_b_s(self) -> float:
        """INVITE client transaction timeout (64*T1)."""
        return 64 * self.t1_s

    @property
    def timer_f_s(self) -> float:
        """Non-INVITE client transaction timeout (64*T1)."""
        return 64 * self.t1_s

    @property
    def timer_h_s(self) -> float:
        """Wait time for an ACK to a non-2xx final response (64*T1)."""
        return 64 * self.t1_s

    @property
    def timer_d_s(self) -> float:
        """Completed-state wait of the INVITE client over UDP."""
        return self.timer_d_unreliable_s

    @property
    def timer_i_s(self) -> float:
        """Confirmed-state wait of the INVITE server over UDP (T4)."""
        return self.t4_s

    @property
    def timer_j_s(self) -> float:
        """Completed-state wait of the non-INVITE server over UDP (64*T1)."""
        return 64 * self.t1_s

    @property
    def timer_k_s(self) -> float:
        """Completed-state wait of the non-INVITE client over UDP (T4)."""
        return self.t4_s

    def absorb_s(self, timer: AbsorbTimer, *, reliable: bool) -> float:
        """Timer D, I, J or K for a transport: its UDP value, or 0 over TCP/TLS."""
        if reliable:
            return 0.0
        values = {"D": self.timer_d_s, "I": self.timer_i_s, "J": self.timer_j_s}
        return values.get(timer, self.timer_k_s)

    def next_interval(self, interval_s: float, *, capped: bool) -> float:
        """The retransmission interval after ``interval_s``: doubled, capped at T2 for E/G."""
        doubled = 2 * interval_s
        return min(doubled, self.t2_s) if capped else doubled
