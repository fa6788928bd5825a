"""RTP payload formats for H.264 (RFC 6184) and H.265 (RFC 7798): packetiser, depacketiser, SDP.

One access unit (Annex-B) becomes RTP packets sharing its 90 kHz timestamp; the last packet
of the access unit has the marker bit (RFC 6184 §5.1, RFC 7798 §4.1). Each NAL unit goes in
a packet of its own when it fits ``max_payload``; larger ones are fragmented::

    H.264 FU-A (§5.8)   FU indicator  F|NRI|28        FU header  S|E|R|type(5)   payload...
    H.265 FU   (§4.4.3) PayloadHdr    F|49|LayerId|TID (2 bytes)  FU header  S|E|type(6)

The depacketiser also reads aggregation packets (H.264 STAP-A type 24, H.265 AP type 48),
which other senders use for parameter sets. Only non-interleaved mode (packetization-mode=1)
is written or read: it is what RTSP clients expect for live video.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field

from sightline.media.errors import RtpError
from sightline.media.es import iter_nal_units
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import StreamInfo
from sightline.media.rtp import RtpPacket

__all__ = [
    "H26xDepacketiser",
    "H26xPacketiser",
    "fragment_nal",
    "sdp_attributes",
]

_H264_STAP_A, _H264_FU_A = 24, 28
_H265_AP, _H265_FU = 48, 49
_START = b"\x00\x00\x00\x01"


def _header_size(codec: Codec) -> int:
    if codec is Codec.H264:
        return 1
    if codec is Codec.H265:
        return 2
    raise RtpError(f"no RTP payload format for {codec.value} here")


def fragment_nal(codec: Codec, nal: bytes, max_payload: int) -> list[bytes]:
    """The RTP payloads carrying one NAL unit: itself, or FU-A / FU fragments."""
    hsize = _header_size(codec)
    if len(nal) <= hsize:
        raise RtpError(f"NAL unit of {len(nal)} bytes has no payload")
    if len(nal) <= max_payload:
        return [nal]
    room = max_payload - hsize - 1
    if room <= 0:
        raise RtpError(f"max_payload {max_payload} leaves no room for a fragment")
    if codec is Codec.H264:
        lead = bytes((nal[0] & 0xE0 | _H264_FU_A,))
        kind = nal[0] & 0x1F
    else:
        lead = bytes((nal[0] & 0x81 | _H265_FU << 1, nal[1]))
        kind = (nal[0] >> 1) & 0x3F
    body = nal[hsize:]
    pieces = [body[i : i + room] for i in range(0, len(body), room)]
    out = []
    for index, piece in enumerate(pieces):
        flags = (0x80 if index == 0 else 0) | (0x40 if index == len(pieces) - 1 else 0)
        out.append(lead + bytes((flags | kind,)) + piece)
    return out


@dataclass(slots=True)
class H26xPacketiser:
    """Access units in, RTP packets out; sequence numbers continue across calls."""

    codec: Codec
    ssrc: int
    payload_type: int = 96
    sequence: int = 0
    max_payload: int = 1400

    def packetise(self, access_unit: bytes, timestamp_90k: int) -> list[RtpPacket]:
        """The packets of one Annex-B access unit; empty when it holds no NAL unit."""
        payloads: list[bytes] = []
        for nal in iter_nal_units(access_unit):
            if len(nal) > _header_size(self.codec):
                payloads += fragment_nal(self.codec, nal, self.max_payload)
        packets = []
        for index, payload in enumerate(payloads):
            packets.append(
                RtpPacket(
                    payload_type=self.payload_type,
                    sequence=self.sequence,
                    timestamp=timestamp_90k & 0xFFFFFFFF,
                    ssrc=self.ssrc,
                    payload=payload,
                    marker=index == len(payloads) - 1,
                )
            )
            self.sequence = (self.sequence + 1) & 0xFFFF
        return packets


@dataclass(slots=True)
class H26xDepacketiser:
    """RTP packets in, Annex-B access units out (RFC 6184 / RFC 7798, non-interleaved).

    An access unit ends at a marker bit or when the timestamp changes. A sequence gap drops
    the NAL unit being reassembled (a decoder copes better with a missing NAL than a torn
    one); ``lost_packets`` counts gaps. Malformed payloads raise RtpError.
    """

    codec: Codec
    lost_packets: int = 0
    _nals: list[bytes] = field(default_factory=list)
    _fu: bytearray | None = None
    _timestamp: int | None = None
    _next_seq: int | None = None

    def push(self, packet: RtpPacket) -> list[bytes]:
        """Add one packet in sequence order; return the access units it completes."""
        done = []
        if self._timestamp is not None and packet.timestamp != self._timestamp:
            done.append(self._take())
        if self._next_seq is not None and packet.sequence != self._next_seq:
            self.lost_packets += (packet.sequence - self._next_seq) & 0xFFFF
            self._fu = None
        self._next_seq = (packet.sequence + 1) & 0xFFFF
        self._timestamp = packet.timestamp
        self._read(packet.payload)
        if packet.marker:
            done.append(self._take())
        return [unit for unit in done if unit]

    def _take(self) -> bytes:
        out = b"".join(_START + nal for nal in self._nals)
        self._nals, self._fu, self._timestamp = [], None, None
        return out

    def _read(self, payload: bytes) -> None:
        hsize = _header_size(self.codec)
        if len(payload) <= hsize:
            raise RtpError(f"{self.codec.value} RTP payload of {len(payload)} bytes is too short")
        if self.codec is Codec.H264:
            kind = payload[0] & 0x1F
            aggregate, fragment = kind == _H264_STAP_A, kind == _H264_FU_A
        else:
            kind = (payload[0] >> 1) & 0x3F
            aggregate, fragment = kind == _H265_AP, kind == _H265_FU
        if aggregate:
            self._nals += _split_aggregate(payload[hsize:])
        elif fragment:
            self._fragment(payload, hsize)
        elif (self.codec is Codec.H264 and kind in range(25, 32)) or kind > _H265_FU:
            raise RtpError(f"{self.codec.value} RTP packet type {kind} is not supported")
        else:
            self._nals.append(payload)

    def _fragment(self, payload: bytes, hsize: int) -> None:
        if len(payload) < hsize + 2:
            raise RtpError("fragmentation unit without payload")
        fu = payload[hsize]
        start, end = bool(fu & 0x80), bool(fu & 0x40)
        if start:
            if self.codec is Codec.H264:
                head = bytes((payload[0] & 0xE0 | fu & 0x1F,))
            else:
                head = bytes((payload[0] & 0x81 | (fu & 0x3F) << 1, payload[1]))
            self._fu = bytearray(head)
        if self._fu is None:
            return  # the start was lost: wait for the next NAL unit
        self._fu += payload[hsize + 1 :]
        if end:
            self._nals.append(bytes(self._fu))
            self._fu = None


def _split_aggregate(body: bytes) -> list[bytes]:
    nals = []
    pos = 0
    while pos < len(body):
        if pos + 2 > len(body):
            raise RtpError("aggregation packet ends inside a NAL size")
        (size,) = struct.unpack_from("!H", body, pos)
        pos += 2
        if size == 0 or pos + size > len(body):
            raise RtpError(f"aggregation packet NAL size {size} is impossible")
        nals.append(body[pos : pos + size])
        pos += size
    return nals


def _b64(nal: bytes) -> str:
    return base64.b64encode(nal).decode("ascii")


def sdp_attributes(info: StreamInfo, payload_type: int = 96) -> list[str]:
    """``rtpmap`` and ``fmtp`` attribute values (without ``a=``) for a video stream."""
    if info.codec is Codec.H264:
        params = ["packetization-mode=1"]
        if info.sps and len(info.sps[0]) >= 4:
            params.append(f"profile-level-id={info.sps[0][1:4].hex().upper()}")
        if info.sps and info.pps:
            sets = ",".join(_b64(n) for n in (*info.sps, *info.pps))
            params.append(f"sprop-parameter-sets={sets}")
        name = "H264"
    elif info.codec is Codec.H265:
        params = []
        if info.sps_info is not None:
            s = info.sps_info
            params += [f"profile-id={s.profile_idc}", f"tier-flag={s.tier_flag}"]
            params.append(f"level-id={s.level_idc}")
        for key, nals in (("vps", info.vps), ("sps", info.sps), ("pps", info.pps)):
            if nals:
                params.append(f"sprop-{key}={','.join(_b64(n) for n in nals)}")
        name = "H265"
    else:
        raise RtpError(f"no RTP payload format for {info.codec.value} here")
    out = [f"rtpmap:{payload_type} {name}/90000"]
    if params:
        out.append(f"fmtp:{payload_type} {';'.join(params)}")
    return out
