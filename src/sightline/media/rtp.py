"""RTP packets (RFC 3550 §5.1), RFC 4571 framing for TCP, and a packetiser for PS payloads.

Header layout (RFC 3550 §5.1)::

     0                   1                   2                   3
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    |                           timestamp                           |
    |           synchronization source (SSRC) identifier            |
    |            contributing source (CSRC) identifiers  (CC × 32)  |
    |  defined by profile  |  length (32-bit words)  | extension... |   (if X)

GB/T 28181 over TCP sends each RTP packet behind a 2-byte big-endian length (RFC 4571 §2).
``Rfc4571Deframer`` cuts packets out of such a stream; when the stream is corrupt (a device
that writes a wrong length, bytes lost by a proxy) it scans for the next plausible header
instead of giving up, with a buffer that never holds more than one maximal frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from logging import getLogger

from sightline.media.errors import RtpError

__all__ = [
    "Rfc4571Deframer",
    "RtpExtension",
    "RtpPacket",
    "RtpPacketiser",
    "frame_rfc4571",
    "parse_rtp",
]

log = getLogger(__name__)

_HEADER = struct.Struct("!BBHII")
_MAX_FRAME = 0xFFFF


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """An RFC 3550 §5.3.1 header extension: a 16-bit profile word and whole 32-bit words."""

    profile: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet; ``padding`` is the number of padding bytes (0 = no P bit)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    def __bytes__(self) -> bytes:
        """Serialise; raises RtpError for values that do not fit their fields."""
        _check_fields(self)
        first = 0x80 | (0x20 if self.padding else 0) | (0x10 if self.extension else 0)
        out = bytearray(
            _HEADER.pack(
                first | len(self.csrcs),
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence,
                self.timestamp,
                self.ssrc,
            )
        )
        for csrc in self.csrcs:
            out += csrc.to_bytes(4, "big")
        if self.extension is not None:
            words = len(self.extension.data) // 4
            out += struct.pack("!HH", self.extension.profile, words) + self.extension.data
        out += self.payload
        if self.padding:
            out += bytes(self.padding - 1) + bytes([self.padding])
        return bytes(out)


def _check_fields(p: RtpPacket) -> None:
    limits = (
        ("payload_type", p.payload_type, 0x7F),
        ("sequence", p.sequence, 0xFFFF),
        ("timestamp", p.timestamp, 0xFFFFFFFF),
        ("ssrc", p.ssrc, 0xFFFFFFFF),
        ("padding", p.padding, 0xFF),
    )
    for name, value, top in limits:
        if not 0 <= value <= top:
            raise RtpError(f"RTP {name} {value} out of range 0..{top}")
    if len(p.csrcs) > 15 or any(not 0 <= c <= 0xFFFFFFFF for c in p.csrcs):
        raise RtpError("RTP allows at most 15 CSRCs of 32 bits")
    if p.extension is not None and (
        len(p.extension.data) % 4 or not 0 <= p.extension.profile <= 0xFFFF
    ):
        raise RtpError("RTP header extension must be whole 32-bit words with a 16-bit profile")


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet; raises RtpError when it is malformed."""
    if len(data) < 12:
        raise RtpError(f"RTP packet of {len(data)} bytes is shorter than its 12-byte header")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpError(f"RTP version {first >> 6}, expected 2")
    pos = 12 + 4 * (first & 0x0F)
    if pos > len(data):
        raise RtpError("RTP CSRC list runs past the end of the packet")
    csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, 12)
    extension = None
    if first & 0x10:
        if pos + 4 > len(data):
            raise RtpError("RTP header extension header runs past the end of the packet")
        profile, words = struct.unpack_from("!HH", data, pos)
        end = pos + 4 + 4 * words
        if end > len(data):
            raise RtpError("RTP header extension runs past the end of the packet")
        extension = RtpExtension(profile, bytes(data[pos + 4 : end]))
        pos = end
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or pos + padding > len(data):
            raise RtpError(f"RTP padding count {padding} is impossible")
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[pos : len(data) - padding]),
        marker=bool(second & 0x80),
        csrcs=tuple(csrcs),
        extension=extension,
        padding=padding,
    )


