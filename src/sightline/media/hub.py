"""One upstream per stream, many viewers: ``StreamHub``.

    viewer A ─┐                               ┌─ opener() → Upstream (the GB layer's INVITE)
    viewer B ─┼── StreamHub[key] ── _Stream ──┤
    viewer C ─┘   (GOP cache, timers)         └─ upstream.frames() → AccessUnits

The first ``join`` for a key starts the upstream in a task of its own (so a viewer whose
request is cancelled does not cancel the INVITE others wait for); later joins, during setup
or after, wait on the same opening. Every viewer starts at a video key frame: a late joiner
gets the current GOP at once (kept up to ``gop_max_bytes``), otherwise it waits for the next
one. A viewer that falls behind (``viewer_max_frames``/``viewer_max_bytes`` queued) loses
its queue and everything up to the next key frame: the upstream never waits for anyone.

The upstream is closed ``grace_s`` after the last viewer leaves, when no frame arrives for
``no_media_timeout_s`` (viewers get ``NoMediaError``) or none at all within
``first_frame_timeout_s`` (``StreamNeverArrivedError``), or when its frames end
(``StreamEndedError``). An opener's own error is raised to every joiner waiting on it.

Errors (all ``MediaError``):

    StreamError
    ├── NoMediaError                 media stopped for no_media_timeout_s
    │   └── StreamNeverArrivedError  no first frame within first_frame_timeout_s
    └── StreamEndedError             the upstream ended or failed, or the hub closed
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from logging import getLogger
from typing import Protocol

from sightline.media.errors import MediaError
from sightline.media.ps_frames import AccessUnit
from sightline.media.stats import BitrateMeter

__all__ = [
    "NoMediaError",
    "Opener",
    "StreamEndedError",
    "StreamError",
    "StreamHub",
    "StreamKey",
    "StreamNeverArrivedError",
    "StreamSnapshot",
    "StreamState",
    "Upstream",
    "Viewer",
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


class Upstream(Protocol):
    """What an opener returns: a source of access units that can be closed."""

    def frames(self) -> AsyncIterator[AccessUnit]:
        """The stream's access units, in decode order."""
        ...

    async def close(self) -> None:
        """Stop the source (BYE, close the receiver)."""


Opener = Callable[[], Awaitable[Upstream]]


class StreamState(enum.Enum):
    """Where a shared stream is in its life."""

    OPENING = "opening"
    LIVE = "live"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """Metrics of one shared stream; times in seconds, None before the event."""

    key: StreamKey
    state: StreamState
    viewers: int
    open_s: float | None
    time_to_first_frame_s: float | None
    frames: int
    keyframes: int
    bytes: int
    bitrate_bps: float
    dropped_frames: int
    gop_frames: int
    since_last_frame_s: float | None


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
        self._wakeup = asyncio.Event()

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
            self._wakeup.clear()
            await self._wakeup.wait()
        unit = self._queue.popleft()
        self._bytes -= len(unit.data)
        return unit

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
        self._wakeup.set()

    def fail(self, error: BaseException) -> None:
        """End the viewer with ``error`` once its queue is read."""
        if self._error is None:
            self._error = error
            self._wakeup.set()


class _Stream:
    """One upstream and its viewers; driven by ``StreamHub``."""

    def __init__(self, key: StreamKey, started_at: float) -> None:
        self.key = key
        self.state = StreamState.OPENING
        self.viewers: set[Viewer] = set()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.grace: asyncio.TimerHandle | None = None
        self.gop: list[AccessUnit] | None = None
        self.gop_bytes = 0
        self.started_at = started_at
        self.opened_at: float | None = None
        self.first_frame_at: float | None = None
        self.last_frame_at: float | None = None
        self.frames = self.keyframes = self.bytes = 0
        self.departed_drops = 0
        self.bitrate = BitrateMeter()

    def publish(self, unit: AccessUnit, now: float, gop_max_bytes: int) -> None:
        self.frames += 1
        self.bytes += len(unit.data)
        self.bitrate.add(len(unit.data), now)
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.last_frame_at = now
        if is_video_key(unit):
            self.keyframes += 1
            self.gop, self.gop_bytes = [], 0
        if self.gop is not None:
            self.gop_bytes += len(unit.data)
            if self.gop_bytes > gop_max_bytes:
                self.gop = None  # too big to keep: late joiners wait for the next key frame
            else:
                self.gop.append(unit)
        for viewer in self.viewers:
            viewer.offer(unit)

    def snapshot(self, now: float) -> StreamSnapshot:
        def after_start(t: float | None) -> float | None:
            return None if t is None else t - self.started_at

        return StreamSnapshot(
            key=self.key,
            state=self.state,
            viewers=len(self.viewers),
            open_s=after_start(self.opened_at),
            time_to_first_frame_s=after_start(self.first_frame_at),
            frames=self.frames,
            keyframes=self.keyframes,
            bytes=self.bytes,
            bitrate_bps=self.bitrate.rate(now),
            dropped_frames=self.departed_drops + sum(v.dropped_frames for v in self.viewers),
            gop_frames=0 if self.gop is None else len(self.gop),
            since_last_frame_s=None if self.last_frame_at is None else now - self.last_frame_at,
        )


