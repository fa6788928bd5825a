"""MPEG-PS muxer for the simulator, following GB/T 28181 Annex C's packing rule.

One video frame makes one pack: pack header, then on key frames a system header and a PSM,
then the frame as one or more PES packets (a PES holds at most 65535 bytes, so bigger frames
are split; only the first PES carries PTS/DTS), then any audio PES. Audio may also be sent
in its own pack with ``mux_audio``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sightline.media.errors import PsMuxError
from sightline.media.ps_format import (
    AUDIO_CODECS,
    STREAM_TYPE_OF,
    Codec,
    encode_timestamp,
    pack_header,
    pes_header,
    program_stream_map,
    system_header,
)

__all__ = ["AudioChunk", "FrameTemplate", "PsMuxer"]

VIDEO_STREAM_ID = 0xE0
AUDIO_STREAM_ID = 0xC0
_MAX_PES_PAYLOAD = 0xFFFF - 3 - 10  # room for a PTS+DTS header


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Audio bytes with their 90 kHz PTS, to ride in a video frame's pack."""

    data: bytes
    pts_90k: int


class FrameTemplate:
    """A video frame muxed once; :meth:`stamp` writes a stream's SCR and PTS into a copy.

    Equal to ``PsMuxer.mux_frame(data, pts, keyframe=...)`` (PTS = DTS, no audio) byte for
    byte, for senders that send one frame on many streams with different clocks.
    """

    __slots__ = ("_body", "_mux_rate", "_pts_at")

    def __init__(self, body: bytes, pts_at: int, mux_rate_50: int) -> None:
        self._body = body
        self._pts_at = pts_at
        self._mux_rate = mux_rate_50

    def stamp(self, pts_90k: int) -> bytearray:
        """The pack for ``pts_90k`` (also its SCR), ready to append audio PES to."""
        if pts_90k < 0:
            raise PsMuxError(f"bad timestamp pts={pts_90k}")
        out = bytearray(self._body)
        out[0:14] = pack_header(pts_90k, self._mux_rate)
        at = self._pts_at
        out[at : at + 5] = encode_timestamp(2, pts_90k)
        return out


class PsMuxer:
    """Write video (and optional audio) access units as GB/T 28181 PS packs."""

    def __init__(
        self,
        video_codec: Codec = Codec.H264,
        audio_codec: Codec | None = None,
        *,
        max_pes_payload: int = _MAX_PES_PAYLOAD,
        mux_rate_50: int = 6106,
    ) -> None:
        if video_codec in AUDIO_CODECS or video_codec not in STREAM_TYPE_OF:
            raise PsMuxError(f"{video_codec.value} is not a video codec PS can carry")
        if audio_codec is not None and audio_codec not in AUDIO_CODECS:
            raise PsMuxError(f"{audio_codec.value} is not an audio codec")
        if not 0 < max_pes_payload <= _MAX_PES_PAYLOAD:
            raise PsMuxError(f"max_pes_payload must be 1..{_MAX_PES_PAYLOAD}")
        self.video_codec = video_codec
        self.audio_codec = audio_codec
        self._max_payload = max_pes_payload
        self._mux_rate = mux_rate_50
        streams = [(STREAM_TYPE_OF[video_codec], VIDEO_STREAM_ID)]
        ids = [(VIDEO_STREAM_ID, True)]
        if audio_codec is not None:
            streams.append((STREAM_TYPE_OF[audio_codec], AUDIO_STREAM_ID))
            ids.append((AUDIO_STREAM_ID, False))
        self._headers = system_header(ids, mux_rate_50) + program_stream_map(streams)
        self.layout = (video_codec, audio_codec, max_pes_payload, mux_rate_50)
        """What decides the bytes of a pack besides the frame and its time."""

    def mux_frame(
        self,
        data: bytes,
        pts_90k: int,
        *,
        dts_90k: int | None = None,
        keyframe: bool = False,
        audio: Sequence[AudioChunk] = (),
    ) -> bytes:
        """One pack holding a video access unit (Annex-B) and any audio for the same time."""
        if not data:
            raise PsMuxError("empty video frame")
        dts = pts_90k if dts_90k is None else dts_90k
        if pts_90k < 0 or dts < 0 or dts > pts_90k:
            raise PsMuxError(f"bad timestamps pts={pts_90k} dts={dts}")
        out = bytearray(pack_header(dts, self._mux_rate))
        if keyframe:
            out += self._headers
        out += self._pes(VIDEO_STREAM_ID, data, pts_90k, dts)
        for chunk in audio:
            out += self._audio_pes(chunk)
        return bytes(out)

    def frame_template(self, data: bytes, *, keyframe: bool = False) -> FrameTemplate:
        """``data`` muxed once, for :meth:`FrameTemplate.stamp` with each stream's clock."""
        body = self.mux_frame(data, 0, keyframe=keyframe)
        pts_at = 14 + (len(self._headers) if keyframe else 0) + 9
        return FrameTemplate(body, pts_at, self._mux_rate)

    def audio_pes(self, chunk: AudioChunk) -> bytes:
        """The PES for one audio chunk, to append to a video frame's pack."""
        return self._audio_pes(chunk)

    def mux_audio(self, data: bytes, pts_90k: int) -> bytes:
        """A pack holding only audio."""
        return pack_header(pts_90k, self._mux_rate) + self._audio_pes(AudioChunk(data, pts_90k))

    def _audio_pes(self, chunk: AudioChunk) -> bytes:
        if self.audio_codec is None:
            raise PsMuxError("this muxer was created without an audio codec")
        if not chunk.data or chunk.pts_90k < 0:
            raise PsMuxError("audio needs data and a non-negative PTS")
        return self._pes(AUDIO_STREAM_ID, chunk.data, chunk.pts_90k, None)

    def _pes(self, stream_id: int, data: bytes, pts: int, dts: int | None) -> bytes:
        out = bytearray()
        step = self._max_payload
        for pos in range(0, len(data), step):
            piece = data[pos : pos + step]
            first = pos == 0
            out += pes_header(
                stream_id, len(piece), pts if first else None, dts if first else None, first
            )
            out += piece
        return bytes(out)