def frame_rfc4571(packet: bytes) -> bytes:
    """Prefix one RTP/RTCP packet with its 2-byte length (RFC 4571 §2)."""
    if len(packet) > _MAX_FRAME:
        raise RtpError(f"RFC 4571 frames hold at most 65535 bytes, got {len(packet)}")
    return len(packet).to_bytes(2, "big") + packet


@dataclass(slots=True)
class Rfc4571Deframer:
    """Cut RTP packets out of an RFC 4571 byte stream, resynchronising after garbage.

    A frame is accepted when its length is at least 12, its first byte says version 2 and,
    once a packet has been seen, its SSRC is the same (a 32-bit check, so garbage is almost
    never taken for a packet; RTCP sharing the connection is checked the same way). After
    ``max_resync_bytes`` of scanning without a match any SSRC is accepted again, for senders
    that changed it.
    ``discarded_bytes`` and ``resyncs`` count the damage.
    """

    max_resync_bytes: int = 64 * 1024
    discarded_bytes: int = 0
    resyncs: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _lost: bool = False
    _lost_for: int = 0
    _ssrc: bytes | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes held waiting for the rest of a frame (at most 65537)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add stream bytes; return the complete RTP packets they finish, in order."""
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        while len(buf) - pos >= 3:
            length = (buf[pos] << 8) | buf[pos + 1]
            if not self._plausible(buf, pos, length):
                pos += 1
                self._skip(1)
                continue
            if len(buf) - pos - 2 < length:
                break
            packet = bytes(buf[pos + 2 : pos + 2 + length])
            if not 200 <= packet[1] <= 204:
                self._ssrc = packet[8:12]
            self._lost = False
            out.append(packet)
            pos += 2 + length
        del buf[:pos]
        return out

    def _plausible(self, buf: bytearray, pos: int, length: int) -> bool:
        if length < 12 or buf[pos + 2] >> 6 != 2:
            return False
        if self._ssrc is None or self._lost_for > self.max_resync_bytes:
            return True
        if len(buf) - pos < 14:
            return True  # judged again when more bytes have come
        if 200 <= buf[pos + 3] <= 204:  # RTCP sharing the connection: SSRC at bytes 4..7
            return bytes(buf[pos + 6 : pos + 10]) == self._ssrc
        return bytes(buf[pos + 10 : pos + 14]) == self._ssrc

    def _skip(self, count: int) -> None:
        if not self._lost:
            self._lost = True
            self._lost_for = 0
            self.resyncs += 1
            log.debug("RFC 4571 stream lost sync; scanning for the next RTP header")
        self._lost_for += count
        self.discarded_bytes += count


@dataclass(slots=True)
class RtpPacketiser:
    """Split payloads (one PS pack per video frame) into RTP packets for a sender.

    Every packet of one frame carries the frame's timestamp (GB/T 28181-2022 §C) and the last
    one has the marker bit; ``max_payload`` keeps packets under a 1500-byte MTU.
    """

    ssrc: int
    payload_type: int = 96
    sequence: int = 0
    max_payload: int = 1400

    def packetise(self, payload: bytes, timestamp_90k: int) -> list[RtpPacket]:
        """Return the packets carrying ``payload``; sequence numbers continue across calls."""
        if self.max_payload <= 0:
            raise RtpError("max_payload must be positive")
        chunks = [
            payload[i : i + self.max_payload] for i in range(0, len(payload), self.max_payload)
        ] or [b""]
        packets = []
        for index, chunk in enumerate(chunks):
            packets.append(
                RtpPacket(
                    payload_type=self.payload_type,
                    sequence=self.sequence,
                    timestamp=timestamp_90k & 0xFFFFFFFF,
                    ssrc=self.ssrc,
                    payload=chunk,
                    marker=index == len(chunks) - 1,
                )
            )
            self.sequence = (self.sequence + 1) & 0xFFFF
        return packets
