"""RTCP sender/receiver reports (RFC 3550 §6.4) and the receiver statistics behind them.

``ReceptionStats`` follows RFC 3550 A.1 (sequence tracking with wraparound), A.3 (expected and
lost packets, fraction lost per interval) and A.8 (interarrival jitter, in timestamp units).
Arrival times are injected in seconds; the clock rate converts them to timestamp units.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sightline.media.errors import RtcpError

__all__ = [
    "PT_RR",
    "PT_SR",
    "ReceiverReport",
    "ReceptionStats",
    "ReportBlock",
    "RtcpPacket",
    "SenderReport",
    "UnknownRtcp",
    "parse_rtcp",
]

PT_SR = 200
PT_RR = 201
_BLOCK = struct.Struct("!IB3sIIII")
_MAX_DROPOUT = 3000
_MAX_MISORDER = 100


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1); ``jitter`` in timestamp units."""

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_seq: int
    jitter: int
    lsr: int = 0
    dlsr: int = 0

    def __bytes__(self) -> bytes:
        """Serialise the 24-byte block; cumulative_lost is clamped to 24 bits signed."""
        lost = max(-0x800000, min(0x7FFFFF, self.cumulative_lost)) & 0xFFFFFF
        try:
            return _BLOCK.pack(
                self.ssrc,
                self.fraction_lost,
                lost.to_bytes(3, "big"),
                self.highest_seq,
                self.jitter,
                self.lsr,
                self.dlsr,
            )
        except struct.error as exc:
            raise RtcpError(f"report block field out of range: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SenderReport:
    """An SR: the sender's NTP/RTP clock pair and counts, plus report blocks."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    def __bytes__(self) -> bytes:
        """Serialise as one RTCP packet."""
        body = struct.pack(
            "!IQIII",
            self.ssrc,
            self.ntp_timestamp,
            self.rtp_timestamp,
            self.packet_count,
            self.octet_count,
        )
        return _packet(PT_SR, len(self.reports), body + _blocks(self.reports))


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """An RR: the reporter's SSRC and report blocks."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def __bytes__(self) -> bytes:
        """Serialise as one RTCP packet."""
        return _packet(
            PT_RR, len(self.reports), self.ssrc.to_bytes(4, "big") + _blocks(self.reports)
        )


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    """Any other RTCP packet (SDES, BYE, APP...), kept as its header fields and body."""

    packet_type: int
    count: int
    body: bytes

    def __bytes__(self) -> bytes:
        """Serialise as one RTCP packet."""
        return _packet(self.packet_type, self.count, self.body)


RtcpPacket = SenderReport | ReceiverReport | UnknownRtcp


def _blocks(reports: tuple[ReportBlock, ...]) -> bytes:
    if len(reports) > 31:
        raise RtcpError("an RTCP report carries at most 31 blocks")
    return b"".join(bytes(r) for r in reports)


def _packet(packet_type: int, count: int, body: bytes) -> bytes:
    if len(body) % 4 or not 0 <= count <= 31 or not 0 <= packet_type <= 255:
        raise RtcpError("RTCP body must be whole words with a 5-bit count and 8-bit type")
    if len(body) // 4 > 0xFFFF:
        raise RtcpError("RTCP packet too long")
    return struct.pack("!BBH", 0x80 | count, packet_type, len(body) // 4) + body


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet; raises RtcpError when any part is malformed."""
    out: list[RtcpPacket] = []
    pos = 0
    if not data:
        raise RtcpError("empty RTCP packet")
    while pos < len(data):
        if len(data) - pos < 4:
            raise RtcpError("truncated RTCP header")
        first, packet_type, words = struct.unpack_from("!BBH", data, pos)
        end = pos + 4 + 4 * words
        if first >> 6 != 2 or end > len(data):
            raise RtcpError("RTCP packet with bad version or length")
        body = bytes(data[pos + 4 : end])
        if first & 0x20:
            if end != len(data) or not body or not 0 < body[-1] <= len(body):
                raise RtcpError("RTCP padding is only allowed, consistent, on the last packet")
            body = body[: -body[-1]]
        out.append(_parse_one(packet_type, first & 0x1F, body))
        pos = end
    return out


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == PT_SR:
        if len(body) < 24 + 24 * count:
            raise RtcpError("SR shorter than its report count")
        ssrc, ntp, rtp_ts, packets, octets = struct.unpack_from("!IQIII", body)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, _parse_blocks(body, 24, count))
    if packet_type == PT_RR:
        if len(body) < 4 + 24 * count:
            raise RtcpError("RR shorter than its report count")
        return ReceiverReport(int.from_bytes(body[:4], "big"), _parse_blocks(body, 4, count))
    return UnknownRtcp(packet_type, count, body)


def _parse_blocks(body: bytes, pos: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for i in range(count):
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(body, pos + 24 * i)
        cumulative = int.from_bytes(lost, "big", signed=True)
        blocks.append(ReportBlock(ssrc, fraction, cumulative, highest, jitter, lsr, dlsr))
    return tuple(blocks)


@dataclass(slots=True)
class ReceptionStats:
    """What a receiver knows about one source, enough to build its report block."""

    ssrc: int
    clock_rate: int = 90000
    received: int = 0
    jitter: float = 0.0
    _base: int | None = None
    _max: int = 0
    _cycles: int = 0
    _bad_seq: int | None = None
    _transit: float | None = None
    _expected_prior: int = 0
    _received_prior: int = 0
    _last_sr: tuple[int, float] | None = field(default=None)

    def update(self, sequence: int, rtp_timestamp: int, arrival_s: float) -> None:
        """Account for one received packet (RFC 3550 A.1 and A.8)."""
        if self._base is None:
            self._restart(sequence)
        elif (sequence - self._max) & 0xFFFF < _MAX_DROPOUT:  # in order: _track's first case
            if sequence < self._max:
                self._cycles += 0x10000
            self._max = sequence
        elif not self._track(sequence):
            return
        self.received += 1
        transit = arrival_s * self.clock_rate - rtp_timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            self.jitter += (d - self.jitter) / 16
        self._transit = transit

    def lane(self) -> tuple[int, float, float] | None:
        """(highest sequence, jitter, last transit) for the C fast lane; None before a packet."""
        if self._base is None or self._transit is None:
            return None
        return self._max, self.jitter, self._transit

    def took(self, count: int, max_seq: int, wraps: int, jitter: float, transit: float) -> None:
        """Take the fast lane's results for ``count`` in-order packets (``update`` in bulk)."""
        self.received += count
        self._max = max_seq
        self._cycles += wraps << 16
        self.jitter = jitter
        self._transit = transit

    def on_sender_report(self, report: SenderReport, arrival_s: float) -> None:
        """Remember the SR's middle 32 NTP bits and when it came, for LSR/DLSR."""
        self._last_sr = ((report.ntp_timestamp >> 16) & 0xFFFFFFFF, arrival_s)

    @property
    def extended_highest(self) -> int:
        """Highest sequence number received, with 16 bits of wrap count above it."""
        return self._cycles + self._max

    @property
    def cumulative_lost(self) -> int:
        """Expected minus received since the first packet (negative with duplicates)."""
        if self._base is None:
            return 0
        return self.extended_highest - self._base + 1 - self.received

    def report_block(self, now_s: float) -> ReportBlock:
        """Build the report block for this source and start a new loss interval."""
        expected = 0 if self._base is None else self.extended_highest - self._base + 1
        expected_interval = expected - self._expected_prior
        lost_interval = expected_interval - (self.received - self._received_prior)
        self._expected_prior, self._received_prior = expected, self.received
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        lsr = dlsr = 0
        if self._last_sr is not None:
            lsr = self._last_sr[0]
            dlsr = min(0xFFFFFFFF, max(0, int((now_s - self._last_sr[1]) * 65536)))
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            cumulative_lost=self.cumulative_lost,
            highest_seq=self.extended_highest & 0xFFFFFFFF,
            jitter=int(self.jitter),
            lsr=lsr,
            dlsr=dlsr,
        )

    def _track(self, sequence: int) -> bool:
        delta = (sequence - self._max) & 0xFFFF
        if delta < _MAX_DROPOUT:
            if sequence < self._max:
                self._cycles += 0x10000
            self._max = sequence
            return True
        if delta <= 0x10000 - _MAX_MISORDER:
            if self._bad_seq is not None and sequence == self._bad_seq:
                self._restart(sequence)  # two in a row: the sender restarted
                return True
            self._bad_seq = (sequence + 1) & 0xFFFF
            return False
        return True  # duplicate or reordered: counted, does not move the maximum

    def _restart(self, sequence: int) -> None:
        self._base = sequence
        self._max = sequence
        self._cycles = 0
        self._bad_seq = None
        self.received = 0
        self._expected_prior = self._received_prior = 0
