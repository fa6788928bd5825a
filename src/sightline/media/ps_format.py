"""MPEG-2 program stream structures (ISO/IEC 13818-1 §2.5) shared by the muxer and demuxer.

    pack header    00 00 01 BA  '01' SCR(33, with markers) SCR_ext(9) mux_rate(22) '11'
                                reserved(5) stuffing_length(3) [stuffing 0xFF...]  (14 + n)
                   MPEG-1:      '0010' SCR(33) mux_rate(22)                       (12)
    system header  00 00 01 BB  length(16) rate_bound audio/video bounds, per stream:
                                stream_id '11' P-STD_buffer_bound_scale(1) size_bound(13)
    PSM            00 00 01 BC  length(16) current_next(1) '..' version(5) reserved(7) '1'
                                info_length(16) [descriptors] es_map_length(16)
                                { stream_type es_id info_length(16) [descriptors] } CRC_32
    PES            00 00 01 id  length(16) '10' flags... PTS_DTS_flags(2) ... header_len(8)
                                [PTS(5)] [DTS(5)] [stuffing] payload

Timestamps are 33-bit 90 kHz counts; the 5-byte PTS/DTS field is
``'001x' ts[32..30] '1' ts[29..15] '1' ts[14..0] '1'``.
"""

from __future__ import annotations

import enum
import struct

__all__ = [
    "AUDIO_CODECS",
    "STREAM_TYPES",
    "TS_MODULO",
    "Codec",
    "crc32_mpeg",
    "decode_timestamp",
    "encode_timestamp",
    "pack_header",
    "pes_header",
    "program_stream_map",
    "system_header",
]

TS_MODULO = 1 << 33
PACK_START = b"\x00\x00\x01\xba"
SYSTEM_HEADER_START = b"\x00\x00\x01\xbb"
PSM_START = b"\x00\x00\x01\xbc"


class Codec(enum.Enum):
    """An elementary-stream codec carried in PS."""

    H264 = "h264"
    H265 = "h265"
    MPEG4 = "mpeg4"
    SVAC = "svac"
    AAC = "aac"
    G711A = "g711a"
    G711U = "g711u"
    G722_1 = "g722.1"
    G723_1 = "g723.1"
    G729 = "g729"
    SVAC_AUDIO = "svac-audio"


# PSM stream_type values (ISO/IEC 13818-1 Table 2-34 and GB/T 28181 Annex C).
STREAM_TYPES: dict[int, Codec] = {
    0x0F: Codec.AAC,
    0x10: Codec.MPEG4,
    0x1B: Codec.H264,
    0x24: Codec.H265,
    0x80: Codec.SVAC,
    0x90: Codec.G711A,
    0x91: Codec.G711U,
    0x92: Codec.G722_1,
    0x93: Codec.G723_1,
    0x99: Codec.G729,
    0x9B: Codec.SVAC_AUDIO,
}
STREAM_TYPE_OF: dict[Codec, int] = {codec: st for st, codec in STREAM_TYPES.items()}
AUDIO_CODECS = frozenset(
    {
        Codec.AAC,
        Codec.G711A,
        Codec.G711U,
        Codec.G722_1,
        Codec.G723_1,
        Codec.G729,
        Codec.SVAC_AUDIO,
    }
)

_CRC_TABLE: list[int] = []
for _i in range(256):
    _c = _i << 24
    for _ in range(8):
        _c = ((_c << 1) ^ 0x04C11DB7) if _c & 0x80000000 else _c << 1
    _CRC_TABLE.append(_c & 0xFFFFFFFF)


