"""Access units → one standard (not fragmented) MP4 file, by remuxing with PyAV.

Exports and downloads are files for people: any player and any forensic tool must open them,
so they are plain ISO BMFF (``ftyp``, ``mdat``, ``moov``), written by FFmpeg's mov muxer
through PyAV. Nothing is re-encoded: the device's H.264/H.265 access units (Annex-B, as the PS
demuxer gives them) go in as packets, and the muxer builds ``avcC``/``hvcC`` from the first key
frame's parameter sets. Audio is left out (GB devices' G.711 has no MP4 mapping players share).

The file starts at the first video key frame; timestamps are moved so it starts at zero and
decode times never go backwards (a device's clock may jump at a segment boundary). The file
is written under a temporary name and renamed into place by :meth:`Mp4Writer.close`, so a
crash never leaves a half file under the final name.
"""

from __future__ import annotations

import contextlib
import logging
import os
from fractions import Fraction
from pathlib import Path

import av

from sightline.media.errors import MediaError
from sightline.media.es import split_annexb
from sightline.media.es_sps import parse_sps
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit

__all__ = ["Mp4Writer", "Mp4WriterError"]

log = logging.getLogger(__name__)

_TIME_BASE = Fraction(1, 90000)
_CODEC_NAMES = {Codec.H264: "h264", Codec.H265: "hevc"}
_SPS_TYPES = {Codec.H264: 7, Codec.H265: 33}


class Mp4WriterError(MediaError):
    """The units cannot be written as MP4 (unsupported codec, nothing to write, disk error)."""


def _sps_size(codec: Codec, data: bytes) -> tuple[int, int] | None:
    for nal in split_annexb(data):
        if not nal:
            continue
        kind = nal[0] & 0x1F if codec is Codec.H264 else (nal[0] >> 1) & 0x3F
        if kind == _SPS_TYPES[codec]:
            try:
                info = parse_sps(codec, nal)
            except MediaError:
                return None
            return info.width, info.height
    return None


class Mp4Writer:
    """Writes the video access units given to :meth:`write` into ``path`` (see module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = path.with_name(path.name + ".partial")
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._codec: Codec | None = None
        self._first_pts: int | None = None
        self._last_dts = -1
        self._last_pts = 0
        self.frames = 0

    @property
    def duration_s(self) -> float:
        """Media time written so far (first to last frame, plus one frame period guess)."""
        return self._last_pts / 90000 if self.frames else 0.0

    def write(self, unit: AccessUnit) -> bool:
        """Add one access unit; False when it is skipped (audio, or before the first key frame)."""
        if unit.codec not in _CODEC_NAMES:
            if self._codec is None and unit.codec in (Codec.MPEG4, Codec.SVAC):
                raise Mp4WriterError(f"{unit.codec.value} video cannot be written as MP4")
            return False
        if self._container is None:
            if not unit.keyframe:
                return False
            self._open(unit)
        if unit.codec is not self._codec:
            return False  # a codec change mid-file: keep the file consistent
        return self._mux(unit)

    def _open(self, unit: AccessUnit) -> None:
        size = _sps_size(unit.codec, unit.data)
        if size is None:
            raise Mp4WriterError("the first key frame carries no readable SPS")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            container = av.open(str(self._partial), mode="w", format="mp4")
        except (OSError, av.error.FFmpegError) as exc:
            raise Mp4WriterError(f"cannot create {self._partial}: {exc}") from exc
        stream = container.add_stream(_CODEC_NAMES[unit.codec], rate=25)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        stream.time_base = _TIME_BASE
        self._container, self._stream, self._codec = container, stream, unit.codec
        self._first_pts = unit.pts_90k

    def _mux(self, unit: AccessUnit) -> bool:
        assert self._container is not None and self._first_pts is not None
        pts = unit.pts_90k - self._first_pts
        dts = unit.dts_90k - self._first_pts
        if dts <= self._last_dts:
            dts = self._last_dts + 1  # never backwards: the muxer refuses it
        pts = max(pts, dts)
        packet = av.Packet(unit.data)
        packet.pts, packet.dts, packet.time_base = pts, dts, _TIME_BASE
        assert self._stream is not None
        packet.stream = self._stream
        packet.is_keyframe = unit.keyframe
        try:
            self._container.mux(packet)
        except (OSError, av.error.FFmpegError) as exc:
            raise Mp4WriterError(f"cannot write {self._partial}: {exc}") from exc
        self._last_dts, self._last_pts = dts, max(self._last_pts, pts)
        self.frames += 1
        return True

    def close(self) -> Path:
        """Finish the file (``moov``) and move it to ``path``; raises if nothing was written."""
        container, self._container = self._container, None
        if container is None:
            raise Mp4WriterError("no video key frame arrived: nothing to write")
        try:
            container.close()
        except (OSError, av.error.FFmpegError) as exc:
            self.discard()
            raise Mp4WriterError(f"cannot finish {self._partial}: {exc}") from exc
        os.replace(self._partial, self.path)
        log.info("wrote %s: %d frames, %.1f s", self.path, self.frames, self.duration_s)
        return self.path

    def discard(self) -> None:
        """Drop what was written (a failed or cancelled export)."""
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(OSError, av.error.FFmpegError):
                container.close()
        with contextlib.suppress(OSError):
            self._partial.unlink()