class _SilenceWatch:
    """Ends a stream's timeout scope once no frame came for ``timeout_s``.

    One timer per timeout period, not per frame: a new ``asyncio.timeout`` around every
    frame cost ~5 % of the receive path at 500 streams. A frame only records its time; the
    timer, when it fires, either expires the scope or moves itself to the new deadline.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.first = True
        self.expired = False
        self._loop = loop
        self._last = loop.time()
        self._scope: asyncio.Timeout | None = None
        self._timer: asyncio.TimerHandle | None = None

    def start(self, scope: asyncio.Timeout) -> None:
        """Watch ``scope`` from now on."""
        self._scope = scope
        self._arm()

    def heard(self, now: float, timeout_s: float) -> None:
        """A frame came at ``now``; from now on silence is ``timeout_s`` long."""
        self._last = now
        if self.first:  # the first frame shortens the limit: re-arm once
            self.first = False
            self.timeout_s = timeout_s
            self.stop()
            self._arm()

    def stop(self) -> None:
        """Cancel the timer (the scope is left as it is)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        self._timer = self._loop.call_at(self._last + self.timeout_s, self._check)

    def _check(self) -> None:
        self._timer = None
        now = self._loop.time()
        if now < self._last + self.timeout_s:
            self._arm()
        elif self._scope is not None:
            self.expired = True
            self._scope.reschedule(now)  # the scope cancels the pump and raises TimeoutError