def crc32_mpeg(data: bytes) -> int:
    """CRC-32/MPEG-2 (polynomial 0x04C11DB7, not reflected, no final xor)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


def encode_timestamp(prefix: int, ts: int) -> bytes:
    """The 5-byte PTS/DTS field with a 4-bit prefix (2 = PTS only, 3 = PTS, 1 = DTS)."""
    ts %= TS_MODULO
    return bytes(
        (
            (prefix << 4) | ((ts >> 29) & 0x0E) | 1,
            (ts >> 22) & 0xFF,
            ((ts >> 14) & 0xFE) | 1,
            (ts >> 7) & 0xFF,
            ((ts << 1) & 0xFE) | 1,
        )
    )


def decode_timestamp(b: bytes | bytearray, pos: int) -> int | None:
    """Read a 5-byte PTS/DTS at ``pos``; None when its marker bits are wrong."""
    b0, b2, b4 = b[pos], b[pos + 2], b[pos + 4]
    if not (b0 & b2 & b4 & 1):
        return None
    return (
        ((b0 & 0x0E) << 29)
        | (b[pos + 1] << 22)
        | ((b2 & 0xFE) << 14)
        | (b[pos + 3] << 7)
        | (b4 >> 1)
    )


def pack_header(scr_90k: int, mux_rate_50: int = 6106) -> bytes:
    """A 14-byte MPEG-2 pack header; ``mux_rate_50`` is in units of 50 bytes/s."""
    scr = scr_90k % TS_MODULO
    b = (
        (1 << 78)
        | (((scr >> 30) & 0x7) << 75)
        | (1 << 74)
        | (((scr >> 15) & 0x7FFF) << 59)
        | (1 << 58)
        | ((scr & 0x7FFF) << 43)
        | (1 << 42)
        | (1 << 32)  # SCR extension 0, marker
        | ((mux_rate_50 & 0x3FFFFF) << 10)
        | (0b11 << 8)
        | (0x1F << 3)  # reserved, no stuffing
    )
    return PACK_START + b.to_bytes(10, "big")


def system_header(streams: list[tuple[int, bool]], rate_bound_50: int = 6106) -> bytes:
    """A system header listing ``(stream_id, is_video)`` streams with generous buffers."""
    audio = sum(1 for _, video in streams if not video)
    video = len(streams) - audio
    body = bytearray(
        (
            0x80 | (rate_bound_50 >> 15) & 0x7F,
            (rate_bound_50 >> 7) & 0xFF,
            ((rate_bound_50 << 1) & 0xFE) | 1,
            (audio << 2) & 0xFC,  # fixed_flag 0, CSPS_flag 0
            0xE0 | video,  # audio/video lock flags, marker
            0x7F,  # packet_rate_restriction 0, reserved
        )
    )
    for stream_id, is_video in streams:
        # P-STD buffer: video 1024 × 1024 bytes (scale 1), audio 32 × 128 bytes (scale 0).
        bound = (0x2000 | 1024) if is_video else 32
        body += struct.pack("!BH", stream_id, 0xC000 | bound)
    return SYSTEM_HEADER_START + struct.pack("!H", len(body)) + bytes(body)


def program_stream_map(streams: list[tuple[int, int]], version: int = 0) -> bytes:
    """A PSM mapping ``(stream_type, stream_id)`` pairs, with its CRC."""
    es_map = b"".join(struct.pack("!BBH", st, sid, 0) for st, sid in streams)
    body = (
        bytes((0xA0 | (version & 0x1F), 0xFF))
        + struct.pack("!H", 0)
        + struct.pack("!H", len(es_map))
        + es_map
    )
    length = len(body) + 4
    head = PSM_START + struct.pack("!H", length) + body
    return head + crc32_mpeg(head).to_bytes(4, "big")


def pes_header(
    stream_id: int, payload_len: int, pts: int | None, dts: int | None, aligned: bool
) -> bytes:
    """An MPEG-2 PES header for ``payload_len`` bytes; DTS only when it differs from PTS."""
    fields = b""
    flags = 0
    if pts is not None:
        if dts is not None and dts != pts:
            flags = 0xC0
            fields = encode_timestamp(3, pts) + encode_timestamp(1, dts)
        else:
            flags = 0x80
            fields = encode_timestamp(2, pts)
    length = 3 + len(fields) + payload_len
    if length > 0xFFFF:
        raise ValueError(f"PES of {length} bytes does not fit PES_packet_length")
    return (
        b"\x00\x00\x01"
        + bytes((stream_id,))
        + struct.pack("!HBBB", length, 0x84 if aligned else 0x80, flags, len(fields))
        + fields
    )
