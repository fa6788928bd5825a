"""The sans-IO receive path of one RTP stream: parse, SSRC check, reorder, PS demux, count.

The asyncio receivers (``receiver``) feed it datagrams or RFC 4571 frames with the loop's
time and arm a timer for ``next_deadline()``; tests and benchmarks drive it directly.

It runs once per datagram (some 100,000 times a second for 500 cameras), so the common case
has a short path: a plain header (V=2, no padding, extension or CSRC) is read with one
``struct`` call, and a packet that is exactly the next one expected goes to the demuxer
without an ``RtpPacket`` or a pass through the reorder buffer. Anything else takes the full
path (``parse_rtp``, ``JitterBuffer.push``); both count the same.

With the optional C extension (``_fastrtp``) a whole burst takes a shorter lane still:
``lane(now)`` hands the state the common case needs (the sequence number due next, the SSRC,
the RFC 3550 statistics) to ``rtp_burst`` / ``rtp_run``, which account for the leading run
of plain, in-order datagrams of that SSRC in C and join their payloads between RTP markers;
``take_run`` writes the counts back and feeds the demuxer once per chunk (a frame) instead
of once per datagram. The first datagram off the lane goes through ``packet``; the lane is
tried again after it. Tests compare both paths on the same datagrams.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from logging import getLogger

from sightline.media.errors import RtcpError, RtpError
from sightline.media.jitter import JitterBuffer, Ordered
from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_frames import AccessUnit, StreamInfo
from sightline.media.rtcp import ReceptionStats, ReportBlock, SenderReport, parse_rtcp
from sightline.media.rtp import RtpPacket, parse_rtp
from sightline.media.stats import BitrateMeter, ReceiverCounters, ReceiverSnapshot

__all__ = ["RtpPipeline"]

log = getLogger(__name__)

_PLAIN_HEADER = struct.Struct("!xBHII").unpack_from  # after a first byte of 0x80

Lane = tuple[int, int, int, float, float, float]
"""(next sequence, SSRC, highest sequence, jitter, last transit, now × clock rate)."""
Run = tuple[list[bytes], bool, list[bytes], int, int, int, int, float, float]
"""(chunks, last chunk ends a frame, datagrams left for ``packet``, count, bytes, highest
sequence, sequence wraps, jitter, last transit): what the C lane did with a run."""

# The C fast lane over a list of datagrams (None: the extension is not built, or the
# pure-Python reference was asked for); the UDP receiver uses its recvmmsg twin, rtp_burst.
rtp_run: Callable[[list[bytes], int, Lane], Run] | None = None
with contextlib.suppress(ImportError):
    from sightline.media._fastrtp import rtp_run


class RtpPipeline:
    """Sans-IO receive path of one stream: RTP datagrams and times in, access units out.

    A packet whose SSRC is not ``expected_ssrc`` is logged (once per SSRC, with both values)
    and then accepted or, with ``accept_ssrc_mismatch=False``, dropped. RTCP multiplexed on
    the RTP port (RFC 5761: second byte 200..204) is taken as RTCP. When the jitter buffer
    gives up on lost packets the demuxer is reset, so a damaged frame never merges into the
    next one.
    """

    def __init__(
        self,
        *,
        expected_ssrc: int | None = None,
        accept_ssrc_mismatch: bool = True,
        reorder: bool = True,
    ) -> None:
        self.expected_ssrc = expected_ssrc
        self.accept_ssrc_mismatch = accept_ssrc_mismatch
        self.counters = ReceiverCounters()
        # Over TCP nothing arrives out of order: no warm-up hold, give gaps up at once.
        self.jitter = JitterBuffer() if reorder else JitterBuffer(max_delay_s=0, startup_s=0)
        self.demuxer = PsDemuxer()
        self.reception: ReceptionStats | None = None
        self.bitrate = BitrateMeter()
        self._warned: set[int] = set()

    @property
    def stream_info(self) -> StreamInfo | None:
        """The video stream's parameters once its parameter sets have been seen."""
        video = [i for sid, i in self.demuxer.streams.items() if sid >= 0xE0]
        return video[0] if video else None

    def packet(self, data: bytes, now: float) -> list[AccessUnit]:
        """Take one datagram (or RFC 4571 frame); return the access units it finishes."""
        if len(data) >= 2 and 200 <= data[1] <= 204:
            self.rtcp(data, now)
            return []
        if len(data) < 12 or data[0] != 0x80:
            return self._full_packet(data, now)
        second, sequence, timestamp, ssrc = _PLAIN_HEADER(data)
        if not self._accept(ssrc, len(data), sequence, timestamp, now):
            return []
        if self.jitter.take_next(sequence):
            units = self.demuxer.feed(data[12:], end_of_frame=second >= 0x80)
            return self._count(units, now) if units else units
        rtp = RtpPacket(second & 0x7F, sequence, timestamp, ssrc, data[12:], second >= 0x80)
        return self._demux(self.jitter.push(rtp, now), now)

    def packets(self, datagrams: list[bytes], now: float) -> list[AccessUnit]:
        """Take datagrams that arrived together (at ``now``); return the access units they finish.

        The same as ``packet`` on each in turn, with runs of the common case on the C lane.
        """
        units: list[AccessUnit] = []
        run_lane, packet = rtp_run, self.packet
        pos, total = 0, len(datagrams)
        while pos < total:
            if run_lane is not None:
                lane = self.lane(now)
                if lane is not None:
                    run = run_lane(datagrams, pos, lane)
                    if run[3]:
                        units += self.take_run(run, now)
                        pos += run[3]
                        continue
            done = packet(datagrams[pos], now)
            if done:
                units += done
            pos += 1
        return units

    def lane(self, now: float) -> Lane | None:
        """The state the C fast lane needs for datagrams arriving at ``now``, or None when
        the next one cannot take it (the jitter buffer holds packets or is warming up, or no
        packet has been counted yet)."""
        next_seq = self.jitter.lane_next()
        reception = self.reception
        if next_seq is None or reception is None:
            return None
        state = reception.lane()
        if state is None:
            return None
        if (
            self.expected_ssrc is not None
            and reception.ssrc != self.expected_ssrc
            and not self.accept_ssrc_mismatch
        ):
            return None  # never counted such a packet; kept for safety
        max_seq, jitter, transit = state
        return (
            next_seq & 0xFFFF,
            reception.ssrc,
            max_seq,
            jitter,
            transit,
            now * reception.clock_rate,
        )

    def take_run(self, run: Run, now: float) -> list[AccessUnit]:
        """Apply what the C lane counted (``lane(now)`` went in), demux its chunks, then take
        the datagrams it left; return the access units finished."""
        chunks, ends_frame, rest, count, size, max_seq, wraps, jitter, transit = run
        units: list[AccessUnit] = []
        if count:
            reception = self.reception
            assert reception is not None
            c = self.counters
            c.packets += count
            c.bytes += size
            c.last_packet_at = now
            if self.expected_ssrc is not None and reception.ssrc != self.expected_ssrc:
                c.ssrc_mismatches += count  # accepted, and warned about at its first packet
            self.bitrate.add(size, now)
            reception.took(count, max_seq, wraps, jitter, transit)
            self.jitter.took(count)
            feed = self.demuxer.feed
            last = len(chunks) - 1
            for index, chunk in enumerate(chunks):
                done = feed(chunk, end_of_frame=ends_frame or index < last)
                if done:
                    units += done
            if units:
                self._count(units, now)
        if rest:
            units += self.packets(rest, now)
        return units

    def _full_packet(self, data: bytes, now: float) -> list[AccessUnit]:
        try:
            rtp = parse_rtp(data)
        except RtpError as exc:
            self.counters.malformed += 1
            log.debug("malformed RTP packet of %d bytes: %s", len(data), exc)
            return []
        if not self._accept(rtp.ssrc, len(data), rtp.sequence, rtp.timestamp, now):
            return []
        return self._demux(self.jitter.push(rtp, now), now)

    def _accept(self, ssrc: int, size: int, sequence: int, timestamp: int, now: float) -> bool:
        """SSRC check, then count the packet; False when it is dropped."""
        c = self.counters
        if self.expected_ssrc is not None and ssrc != self.expected_ssrc:
            c.ssrc_mismatches += 1
            if ssrc not in self._warned:
                self._warned.add(ssrc)
                log.warning(
                    "SSRC mismatch: expected %010d, got %010d (0x%08X); %s",
                    self.expected_ssrc,
                    ssrc,
                    ssrc,
                    "accepted" if self.accept_ssrc_mismatch else "dropped",
                )
            if not self.accept_ssrc_mismatch:
                c.ssrc_dropped += 1
                return False
        c.packets += 1
        c.bytes += size
        if c.first_packet_at is None:
            c.first_packet_at = now
        c.last_packet_at = now
        self.bitrate.add(size, now)
        reception = self.reception
        if reception is None or reception.ssrc != ssrc:
            reception = self.reception = ReceptionStats(ssrc)
        reception.update(sequence, timestamp, now)
        return True

    def rtcp(self, data: bytes, now: float) -> None:
        """Take an RTCP compound packet; SRs are remembered for the next report's LSR/DLSR."""
        try:
            packets = parse_rtcp(data)
        except RtcpError as exc:
            log.debug("malformed RTCP packet: %s", exc)
            return
        self.counters.rtcp_packets += 1
        for p in packets:
            if isinstance(p, SenderReport) and self.reception is not None:
                self.reception.on_sender_report(p, now)

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must next be called."""
        return self.jitter.next_deadline()

    def handle_timeout(self, now: float) -> list[AccessUnit]:
        """Give up on late packets; return the access units that frees."""
        return self._demux(self.jitter.handle_timeout(now), now)

    def flush(self) -> list[AccessUnit]:
        """End of stream: everything held, in order."""
        return self._demux(self.jitter.flush(), None) + self._count(self.demuxer.flush(), None)

    def report_block(self, now: float) -> ReportBlock | None:
        """The RTCP report block for the source, or None before its first packet."""
        return None if self.reception is None else self.reception.report_block(now)

    def snapshot(
        self, now: float, started_at: float, transport: str, port: int
    ) -> ReceiverSnapshot:
        """Counters for metrics; ages are relative to ``now``, first-events to ``started_at``."""
        c, j = self.counters, self.jitter.stats

        def since(t: float | None, origin: float) -> float | None:
            return None if t is None else t - origin

        return ReceiverSnapshot(
            transport=transport,
            port=port,
            ssrc=None if self.reception is None else self.reception.ssrc,
            packets=c.packets,
            bytes=c.bytes,
            bitrate_bps=self.bitrate.rate(now),
            lost=j.lost,
            reordered=j.reordered,
            duplicates=j.duplicates,
            late=j.late,
            malformed=c.malformed,
            ssrc_mismatches=c.ssrc_mismatches,
            frames=c.frames,
            keyframes=c.keyframes,
            queue_drops=c.queue_drops,
            demux_garbage_bytes=self.demuxer.stats.garbage_bytes,
            time_to_first_packet_s=since(c.first_packet_at, started_at),
            time_to_first_frame_s=since(c.first_frame_at, started_at),
            since_last_packet_s=None if c.last_packet_at is None else now - c.last_packet_at,
        )

    def _demux(self, released: list[Ordered], now: float | None) -> list[AccessUnit]:
        units: list[AccessUnit] = []
        demuxer = self.demuxer
        for item in released:
            if item.lost:
                units += demuxer.reset()
            units += demuxer.feed(item.packet.payload, end_of_frame=item.packet.marker)
        return self._count(units, now)

    def _count(self, units: list[AccessUnit], now: float | None) -> list[AccessUnit]:
        c = self.counters
        for unit in units:
            c.frames += 1
            c.keyframes += unit.keyframe and unit.stream_id >= 0xE0
        if units and c.first_frame_at is None:
            c.first_frame_at = now if now is not None else c.last_packet_at
        return units
