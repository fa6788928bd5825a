"""Encoded video for simulated channels: live encoders per channel, or one pre-encoded loop.

A :class:`LiveFeed` draws the channel's :class:`~.video.TestPattern` at the configured rate,
encodes it with PyAV (libx264 ``ultrafast``/``zerolatency``, or libx265), and hands every
access unit (Annex-B) to each subscribed media session. So ten platforms watching one camera
cost one encoder, as on a real camera; a feed starts with its first subscriber and stops with
its last. A new subscriber asks for a key frame, which the next frame becomes (forced IDR), so
a call starts within one frame period instead of waiting up to a GOP.

Live is the default because the picture carries the channel's name, the wall-clock time and the
PTZ position, which tests read back. It stays cheap because the picture is mostly static (skip
blocks), and the encoder runs in a worker thread (PyAV drops the GIL while encoding), so two
cores carry dozens of 640x360 channels. Frames are paced on the loop clock; when the machine
falls behind, frames are skipped rather than queued, so the stream stays live.

For hundreds or thousands of channels a :class:`VideoHub` made with ``loop_video=True`` serves
every channel from one pre-encoded :class:`~.video_loop.VideoLoop` instead (no encoder per
channel; see :mod:`.video_loop` for what its picture can and cannot say). Each call gets a
:class:`LoopViewer`, which leaves the loop for the channel's :class:`LiveFeed` as soon as the
channel's head is away from home or moving: a PTZ panel must show the head move, and only a
live encoder can draw that. A channel already away from home starts live.
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

import av

from sightline.sim.ptz_state import PtzPosition
from sightline.sim.video import TestPattern, VideoCodec, VideoSettings
from sightline.sim.video_codec import EncodedFrame, FrameEncoder, video_frame
from sightline.sim.video_loop import VideoLoop

__all__ = [
    "EncodedFrame",
    "FrameEncoder",
    "LiveFeed",
    "LoopViewer",
    "VideoHub",
    "at_home",
    "video_frame",
]

log = logging.getLogger(__name__)

_MAX_LATE_FRAMES = 2
_PTZ_CHECKS_PER_S = 4  # how often a loop viewer looks at its channel's head


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
            await asyncio.gather(task, return_exceptions=True)

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


def at_home(position: PtzPosition) -> bool:
    """True when the head rests at pan 0, tilt 0, zoom 1 (to a tenth), as a loop shows it."""
    pan = round(position.pan, 1) % 360.0
    return not position.moving and (pan, round(position.tilt, 1), round(position.zoom, 1)) == (
        0.0,
        0.0,
        1.0,
    )


class LoopViewer:
    """One call's video from the hub's loop, then from a live feed once the head moves.

    Why switch: the loop's picture is the same for every channel and shows the head at home,
    so a PTZ panel driving this channel would see nothing move; only a live encoder draws the
    head where it is. The head is looked at a few times a second (``position``), on the loop's
    own frames, so a command or a preset call is seen within a quarter of a second; the call
    stays live until it ends.

    Every source has its own timestamps; the viewer rebases them so the call's stay monotonic
    at the frame rate across a switch (the gap counted in frame periods of wall time), and
    after a switch it passes nothing until the new source's first key frame.
    """

    def __init__(
        self,
        channel_id: str,
        sink: FrameSink,
        position: PositionSource,
        *,
        fps: int,
        tint: int,
        on_moved: Callable[[LoopViewer], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel_id = channel_id
        self.position = position
        self.tint = tint
        self.live: LiveFeed | None = None  # set when the viewer left the loop
        self._sink = sink
        self._fps = fps
        self._on_moved = on_moved
        self._clock = clock
        self._check_every = max(1, fps // _PTZ_CHECKS_PER_S)
        self._seen = 0
        self._offset = 0
        self._last_pts: int | None = None
        self._last_at = 0.0
        self._rebase = True
        self._moved = False

    def from_loop(self, frame: EncodedFrame) -> None:
        """A frame of the loop (ignored once the viewer went live)."""
        if self._moved:
            return
        self._seen += 1
        if self._seen % self._check_every == 0 and not at_home(self.position()):
            self._moved = True
            self._rebase = True
            self._on_moved(self)
            return
        self._pass(frame)

    def from_live(self, frame: EncodedFrame) -> None:
        """A frame of the channel's live feed."""
        self._pass(frame)

    def _pass(self, frame: EncodedFrame) -> None:
        if self._rebase:
            if not frame.keyframe:
                return
            self._rebase = False
            if self._last_pts is not None:
                elapsed = max(1, round((self._clock() - self._last_at) * self._fps))
                self._offset = self._last_pts + elapsed * 90000 // self._fps - frame.pts_90k
        pts = frame.pts_90k + self._offset
        self._last_pts, self._last_at = pts, self._clock()
        if self._offset:
            frame = EncodedFrame(frame.data, pts, frame.keyframe, frame.unix_ms)
        self._sink(frame)


