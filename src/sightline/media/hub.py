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

``Viewer``, ``StreamKey`` and these errors are defined in ``hub_viewer`` and exported here.
A push upstream (``attach``, e.g. the ``+aac`` variant over ``Viewer.forward``) is published
in the same call as its source, with no task switch per frame.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from logging import getLogger
from typing import Protocol, cast

from sightline.media.hub_viewer import (
    NoMediaError,
    StreamEndedError,
    StreamError,
    StreamKey,
    StreamNeverArrivedError,
    Viewer,
    is_video_key,
)
from sightline.media.ps_frames import AccessUnit
from sightline.media.stats import BitrateMeter, ReceiverSnapshot

__all__ = [
    "NoMediaError",
    "Opener",
    "PushUpstream",
    "Reception",
    "StreamEndedError",
    "StreamError",
    "StreamHub",
    "StreamKey",
    "StreamNeverArrivedError",
    "StreamSnapshot",
    "StreamState",
    "Upstream",
    "Viewer",
    "is_video_key",
]

log = getLogger(__name__)


class Upstream(Protocol):
    """What an opener returns: a source of access units that can be closed."""

    def frames(self) -> AsyncIterator[AccessUnit]:
        """The stream's access units, in decode order."""
        ...

    async def close(self) -> None:
        """Stop the source (BYE, close the receiver)."""


class PushUpstream(Upstream, Protocol):
    """An upstream that can also push its units: the hub calls ``attach`` instead of
    iterating ``frames``; ``deliver`` is called synchronously for every unit, and the
    awaitable ends, or raises the stream's error, when the units do."""

    def attach(self, deliver: Callable[[AccessUnit], None]) -> Awaitable[None]:
        """Start delivering to ``deliver``; what ends when the stream ends."""
        ...


Opener = Callable[[], Awaitable[Upstream]]

Reception = Callable[[], ReceiverSnapshot]
"""An upstream's RTP receive counters (packets, lost, ...): its ``reception`` method, if any."""


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
    reception: ReceiverSnapshot | None = None  # RTP counters of a stream received from a device


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
        self.reception: Reception | None = None

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
            reception=None if self.reception is None else self.reception(),
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
        reception = getattr(upstream, "reception", None)
        stream.reception = reception if callable(reception) else None
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
                attach = getattr(upstream, "attach", None)
                if attach is not None:
                    await self._pushed(stream, watch, cast("PushUpstream", upstream))
                else:
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

    async def _pushed(self, stream: _Stream, watch: _SilenceWatch, upstream: PushUpstream) -> None:
        """Publish what a push upstream delivers, in its own call: no task switch per unit."""
        loop, gop_max, silence = (
            asyncio.get_running_loop(),
            self.gop_max_bytes,
            self.no_media_timeout_s,
        )
        live = True

        def deliver(unit: AccessUnit) -> None:
            if live:
                now = loop.time()
                stream.publish(unit, now, gop_max)
                watch.heard(now, silence)

        try:
            await upstream.attach(deliver)
        finally:
            live = False

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
