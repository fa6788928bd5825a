"""RTP receive ports from ``media.rtp_ports``: handed out once, skipped when the OS refuses them.

Ports go in pairs by default: RTP on an even port, RTCP on the odd port after it (RFC 3550
§11), which is what GB/T 28181 devices and most platforms expect, so the default range
30000-30999 holds 500 streams; widen it for more. ``step=1`` hands out every port, for
setups that need no separate RTCP port (TCP only, or a tight firewall range).

Ports are handed out round-robin rather than lowest-first: a port just released is the
last one reused, so stray packets still in flight for the old stream (a device slow to
obey BYE) do not land on the next one.

``allocate()`` only books a number. ``open(bind)`` books a number and calls ``bind(port)``
to create the sockets; a port the OS refuses (``OSError``: taken by another program, below
ip_local_reserved_ports...) is skipped and the next one tried, and only when every free port
has been refused does it give up with ``PortsExhaustedError``.
"""

from __future__ import annotations

from collections.abc import Callable
from logging import getLogger
from typing import TypeVar

from sightline.media.errors import MediaError

__all__ = ["PortsExhaustedError", "RtpPortAllocator"]

log = getLogger(__name__)

T = TypeVar("T")


class PortsExhaustedError(MediaError):
    """Every port of the RTP range is in use (or refused by the OS)."""


class RtpPortAllocator:
    """Hand out RTP ports of ``low..high`` (inclusive); see the module docstring."""

    def __init__(self, low: int, high: int, *, step: int = 2) -> None:
        if step not in (1, 2):
            raise ValueError("step must be 1 (every port) or 2 (even RTP ports, RTCP on +1)")
        first = low + (low % 2 if step == 2 else 0)
        last = high - (step - 1)  # an RTP port needs its RTCP port inside the range too
        if not 0 < first <= last <= 65535:
            raise ValueError(f"RTP port range {low}-{high} holds no usable port")
        self.step = step
        self._ports = range(first, last + 1, step)
        self._in_use: set[int] = set()
        self._next = 0

    @classmethod
    def from_range(cls, port_range: tuple[int, int], *, step: int = 2) -> RtpPortAllocator:
        """An allocator over ``MediaSettings.rtp_port_range``."""
        return cls(port_range[0], port_range[1], step=step)

    @property
    def capacity(self) -> int:
        """How many streams the range holds."""
        return len(self._ports)

    @property
    def in_use(self) -> frozenset[int]:
        """The ports handed out and not yet released."""
        return frozenset(self._in_use)

    def allocate(self) -> int:
        """Book the next free port; raises PortsExhaustedError when none is left."""
        for _ in range(len(self._ports)):
            port = self._ports[self._next]
            self._next = (self._next + 1) % len(self._ports)
            if port not in self._in_use:
                self._in_use.add(port)
                return port
        raise PortsExhaustedError(
            f"all {len(self._ports)} RTP ports of {self._ports[0]}-{self._ports[-1]} are in use"
        )

    def release(self, port: int) -> None:
        """Give a port back; releasing a port that is not booked is a no-op."""
        self._in_use.discard(port)

    def open(self, bind: Callable[[int], T]) -> tuple[int, T]:
        """Book a port and ``bind`` it, skipping ports whose bind raises OSError."""
        refused: list[int] = []
        try:
            while True:  # ends when allocate() runs out: refused ports stay booked meanwhile
                port = self.allocate()
                try:
                    return port, bind(port)
                except OSError as exc:
                    log.info("RTP port %d refused by the OS (%s); trying the next", port, exc)
                    refused.append(port)
        except PortsExhaustedError:
            raise PortsExhaustedError(
                f"no RTP port of {self._ports[0]}-{self._ports[-1]} could be bound "
                f"({len(self._in_use) - len(refused)} in use, {len(refused)} refused by the OS)"
            ) from None
        finally:
            for port in refused:
                self.release(port)