class StreamHub:
    """Share one upstream per ``StreamKey`` among many viewers; see the module docstring."""

    def __init__(
        self,
        *,
        grace_s: float = 10.0,
        first_frame_timeout_s: float = 10.0,
        no_media_timeout_s: float = 5.0,
        gop_max_bytes: int = 8 << 20,
        viewer_max_frames: int = 250,
        viewer_max_bytes: int = 16 << 20,
    ) -> None:
        self.grace_s = grace_s
        self.first_frame_timeout_s = first_frame_timeout_s
        self.no_media_timeout_s = no_media_timeout_s
        self.gop_max_bytes = gop_max_bytes
        self.viewer_max_frames = viewer_max_frames
        self.viewer_max_bytes = viewer_max_bytes
        self._streams: dict[StreamKey, _Stream] = {}
        self._viewing: dict[Viewer, _Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def view(self, key: StreamKey, opener: Opener) -> AsyncIterator[Viewer]:
        """Join the stream for the duration of the block."""
        viewer = await self.join(key, opener)
        try:
            yield viewer
        finally:
            self.leave(viewer)

    async def join(self, key: StreamKey, opener: Opener) -> Viewer:
        """Become a viewer, starting the upstream if needed; raises the opener's error."""
        loop = asyncio.get_running_loop()
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(key, loop.time())
            stream.task = asyncio.create_task(self._run(stream, opener), name=f"stream {key}")
            self._tasks.add(stream.task)
            stream.task.add_done_callback(self._tasks.discard)
        viewer = Viewer(key, self.viewer_max_frames, self.viewer_max_bytes)
        self._attach(stream, viewer)
        try:
            await asyncio.shield(stream.ready)
        except BaseException:
            self.leave(viewer)
            raise
        return viewer

    def leave(self, viewer: Viewer, *, linger: bool = True) -> None:
        """Stop viewing; the upstream closes ``grace_s`` after its last viewer left (at once
        with ``linger=False``: a variant stream leaving its source has had its own grace)."""
        stream = self._viewing.pop(viewer, None)
        if stream is None:
            return
        stream.viewers.discard(viewer)
        stream.departed_drops += viewer.dropped_frames
        if not stream.viewers and stream.state is StreamState.LIVE:
            if linger:
                self._arm_grace(stream)
            else:
                self._expire(stream)

    def snapshot(self) -> list[StreamSnapshot]:
        """Metrics of every stream held, for /metrics."""
        now = asyncio.get_running_loop().time()
        return [s.snapshot(now) for s in self._streams.values()]

    async def close(self) -> None:
        """Close every upstream; their viewers get StreamEndedError."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _attach(self, stream: _Stream, viewer: Viewer) -> None:
        if stream.grace is not None:
            stream.grace.cancel()
            stream.grace = None
        for unit in stream.gop or ():
            viewer.offer(unit)
        stream.viewers.add(viewer)
        self._viewing[viewer] = stream

    def _arm_grace(self, stream: _Stream) -> None:
        if stream.grace is None and stream.task is not None:
            log.debug("stream %s: no viewers; closing in %.1f s", stream.key, self.grace_s)
            stream.grace = asyncio.get_running_loop().call_later(self.grace_s, self._expire, stream)

    def _expire(self, stream: _Stream) -> None:
        # Forget the stream at once: a viewer arriving while the upstream is still being
        # closed gets a new one instead of a stream about to fail.
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]
        if stream.task is not None:
            stream.task.cancel()

    async def _run(self, stream: _Stream, opener: Opener) -> None:
        loop = asyncio.get_running_loop()
        try:
            upstream = await opener()
        except BaseException as exc:
            failure = (
                exc
                if isinstance(exc, Exception)
                else StreamEndedError(f"stream {stream.key}: closed while opening")
            )
            self._finish(stream, failure)
            stream.ready.set_exception(failure)
            stream.ready.exception()  # retrieved here so an unwaited failure is not logged
            if not isinstance(exc, Exception):
                raise
            return
        stream.state, stream.opened_at = StreamState.LIVE, loop.time()
        stream.ready.set_result(None)
        if not stream.viewers:
            self._arm_grace(stream)  # every joiner gave up during setup
        error: BaseException = StreamEndedError(f"stream {stream.key}: upstream ended")
        try:
            await self._pump(stream, upstream)
        except StreamError as exc:
            error = exc
        except asyncio.CancelledError:
            error = StreamEndedError(f"stream {stream.key}: closed")
            raise
        except Exception as exc:
            log.exception("stream %s: upstream failed", stream.key)
            error = StreamEndedError(f"stream {stream.key}: upstream failed: {exc}")
            error.__cause__ = exc
        finally:
            self._finish(stream, error)
            await self._close_upstream(stream, upstream)

    async def _pump(self, stream: _Stream, upstream: Upstream) -> None:
        loop = asyncio.get_running_loop()
        watch = _SilenceWatch(loop, self.first_frame_timeout_s)
        try:
            async with asyncio.timeout(None) as scope:
                watch.start(scope)
                async for unit in upstream.frames():
                    now = loop.time()
                    stream.publish(unit, now, self.gop_max_bytes)
                    watch.heard(now, self.no_media_timeout_s)
        except TimeoutError:
            if not watch.expired:
                raise
            if watch.first:
                raise StreamNeverArrivedError(
                    f"stream {stream.key}: no media within {watch.timeout_s:g} s of setup"
                ) from None
            raise NoMediaError(f"stream {stream.key}: no media for {watch.timeout_s:g} s") from None
        finally:
            watch.stop()

    def _finish(self, stream: _Stream, error: BaseException) -> None:
        if stream.state is not StreamState.CLOSED:
            log.info("stream %s closed: %s", stream.key, error)
        stream.state = StreamState.CLOSED
        if stream.grace is not None:
            stream.grace.cancel()
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]
        for viewer in stream.viewers:
            viewer.fail(error)
            self._viewing.pop(viewer, None)
        stream.viewers.clear()

    async def _close_upstream(self, stream: _Stream, upstream: Upstream) -> None:
        try:
            await upstream.close()
        except Exception:
            log.exception("stream %s: closing the upstream failed", stream.key)