Subscription = LiveFeed | LoopViewer


class VideoHub:
    """Every feed of a simulator: live feeds by (channel, codec), or the loop, and the encoders."""

    def __init__(
        self, settings: VideoSettings, *, workers: int | None = None, loop_video: bool = False
    ) -> None:
        """``workers`` encoder threads (default: one per CPU); 0 encodes on the event loop.

        With ``loop_video`` calls are served from one pre-encoded clip (:class:`LoopViewer`),
        encoded on these threads when the first call comes.
        """
        self.settings = settings
        count = os.cpu_count() or 2 if workers is None else workers
        self._executor = (
            ThreadPoolExecutor(max_workers=count, thread_name_prefix="sim-video") if count else None
        )
        self._feeds: dict[tuple[str, VideoCodec], LiveFeed] = {}
        self._loop = VideoLoop(settings, self._executor) if loop_video else None
        self._viewers: set[LoopViewer] = set()

    @property
    def executor(self) -> ThreadPoolExecutor | None:
        """The encoder threads (None: encode on the event loop)."""
        return self._executor

    @property
    def feeds(self) -> dict[tuple[str, VideoCodec], LiveFeed]:
        """The live feeds that exist now (idle feeds are dropped when their last call ends)."""
        return self._feeds

    @property
    def loop(self) -> VideoLoop | None:
        """The pre-encoded loop (None: every call is encoded live)."""
        return self._loop

    @property
    def viewers(self) -> set[LoopViewer]:
        """Calls served through the loop (including those that went live since)."""
        return self._viewers

    def subscribe(
        self, channel_id: str, position: PositionSource, sink: FrameSink, *, tint: int = 0
    ) -> Subscription:
        """Attach ``sink`` to the channel's video: the loop if there is one, else a live feed."""
        if self._loop is None or not at_home(position()):
            return self._live(channel_id, position, sink, tint)
        viewer = LoopViewer(
            channel_id,
            sink,
            position,
            fps=self.settings.fps,
            tint=tint,
            on_moved=self._went_live,
        )
        self._viewers.add(viewer)
        self._loop.subscribe(viewer.from_loop)
        return viewer

    def _live(
        self, channel_id: str, position: PositionSource, sink: FrameSink, tint: int
    ) -> LiveFeed:
        key = (channel_id, self.settings.codec)
        feed = self._feeds.get(key)
        if feed is None:
            feed = LiveFeed(channel_id, self.settings, position, self._executor, tint=tint)
            self._feeds[key] = feed
        feed.subscribe(sink)
        return feed

    def _went_live(self, viewer: LoopViewer) -> None:
        log.info(
            "channel %s: the head moved; leaving the video loop for a live encoder",
            viewer.channel_id,
        )
        if self._loop is not None:
            self._loop.unsubscribe(viewer.from_loop)
        viewer.live = self._live(viewer.channel_id, viewer.position, viewer.from_live, viewer.tint)

    def unsubscribe(self, feed: Subscription, sink: FrameSink) -> None:
        """Detach ``sink``; forget a live feed when nobody watches it."""
        if isinstance(feed, LoopViewer):
            self._viewers.discard(feed)
            if feed.live is not None:
                self._leave(feed.live, feed.from_live)
            elif self._loop is not None:
                self._loop.unsubscribe(feed.from_loop)
        else:
            self._leave(feed, sink)

    def _leave(self, feed: LiveFeed, sink: FrameSink) -> None:
        feed.unsubscribe(sink)
        if not feed.subscribers:
            self._feeds.pop((feed.channel_id, feed.settings.codec), None)

    async def close(self) -> None:
        """Stop every feed, the loop and the encoder threads."""
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            await feed.close()
        self._viewers.clear()
        if self._loop is not None:
            await self._loop.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
