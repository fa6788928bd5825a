"""Access units over a byte stream between two processes (a media worker's relay socket).

Sans-IO: :func:`encode_unit` and :func:`encode_end` make one record each; a record is a
fixed head (:data:`HEAD`: relay id, kind, then the unit's codec, stream id, times, flags, and
the payload length) and the payload (the unit's bytes, or for an end record the reason as
UTF-8 JSON). The reader reads ``HEAD.size`` bytes, :func:`parse_head`, then the payload, and
:func:`decode_unit` / :func:`decode_end`. Several relays share one socket, told apart by id.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from sightline.media.errors import MediaError
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit, TimestampOrigin

__all__ = [
    "HEAD",
    "MAX_PAYLOAD",
    "RecordHead",
    "UnitWireError",
    "decode_end",
    "decode_unit",
    "encode_end",
    "encode_unit",
    "parse_head",
]

# relay id, kind (U unit, E end), codec, stream id, pts, dts, keyframe, origin,
# audio_declared (0 unknown, 1 no, 2 yes), payload length
HEAD = struct.Struct("!IcBBqqBBBI")
MAX_PAYLOAD = 64 * 1024 * 1024  # far beyond any frame: a larger length is a broken stream

_UNIT = b"U"
_END = b"E"
_CODECS = tuple(Codec)
_CODEC_INDEX = {codec: index for index, codec in enumerate(_CODECS)}
_ORIGINS = tuple(TimestampOrigin)
_ORIGIN_INDEX = {origin: index for index, origin in enumerate(_ORIGINS)}
_DECLARED = {None: 0, False: 1, True: 2}


class UnitWireError(MediaError):
    """A record that cannot be one: unknown kind or codec, or a length out of bounds."""


@dataclass(frozen=True, slots=True)
class RecordHead:
    """A parsed head: what the payload that follows is."""

    relay_id: int
    end: bool
    codec: int
    stream_id: int
    pts_90k: int
    dts_90k: int
    keyframe: bool
    origin: int
    declared: int
    length: int


def encode_unit(relay_id: int, unit: AccessUnit) -> bytes:
    """One record carrying ``unit``."""
    head = HEAD.pack(
        relay_id,
        _UNIT,
        _CODEC_INDEX[unit.codec],
        unit.stream_id,
        unit.pts_90k,
        unit.dts_90k,
        unit.keyframe,
        _ORIGIN_INDEX[unit.origin],
        _DECLARED[unit.audio_declared],
        len(unit.data),
    )
    return head + unit.data


def encode_end(relay_id: int, reason: dict[str, Any]) -> bytes:
    """The last record of a relay: why it ended (JSON-ready fields)."""
    payload = json.dumps(reason, separators=(",", ":")).encode()
    return HEAD.pack(relay_id, _END, 0, 0, 0, 0, 0, 0, 0, len(payload)) + payload


def parse_head(data: bytes) -> RecordHead:
    """The head in ``data`` (HEAD.size bytes); UnitWireError when it cannot be one."""
    relay_id, kind, codec, stream_id, pts, dts, key, origin, declared, length = HEAD.unpack(data)
    if kind not in (_UNIT, _END):
        raise UnitWireError(f"unknown record kind {kind!r}")
    if length > MAX_PAYLOAD:
        raise UnitWireError(f"record of {length} bytes (at most {MAX_PAYLOAD})")
    if kind == _UNIT and (
        codec >= len(_CODECS) or origin >= len(_ORIGINS) or declared > 2 or key > 1
    ):
        raise UnitWireError(
            f"unit record with codec {codec}, origin {origin}, flags {key} and {declared}"
        )
    return RecordHead(
        relay_id, kind == _END, codec, stream_id, pts, dts, bool(key), origin, declared, length
    )


def decode_unit(head: RecordHead, payload: bytes) -> AccessUnit:
    """The access unit of a unit record."""
    return AccessUnit(
        codec=_CODECS[head.codec],
        stream_id=head.stream_id,
        pts_90k=head.pts_90k,
        dts_90k=head.dts_90k,
        data=payload,
        keyframe=head.keyframe,
        origin=_ORIGINS[head.origin],
        audio_declared=(None, False, True)[head.declared],
    )


def decode_end(payload: bytes) -> dict[str, Any]:
    """The reason of an end record; UnitWireError when it is not a JSON object."""
    try:
        reason = json.loads(payload)
    except ValueError as exc:
        raise UnitWireError(f"end record is not JSON: {exc}") from None
    if not isinstance(reason, dict):
        raise UnitWireError("end record is not an object")
    return reason
