"""Encoded video of a simulated channel's past, for one Playback or Download call.

A :class:`HistoryFeed` draws the channel's test picture (:class:`~.video.TestPattern`) with the
*recorded* instant from its :class:`~.history.PlaybackClock` in the time row and the text, so a
test decoding any frame reads which moment of the recording it shows. Each call has its own
feed and encoder (a camera plays each file separately); the picture has no noise band, so a
frame costs little to draw and encode.

Frames go out one per ``1 / (fps * speed)`` wall seconds: a playback (speed 1) in real time,
showing ``scale`` recorded seconds per second; a download (speed N) N times faster than real
time, one recorded frame period apart, so the file holds the recording's own duration. The
90 kHz timestamps advance one frame period per frame either way. Pause stops the frames,
resume and seek restart them at a key frame. When the clock finishes, ``on_finished`` runs
once (the call sends MediaStatus 121).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import timedelta

import av

from sightline.sim.history import PlaybackClock
from sightline.sim.ptz_state import PtzPosition
from sightline.sim.video import TestPattern, VideoSettings
from sightline.sim.video_feed import EncodedFrame, FrameEncoder, video_frame

__all__ = ["HistoryFeed"]

log = logging.getLogger(__name__)

FrameSink = Callable[[EncodedFrame], None]
_HOME = PtzPosition(0.0, 0.0, 1.0, False)


class HistoryFeed:
    """One call's recorded video (see the module docstring)."""

    def __init__(
        self,
        clock: PlaybackClock,
        settings: VideoSettings,
        executor: Executor | None,
        *,
        on_finished: Callable[[], None] | None = None,
        utc_offset: timedelta = timedelta(hours=8),
        tint: int = 0,
    ) -> None:
        self.clock = clock
        self.settings = settings
        self._executor = executor
        self.on_finished = on_finished
        self._pattern = TestPattern(
            settings.width,
            settings.height,
            label=clock.channel_id,
            tint=tint,
            utc_offset=utc_offset,
        )
        self._encoder: FrameEncoder | None = None
        self._lock = threading.Lock()
        self._sink: FrameSink | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._want_key = True

    def attach(self, sink: FrameSink) -> Callable[[], None]:
        """Start sending frames to ``sink``; returns the function that stops it."""
        self._sink = sink
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        return self.detach

    def detach(self) -> None:
        """Stop sending (BYE, socket gone)."""
        self._sink = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # -- controls (MANSRTSP) ---------------------------------------------------------------

    def pause(self) -> None:
        """PAUSE: no frames until resume or seek."""
        self.clock.pause()

    def resume(self) -> None:
        """PLAY ``Range: npt=now-``."""
        self.clock.resume()
        self._restart()

    def seek(self, offset_s: float) -> None:
        """PLAY ``Range: npt=<s>-``: from ``offset_s`` after the asked start, playing."""
        self.clock.seek(offset_s)
        self.clock.resume()
        self._restart()

    def set_scale(self, scale: float) -> None:
        """PLAY ``Scale: <x>``."""
        self.clock.set_scale(scale)

    def _restart(self) -> None:
        self._want_key = True
        self._wake.set()

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        index = 0
        due = loop.time()
        try:
            while self._sink is not None:
                shown = self.clock.next_frame()
                if shown is None:
                    if self.clock.finished:
                        break
                    self._wake.clear()
                    await self._wake.wait()  # paused
                    due = loop.time()
                    continue
                units = await self._frame(shown, index, loop)
                pts = index * self.settings.frame_90k
                for data, key in units:
                    if self._sink is not None:
                        self._sink(EncodedFrame(data, pts, key, round(shown * 1000)))
                index += 1
                due += self.clock.frame_interval_s
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    due = loop.time()  # behind: do not rush to catch up
        finally:
            self._release()
        if self._sink is not None and self.clock.finished:
            log.info(
                "channel %s: recording sent up to %.0f (%d frames)",
                self.clock.channel_id,
                self.clock.position,
                self.clock.frames,
            )
            if self.on_finished is not None:
                self.on_finished()

    async def _frame(
        self, shown: float, index: int, loop: asyncio.AbstractEventLoop
    ) -> list[tuple[bytes, bool]]:
        picture = self._pattern.render(unix_ms=round(shown * 1000), ptz=_HOME, frame_index=index)
        force, self._want_key = self._want_key, False
        frame = video_frame(picture, index, force_key=force)
        if self._executor is None:
            return self._encode(frame)
        return await loop.run_in_executor(self._executor, self._encode, frame)

    def _encode(self, frame: av.VideoFrame) -> list[tuple[bytes, bool]]:
        with self._lock:  # a cancelled call's frame may still be encoding in a thread
            if self._encoder is None:
                self._encoder = FrameEncoder(self.settings)
            return self._encoder.encode_frame(frame)

    def _release(self) -> None:
        with self._lock:
            encoder, self._encoder = self._encoder, None
        if encoder is not None:
            encoder.close()
