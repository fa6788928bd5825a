"""What every RTP receiver shares: options, the sans-IO pipeline, the frame queue or push
consumer, the jitter buffer's timer, counters and close (the transports are in ``receiver``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from logging import getLogger

from sightline.media.errors import MediaError
from sightline.media.pipeline import RtpPipeline
from sightline.media.ports import RtpPortAllocator
from sightline.media.ps_frames import AccessUnit
from sightline.media.stats import ReceiverSnapshot

__all__ = ["FrameCallback", "ReceiverOptions", "RtpReceiver"]

log = getLogger(__name__)

FrameCallback = Callable[[AccessUnit], None]


@dataclass(frozen=True, slots=True)
class ReceiverOptions:
    """How a receiver binds and what it accepts."""

    host: str = "0.0.0.0"
    expected_ssrc: int | None = None
    accept_ssrc_mismatch: bool = True
    max_queued_frames: int = 512
    rtcp_interval_s: float = 5.0


class RtpReceiver:
    """What all receivers share: pipeline, frame queue, timer, counters and close."""

    transport_name = "?"

    _reorder = True

    def __init__(
        self,
        allocator: RtpPortAllocator,
        options: ReceiverOptions | None = None,
        *,
        on_frame: FrameCallback | None = None,
    ) -> None:
        self.allocator = allocator
        self.options = options = options or ReceiverOptions()
        self.host = options.host
        self.port = 0
        self.pipeline = RtpPipeline(
            expected_ssrc=options.expected_ssrc,
            accept_ssrc_mismatch=options.accept_ssrc_mismatch,
            reorder=self._reorder,
        )
        self._jitter = self.pipeline.jitter
        self._on_frame = on_frame
        self._queue: deque[AccessUnit] = deque()
        self._max_queued = options.max_queued_frames
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._started_at = self._loop.time()
        self._ended = False
        self._closed = False
        self._push: FrameCallback | None = None
        self._pushed_all: asyncio.Future[None] | None = None

    @property
    def last_packet_at(self) -> float | None:
        """``loop.time()`` of the last RTP packet, for the "no RTP for N seconds" check."""
        return self.pipeline.counters.last_packet_at

    @property
    def first_packet_at(self) -> float | None:
        """``loop.time()`` of the first RTP packet."""
        return self.pipeline.counters.first_packet_at

    def snapshot(self) -> ReceiverSnapshot:
        """Counters for metrics."""
        return self.pipeline.snapshot(
            self._loop.time(), self._started_at, self.transport_name, self.port
        )

    async def frames(self) -> AsyncIterator[AccessUnit]:
        """Access units as they are finished; ends when the receiver closes or the peer leaves."""
        while True:
            while self._queue:
                yield self._queue.popleft()
            if self._ended:
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    def attach(self, deliver: FrameCallback) -> Awaitable[None]:
        """Push every access unit to ``deliver`` from now on, the ones queued first, instead
        of through ``frames()``; the awaitable ends when the receiver does (closed, or the TCP
        peer left). Once only."""
        if self._push is not None:
            raise MediaError("this receiver already pushes its frames to a consumer")
        while self._queue:
            deliver(self._queue.popleft())
        self._push = deliver
        self._pushed_all = done = self._loop.create_future()
        if self._ended:
            done.set_result(None)
        return done

    async def close(self) -> None:
        """Stop receiving, hand out the frames still held and release the port; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._cancel_timer()
        self._close_transports()
        self._end()
        if self.port:
            self.allocator.release(self.port)
        log.debug("%s receiver on port %d closed", self.transport_name, self.port)

    def _close_transports(self) -> None:
        raise NotImplementedError

    def _packets(self, datagrams: Iterable[bytes]) -> None:
        """Datagrams (or RFC 4571 frames) that arrived together: one clock reading, one
        delivery and one timer check for the whole burst."""
        if self._ended:
            return
        now = self._loop.time()
        batch = datagrams if isinstance(datagrams, list) else list(datagrams)
        self._took(self.pipeline.packets(batch, now))

    def _took(self, units: list[AccessUnit]) -> None:
        """Deliver a burst's access units; arm the timer if the jitter buffer holds packets."""
        self._deliver(units)
        if not self._jitter.holding:
            return  # no deadline: next_deadline() would say None
        deadline = self.pipeline.next_deadline()
        if deadline is not None and (self._timer is None or deadline < self._timer_at):
            self._cancel_timer()
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._deliver(self.pipeline.handle_timeout(self._loop.time()))
        deadline = self.pipeline.next_deadline()
        if deadline is not None and not self._ended:
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deliver(self, units: list[AccessUnit]) -> None:
        if not units:
            return
        push = self._push
        for unit in units:
            if self._on_frame is not None:
                self._on_frame(unit)
            if push is not None:
                push(unit)
                continue
            if len(self._queue) >= self._max_queued:
                self._queue.popleft()  # nobody reads fast enough; the hub never lets this happen
                self.pipeline.counters.queue_drops += 1
            self._queue.append(unit)
        if push is None:
            self._wakeup.set()

    def _end(self) -> None:
        if not self._ended:
            self._cancel_timer()
            self._deliver(self.pipeline.flush())
            self._ended = True
            self._wakeup.set()
            if self._pushed_all is not None and not self._pushed_all.done():
                self._pushed_all.set_result(None)
