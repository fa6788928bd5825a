"""The simulator's H.264/H.265 encoder and the access units it hands to media sessions.

Shared by the live feeds (:mod:`.video_feed`), the pre-encoded loop (:mod:`.video_loop`) and
the playback feeds (:mod:`.history_feed`): libx264 ``ultrafast``/``zerolatency`` without
B-frames (or libx265 alike), one thread per encoder, SPS/PPS (and VPS) in front of every key
frame, so any key frame is a place where a decoder can start.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction

import av

from sightline.sim.video import Plane, VideoCodec, VideoSettings

__all__ = ["EncodedFrame", "FrameEncoder", "video_frame"]


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One access unit (Annex-B) of a feed."""

    data: bytes
    pts_90k: int
    keyframe: bool
    unix_ms: int  # the time written into the picture (0: the picture carries no clock)


class FrameEncoder:
    """A PyAV encoder for one feed; not thread-safe, used by one thread at a time."""

    def __init__(self, settings: VideoSettings) -> None:
        self.settings = settings
        name = "libx264" if settings.codec is VideoCodec.H264 else "libx265"
        ctx = av.CodecContext.create(name, "w")
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height, ctx.pix_fmt = settings.width, settings.height, "yuv420p"
        ctx.time_base = Fraction(1, settings.fps)
        ctx.framerate = Fraction(settings.fps, 1)
        ctx.gop_size = max(1, round(settings.gop_s * settings.fps))
        ctx.bit_rate = settings.bitrate_kbps * 1000
        ctx.options = _options(settings.codec)
        self._ctx = ctx

    def encode(self, picture: Plane, index: int, *, force_key: bool) -> list[tuple[bytes, bool]]:
        """Encode one yuv420p picture; the access units that come out, with key-frame flags."""
        return self.encode_frame(video_frame(picture, index, force_key=force_key))

    def encode_frame(self, frame: av.VideoFrame) -> list[tuple[bytes, bool]]:
        """Encode a frame made by :func:`video_frame` (PyAV lets go of the GIL meanwhile)."""
        return [(bytes(p), p.is_keyframe) for p in self._ctx.encode(frame)]

    def flush(self) -> list[tuple[bytes, bool]]:
        """Drain the encoder: the access units it still held (none with ``zerolatency``)."""
        return [(bytes(p), p.is_keyframe) for p in self._ctx.encode(None)]

    def close(self) -> None:
        """Drain and release the encoder."""
        with contextlib.suppress(av.error.FFmpegError):
            self._ctx.encode(None)


def video_frame(picture: Plane, index: int, *, force_key: bool = False) -> av.VideoFrame:
    """A PyAV frame of a yuv420p picture, marked as a key frame when asked."""
    frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
    frame.pts = index
    if force_key:
        frame.pict_type = av.video.frame.PictureType.I
    return frame


def _options(codec: VideoCodec) -> dict[str, str]:
    # one thread per encoder: parallelism comes from many channels, and x264's own thread
    # pool per encoder would mean hundreds of threads in a fleet
    if codec is VideoCodec.H264:
        return {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "bf": "0",
            "threads": "1",
            "forced-idr": "1",
        }
    return {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "forced-idr": "1",
        "x265-params": "log-level=error:bframes=0:repeat-headers=1:pools=1:frame-threads=1",
    }
