"""What a ``StreamHub`` viewer is: its queue, its slow-viewer rule, forwarding, and the
errors a shared stream ends with (``hub`` re-exports all of them; see its docstring).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from logging import getLogger

from sightline.media.errors import MediaError
from sightline.media.ps_frames import AccessUnit

__all__ = [
    "NoMediaError",
    "StreamEndedError",
    "StreamError",
    "StreamKey",
    "StreamNeverArrivedError",
    "Viewer",
    "is_video_key",
]

log = getLogger(__name__)


class StreamError(MediaError):
    """A shared stream failed; every viewer of it gets this."""


class NoMediaError(StreamError):
    """The upstream sent no media for the configured time."""


class StreamNeverArrivedError(NoMediaError):
    """The upstream was set up but its first frame never came."""


class StreamEndedError(StreamError):
    """The upstream ended (device BYE, connection lost) or the hub was closed."""


@dataclass(frozen=True, slots=True)
class StreamKey:
    """Which stream: a channel and a kind (``live``, or a playback session's name)."""

    channel_id: str
    kind: str = "live"

    def __str__(self) -> str:
        return f"{self.channel_id}/{self.kind}"


def is_video_key(unit: AccessUnit) -> bool:
    """A key frame of a video stream (PES stream ids E0..EF); audio units are all 'key'."""
    return unit.keyframe and 0xE0 <= unit.stream_id <= 0xEF


class Viewer:
    """One consumer of a shared stream: ``async for unit in viewer`` (raises StreamError)."""

    def __init__(self, key: StreamKey, max_frames: int, max_bytes: int) -> None:
        self.key = key
        self.dropped_frames = 0
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._queue: deque[AccessUnit] = deque()
        self._bytes = 0
        self._skipping = True  # a viewer's first unit is a video key frame
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None  # set while __anext__ waits
        self._sink: Callable[[AccessUnit], None] | None = None
        self._ended: asyncio.Future[None] | None = None

    @property
    def queued_frames(self) -> int:
        """Units waiting to be read."""
        return len(self._queue)

    def __aiter__(self) -> Viewer:
        return self

    async def __anext__(self) -> AccessUnit:
        """The next unit; the stream's error once it has failed and the queue is read."""
        while not self._queue:
            if self._error is not None:
                raise self._error
            # a bare future rather than an asyncio.Event: one wake-up per frame, cheaper
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        unit = self._queue.popleft()
        self._bytes -= len(unit.data)
        return unit

    def take_queued(self) -> list[AccessUnit]:
        """Every unit already queued, at once and without waiting: what piled up while the
        reader was busy, for it to send together."""
        units = list(self._queue)
        self._queue.clear()
        self._bytes = 0
        return units

    def offer(self, unit: AccessUnit) -> None:
        """Queue a unit without ever blocking; a viewer too far behind skips to a key frame."""
        key = is_video_key(unit)
        if self._skipping and not key:
            self.dropped_frames += 1
            return
        size = len(unit.data)
        if len(self._queue) >= self._max_frames or self._bytes + size > self._max_bytes:
            self.dropped_frames += len(self._queue) + (not key)
            self._queue.clear()
            self._bytes = 0
            if not key:
                self._skipping = True
                return
        self._skipping = False
        self._queue.append(unit)
        self._bytes += size
        if self._sink is not None:
            self._drain()
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def fail(self, error: BaseException) -> None:
        """End the viewer with ``error`` once its queue is read."""
        if self._error is None:
            self._error = error
            if self._ended is not None and not self._ended.done():
                self._ended.set_exception(error)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    def forward(self, sink: Callable[[AccessUnit], None]) -> asyncio.Future[None]:
        """Hand every unit to ``sink`` as it is offered, instead of queueing it for
        ``async for`` (what is queued already goes first). For a derived stream (the
        ``+aac`` variant): its units are published in the same call as the source's, with
        no task switch per frame. The future fails with the viewer's error (or the sink's).
        """
        self._sink = sink
        self._ended = ended = asyncio.get_running_loop().create_future()
        if self._error is not None:
            ended.set_exception(self._error)
        self._drain()
        return ended

    def _drain(self) -> None:
        sink, queue = self._sink, self._queue
        assert sink is not None
        try:
            while queue:
                unit = queue.popleft()
                self._bytes -= len(unit.data)
                sink(unit)
        except Exception as exc:  # the sink's failure ends this viewer, not the source
            log.exception("stream %s: a forwarding viewer failed", self.key)
            self._sink = None
            queue.clear()
            self.fail(StreamEndedError(f"stream {self.key}: {exc}"))
