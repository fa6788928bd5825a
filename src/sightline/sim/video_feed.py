"""Live encoded video for simulated channels: one encoder per (channel, codec), shared by calls.

A :class:`LiveFeed` draws the channel's :class:`~.video.TestPattern` at the configured rate,
encodes it with PyAV (libx264 ``ultrafast``/``zerolatency``, or libx265), and hands every
access unit (Annex-B) to each subscribed media session. So ten platforms watching one camera
cost one encoder, as on a real camera; a feed starts with its first subscriber and stops with
its last. A new subscriber asks for a key frame, which the next frame becomes (forced IDR), so
a call starts within one frame period instead of waiting up to a GOP.

Why encode live instead of looping a pre-encoded clip: the picture carries the wall-clock time
and the PTZ position, which tests read back; a loop could carry neither. It stays cheap because
the picture is mostly static (skip blocks), and the encoder runs in a worker thread (PyAV drops
the GIL while encoding), so two cores carry dozens of 640x360 channels: see the report in
``tests/sim/test_video_cpu.py``. Frames are paced on the loop clock; when the machine falls
behind, frames are skipped rather than queued, so the stream stays live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import av

from sightline.sim.ptz_state import PtzPosition
from sightline.sim.video import Plane, TestPattern, VideoCodec, VideoSettings

__all__ = ["EncodedFrame", "FrameEncoder", "LiveFeed", "VideoHub", "video_frame"]

log = logging.getLogger(__name__)

_MAX_LATE_FRAMES = 2


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One access unit (Annex-B) of a feed."""

    data: bytes
    pts_90k: int
    keyframe: bool
    unix_ms: int  # the time written into the picture


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


FrameSink = Callable[[EncodedFrame], None]
PositionSource = Callable[[], PtzPosition]


class LiveFeed:
    """One channel's live encoded video, fanned out to subscribers (see module docstring)."""

    def __init__(
        self,
        channel_id: str,
        settings: VideoSettings,
        position: PositionSource,
        executor: ThreadPoolExecutor | None,
        *,
        tint: int = 0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.channel_id = channel_id
        self.settings = settings
        self._position = position
        self._executor = executor
        self._wall_clock = wall_clock
        self._pattern = TestPattern(
            settings.width,
            settings.height,
            label=channel_id,
            noise_rows=settings.noise_rows,
            tint=tint,
        )
        self._encoder: FrameEncoder | None = None
        self._encoder_lock = threading.Lock()  # a cancelled call may still be encoding
        self._sinks: list[FrameSink] = []
        self._want_key = True
        self._task: asyncio.Task[None] | None = None
        self.frames = 0
        self.skipped = 0
        self.encode_s = 0.0  # thread CPU time spent drawing and encoding

    @property
    def subscribers(self) -> int:
        """Sessions receiving this feed."""
        return len(self._sinks)

    def subscribe(self, sink: FrameSink) -> None:
        """Deliver every frame from the next key frame on to ``sink``."""
        self._sinks.append(sink)
        self._want_key = True
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def unsubscribe(self, sink: FrameSink) -> None:
        """Stop delivering to ``sink`` (the feed stops after its last subscriber)."""
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)
        if not self._sinks and self._task is not None:
            self._task.cancel()  # now, not at the next frame: the hub may be shutting down

    async def close(self) -> None:
        """Stop the feed now."""
        self._sinks.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        index = 0
        fps = self.settings.fps
        try:
            while self._sinks:
                late = loop.time() - (start + index / fps)
                if late < 0:
                    await asyncio.sleep(-late)
                elif late > _MAX_LATE_FRAMES / fps:
                    jump = int((loop.time() - start) * fps)
                    self.skipped += jump - index
                    index = jump
                force, self._want_key = self._want_key, False
                started = time.thread_time()
                unix_ms = int(self._wall_clock() * 1000)
                picture = self._pattern.render(
                    unix_ms=unix_ms, ptz=self._position(), frame_index=index
                )
                frame = video_frame(picture, index, force_key=force)
                self.encode_s += time.thread_time() - started
                if self._executor is None:
                    units = self._encode(frame)
                else:
                    units = await loop.run_in_executor(self._executor, self._encode, frame)
                pts = index * 90000 // fps
                self.frames += 1
                for data, key in units:
                    encoded = EncodedFrame(data, pts, key, unix_ms)
                    for sink in list(self._sinks):
                        sink(encoded)
                index += 1
        finally:
            self._task = None
            try:
                if self._executor is None:
                    raise RuntimeError("no encoder threads")
                self._executor.submit(self._release)
            except RuntimeError:  # no threads, or already shut down
                self._release()

    def _release(self) -> None:
        with self._encoder_lock:
            encoder, self._encoder = self._encoder, None
            if encoder is not None:
                encoder.close()

    def _encode(self, frame: av.VideoFrame) -> list[tuple[bytes, bool]]:
        started = time.thread_time()
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = FrameEncoder(self.settings)
            units = self._encoder.encode_frame(frame)
        self.encode_s += time.thread_time() - started
        return units


class VideoHub:
    """Every live feed of a simulator, by (channel, codec), and the threads that encode them."""

    def __init__(self, settings: VideoSettings, *, workers: int | None = None) -> None:
        """``workers`` encoder threads (default: one per CPU); 0 encodes on the event loop."""
        self.settings = settings
        count = os.cpu_count() or 2 if workers is None else workers
        self._executor = (
            ThreadPoolExecutor(max_workers=count, thread_name_prefix="sim-video") if count else None
        )
        self._feeds: dict[tuple[str, VideoCodec], LiveFeed] = {}

    @property
    def executor(self) -> ThreadPoolExecutor | None:
        """The encoder threads (None: encode on the event loop)."""
        return self._executor

    @property
    def feeds(self) -> dict[tuple[str, VideoCodec], LiveFeed]:
        """The feeds that exist now (idle feeds are dropped when their last call ends)."""
        return self._feeds

    def subscribe(
        self, channel_id: str, position: PositionSource, sink: FrameSink, *, tint: int = 0
    ) -> LiveFeed:
        """Attach ``sink`` to the channel's feed, creating it if needed."""
        key = (channel_id, self.settings.codec)
        feed = self._feeds.get(key)
        if feed is None:
            feed = LiveFeed(channel_id, self.settings, position, self._executor, tint=tint)
            self._feeds[key] = feed
        feed.subscribe(sink)
        return feed

    def unsubscribe(self, feed: LiveFeed, sink: FrameSink) -> None:
        """Detach ``sink``; forget the feed when nobody watches it."""
        feed.unsubscribe(sink)
        if not feed.subscribers:
            self._feeds.pop((feed.channel_id, feed.settings.codec), None)

    async def close(self) -> None:
        """Stop every feed and the encoder threads."""
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            await feed.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
