"""The AAC track of a fragmented MP4, and the ADTS framing AAC travels in before it.

    trak ─ tkhd, mdia ─ mdhd (timescale = sample rate), hdlr "soun",
                        minf ─ smhd, dinf, stbl ─ stsd ─ mp4a ─ esds (AudioSpecificConfig)
    fragment   moof ─ mfhd, traf ─ tfhd, tfdt, trun      mdat ─ raw AAC frames

AAC reaches the packager as ADTS frames (ISO/IEC 13818-7 §6.2): how cameras put AAC into
PS (stream type 0x0F), and what :mod:`sightline.media.audio` makes from G.711. The 7-byte ADTS
header names profile, sample rate and channels, which is all an AudioSpecificConfig
(ISO/IEC 14496-3 §1.6.2.1) needs, so the track can be declared from the first frame; the
header is stripped from the MP4 samples. Every AAC frame is 1024 samples long.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sightline.media.errors import MediaError

__all__ = [
    "AAC_FRAME_SAMPLES",
    "AacConfig",
    "AdtsError",
    "adts_frame",
    "audio_moof",
    "audio_trak",
    "parse_adts",
]

AAC_FRAME_SAMPLES = 1024
_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
_ADTS_HEADER = 7
_TRUN_FLAGS = 0x000301  # data offset, then per sample: duration, size
_MATRIX = struct.pack("!9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


class AdtsError(MediaError):
    """Bytes that are not an ADTS frame this packager can carry."""


def box(kind: bytes, *parts: bytes) -> bytes:
    """An ISO BMFF box."""
    body = b"".join(parts)
    return struct.pack("!I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    """An ISO BMFF full box (version and flags first)."""
    return box(kind, struct.pack("!I", (version << 24) | flags), *parts)


@dataclass(frozen=True, slots=True)
class AacConfig:
    """What an AAC track declares: audio object type (2 = LC), sample rate, channels."""

    object_type: int
    sample_rate: int
    channels: int

    @property
    def codec_string(self) -> str:
        """RFC 6381 codec string, e.g. ``mp4a.40.2``."""
        return f"mp4a.40.{self.object_type}"

    def audio_specific_config(self) -> bytes:
        """The 2-byte AudioSpecificConfig for the esds box."""
        index = _RATES.index(self.sample_rate)
        return struct.pack("!H", (self.object_type << 11) | (index << 7) | (self.channels << 3))


def parse_adts(data: bytes) -> tuple[AacConfig, bytes]:
    """The config and raw AAC payload of one ADTS frame (raises AdtsError)."""
    if len(data) < _ADTS_HEADER or data[0] != 0xFF or data[1] & 0xF6 != 0xF0:
        raise AdtsError("no ADTS sync word")
    header = _ADTS_HEADER if data[1] & 0x01 else _ADTS_HEADER + 2  # protection_absent
    profile = data[2] >> 6
    rate_index = (data[2] >> 2) & 0x0F
    channels = ((data[2] & 0x01) << 2) | (data[3] >> 6)
    length = ((data[3] & 0x03) << 11) | (data[4] << 3) | (data[5] >> 5)
    if rate_index >= len(_RATES) or not 1 <= channels <= 7:
        raise AdtsError(f"unsupported ADTS rate index {rate_index} / channels {channels}")
    if data[6] & 0x03:
        raise AdtsError("ADTS frames holding more than one raw data block are not supported")
    if not header < length <= len(data):
        raise AdtsError(f"ADTS frame length {length} does not fit {len(data)} bytes")
    return AacConfig(profile + 1, _RATES[rate_index], channels), data[header:length]


def adts_frame(config: AacConfig, raw: bytes) -> bytes:
    """Wrap one raw AAC frame in a 7-byte ADTS header (no CRC)."""
    length = _ADTS_HEADER + len(raw)
    if length >= 1 << 13:
        raise AdtsError(f"AAC frame of {len(raw)} bytes is too big for ADTS")
    index = _RATES.index(config.sample_rate)
    header = bytes(
        (
            0xFF,
            0xF1,  # MPEG-4, layer 0, no CRC
            ((config.object_type - 1) << 6) | (index << 2) | (config.channels >> 2),
            ((config.channels & 0x03) << 6) | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 0x07) << 5) | 0x1F,
            0xFC,  # buffer fullness 0x7FF (VBR), one raw data block
        )
    )
    return header + raw


def _esds(config: AacConfig) -> bytes:
    asc = config.audio_specific_config()
    specific = bytes((0x05, len(asc))) + asc
    decoder = bytes((0x04, 13 + len(specific), 0x40, 0x15)) + bytes(11) + specific
    sl = bytes((0x06, 1, 0x02))
    es = bytes((0x03, 3 + len(decoder) + len(sl))) + bytes(3) + decoder + sl
    return full_box(b"esds", 0, 0, es)


def audio_trak(config: AacConfig, track_id: int) -> bytes:
    """The ``trak`` box of an AAC track for an fMP4 init segment."""
    tkhd = full_box(
        b"tkhd", 0, 3,
        struct.pack("!5I", 0, 0, track_id, 0, 0), bytes(8),
        struct.pack("!HHHH", 0, 1, 0x0100, 0), _MATRIX, struct.pack("!II", 0, 0),
    )  # fmt: skip
    mdhd = full_box(b"mdhd", 0, 0, struct.pack("!IIIIHH", 0, 0, config.sample_rate, 0, 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, bytes(4), b"soun", bytes(12), b"SoundHandler\x00")
    smhd = full_box(b"smhd", 0, 0, bytes(4))
    dref = full_box(b"dref", 0, 0, struct.pack("!I", 1), full_box(b"url ", 0, 1))
    mp4a = box(
        b"mp4a",
        bytes(6), struct.pack("!H", 1), bytes(8),
        struct.pack("!HHHHI", config.channels, 16, 0, 0, config.sample_rate << 16),
        _esds(config),
    )  # fmt: skip
    empty = struct.pack("!I", 0)
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack("!I", 1), mp4a),
        full_box(b"stts", 0, 0, empty),
        full_box(b"stsc", 0, 0, empty),
        full_box(b"stsz", 0, 0, empty, empty),
        full_box(b"stco", 0, 0, empty),
    )
    minf = box(b"minf", smhd, box(b"dinf", dref), stbl)
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))


def audio_moof(sequence: int, track_id: int, decode_time: int, sizes: list[int]) -> bytes:
    """The ``moof`` of an audio fragment of 1024-sample frames; its ``mdat`` follows it."""
    entries = b"".join(struct.pack("!II", AAC_FRAME_SAMPLES, size) for size in sizes)
    # moof(8) mfhd(16) traf(8) tfhd(16) tfdt(20) trun(12 + 8 + entries), mdat header(8)
    data_offset = 8 + 16 + 8 + 16 + 20 + 20 + len(entries) + 8
    return box(
        b"moof",
        full_box(b"mfhd", 0, 0, struct.pack("!I", sequence)),
        box(
            b"traf",
            full_box(b"tfhd", 0, 0x020000, struct.pack("!I", track_id)),
            full_box(b"tfdt", 1, 0, struct.pack("!Q", decode_time)),
            full_box(b"trun", 0, _TRUN_FLAGS, struct.pack("!Ii", len(sizes), data_offset), entries),
        ),
    )
