"""Per-stream counters for receivers and the hub, and the snapshots the metrics endpoint reads.

Times are the event loop's monotonic clock (``loop.time()``), like every timeout here; a
snapshot turns them into ages so nothing outside needs that clock.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BitrateMeter", "ReceiverCounters", "ReceiverSnapshot"]


@dataclass(slots=True)
class BitrateMeter:
    """Bits per second over the last completed window of about ``window_s``."""

    window_s: float = 1.0
    _bps: float | None = None
    _start: float | None = None
    _bytes: int = 0

    def add(self, size: int, now: float) -> None:
        """Count ``size`` bytes received at ``now``."""
        if self._start is None:
            self._start = now
        elif now - self._start >= self.window_s:
            self._bps = self._bytes * 8 / (now - self._start)
            self._start, self._bytes = now, 0
        self._bytes += size

    def rate(self, now: float) -> float:
        """The current rate; it decays towards 0 once data stops coming."""
        if self._start is None:
            return 0.0
        elapsed = now - self._start
        if elapsed >= self.window_s:
            return self._bytes * 8 / elapsed
        if self._bps is None:  # the first window: what came so far, as bits per window
            return self._bytes * 8 / self.window_s
        return self._bps


@dataclass(slots=True)
class ReceiverCounters:
    """What one RTP receiver has seen; loss/reorder/duplicates come from its jitter buffer."""

    packets: int = 0
    bytes: int = 0
    malformed: int = 0
    rtcp_packets: int = 0
    ssrc_mismatches: int = 0
    ssrc_dropped: int = 0
    frames: int = 0
    keyframes: int = 0
    queue_drops: int = 0
    first_packet_at: float | None = None
    last_packet_at: float | None = None
    first_frame_at: float | None = None


@dataclass(frozen=True, slots=True)
class ReceiverSnapshot:
    """A copy of one receiver's state for metrics; ages in seconds, None before the event."""

    transport: str
    port: int
    ssrc: int | None
    packets: int
    bytes: int
    bitrate_bps: float
    lost: int
    reordered: int
    duplicates: int
    late: int
    malformed: int
    ssrc_mismatches: int
    frames: int
    keyframes: int
    queue_drops: int
    demux_garbage_bytes: int
    time_to_first_packet_s: float | None
    time_to_first_frame_s: float | None
    since_last_packet_s: float | None
