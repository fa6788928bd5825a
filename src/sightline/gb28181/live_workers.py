"""Media worker processes: live video on more than one core (``media.workers``).

One process receives, packages and delivers what one core can; at a few hundred streams the
event loop of ``serve`` is saturated and everything else (SIP, the API, a new stream's first
byte) waits behind media. With ``media.workers`` = N > 0 the main process starts N workers
(``python -m sightline.cli.media_worker``). Each owns a slice of ``media.rtp_ports``, its own
stream hub and an HTTP listener of its own serving the live fMP4 routes (WebSocket and HTTP):
a viewer's connection, the receiver and the packaging of a stream all live in one worker, and
frames never cross a process boundary on their way to a browser.

The main process keeps SIP, the API, access control and the audit trail. It decides which
worker plays a channel (:meth:`MediaWorkers.assign`: the one streaming it, else the least
loaded) and hands out play URLs on that worker's port; the worker asks for the INVITE over
its control channel (:mod:`live_channel`, see :mod:`live_remote` for the worker's side). What
crosses is control only: SSRC bookings, calls and their BYEs, token admissions and revocation
verdicts, audit events, per-stream counters for ``/metrics``.

What the main process itself needs of a live stream (platform recording, RTSP, masked views,
``?wait=true``) is relayed (:meth:`MediaWorkers.relay`): the worker joins its own hub and sends
the access units over the relay socket (:mod:`sightline.media.unit_wire`), so a channel has one
upstream, one INVITE, however many processes watch it.

A worker that goes away takes its viewers with it; its calls are hung up, its SSRCs freed,
its relays end with an error, and it is started again (at most ``_RESPAWNS`` an hour). While
no worker is running, streams are received in the main process as without workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.live import LiveService, media_transport, transport_name
from sightline.gb28181.live_channel import (
    Admit,
    Admitted,
    AuditRecord,
    DeviceHungUp,
    Failure,
    HangUp,
    Invite,
    Invited,
    LiveMessage,
    MediaWorkerConfig,
    Revoked,
    Streams,
    Watching,
    WorkerReady,
    decode,
    encode,
    failure_of_error,
    snapshot_from_wire,
)
from sightline.gb28181.live_dialog import MediaCall
from sightline.gb28181.live_relay import Relays
from sightline.gb28181.packet_channel import ChannelError, PacketChannel, end_process
from sightline.gb28181.ssrc import StreamKind
from sightline.media.hub import StreamSnapshot, Upstream

__all__ = ["MediaWorkers", "WorkerHealth", "WorkerHooks", "split_ports"]

log = logging.getLogger(__name__)

WORKER_MODULE = "sightline.cli.media_worker"
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 5.0
_RESPAWN_DELAY_S = 1.0
_RESPAWNS = 10
# a channel handed out (play URL) stays with its worker this long even before its stream runs,
# so the viewers of one wall of tiles asked for at once meet in one worker
_ASSIGNMENT_S = 30.0


def split_ports(low: int, high: int, workers: int) -> list[tuple[int, int]]:
    """``media.rtp_ports`` cut in ``workers`` + 1 even slices: the main process keeps the
    first (playback, downloads, live while no worker runs), each worker one of the others."""
    if workers == 0:
        return [(low, high)]
    count = high - low + 1
    if count < 2 * (workers + 1):
        raise ValueError(
            f"media.rtp_ports {low}-{high} is too small for {workers} media workers "
            f"(at least {2 * (workers + 1)} ports)"
        )
    size = count // (workers + 1)
    size -= size % 2  # a stream takes an even RTP port and the next (RTCP)
    slices = [(low + i * size, low + (i + 1) * size - 1) for i in range(workers + 1)]
    slices[-1] = (slices[-1][0], high)
    return slices


@dataclass(frozen=True)
class WorkerHooks:
    """What the main process's access control does for its workers (node wiring)."""

    admit: Callable[[dict[str, Any]], Awaitable[tuple[str | None, int]]]
    """Stream-token claims → (refusal, HTTP status); refusal None: the view may run there."""
    watching: Callable[[int, list[dict[str, Any]]], None]
    """(worker index, claims of running views) to re-check; ``revoke`` answers for failures."""
    audit: Callable[[dict[str, Any]], None]
    """An audit event of a worker's view, as fields."""


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """One media worker for /metrics: up, streams (calls), loop lag (largest of the last
    minute: near a second, the worker is saturated) and CPU seconds."""

    index: int
    up: bool
    streams: int
    loop_lag_s: float
    cpu_s: float


@dataclass(eq=False)
class _Worker:
    index: int
    process: asyncio.subprocess.Process
    channel: PacketChannel[LiveMessage]
    ready: asyncio.Future[WorkerReady]
    relay_task: asyncio.Task[None] | None = None
    http_port: int | None = None
    calls: dict[str, MediaCall] = field(default_factory=dict)
    call_ssrcs: dict[str, str] = field(default_factory=dict)
    booked: set[str] = field(default_factory=set)  # SSRCs of INVITEs not answered yet
    snapshots: list[StreamSnapshot] = field(default_factory=list)
    report: list[StreamSnapshot] = field(default_factory=list)  # parts of the next snapshots
    loop_lag_s: float = 0.0
    cpu_s: float = 0.0
    gone: bool = False

    @property
    def load(self) -> int:
        return len(self.calls) + len(self.booked)

    def streams(self, channel_id: str) -> bool:
        """Whether the worker holds a call for the channel."""
        return any(call.channel_id == channel_id for call in self.calls.values())


class MediaWorkers:
    """Starts and feeds the media workers; see the module docstring."""

    def __init__(
        self,
        *,
        count: int,
        config: MediaWorkerConfig,
        port_slices: list[tuple[int, int]],
        http_port: int = 0,
        live: LiveService,
        hooks: WorkerHooks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.count = count
        self._config = config
        self._slices = port_slices
        self._http_port = http_port  # of worker 1, the next count up; 0: any free port
        self._live = live
        self._hooks = hooks
        self._clock = clock
        self._workers: dict[int, _Worker] = {}
        self._owner: dict[str, tuple[_Worker, float]] = {}  # channel → worker, until
        self._relays = Relays()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._respawned_at: list[float] = []

    # -- life -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker and wait until each listens."""
        try:
            for index in range(1, self.count + 1):
                await self._spawn(index)
            async with asyncio.timeout(_START_TIMEOUT_S):
                for worker in list(self._workers.values()):
                    await worker.ready
        except (OSError, TimeoutError, ChannelError) as exc:
            await self.stop()
            raise Gb28181Error(f"media workers did not start: {exc}") from exc
        self._live.relay = self.relay
        log.info(
            "%d media workers serving live video on HTTP ports %s",
            self.count,
            ", ".join(str(w.http_port) for w in self._workers.values()),
        )

    async def _spawn(self, index: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        relay_ours, relay_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                str(theirs.fileno()),
                str(relay_theirs.fileno()),
                pass_fds=(theirs.fileno(), relay_theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            ours.close()
            relay_ours.close()
            raise
        finally:
            theirs.close()
            relay_theirs.close()
        ready: asyncio.Future[WorkerReady] = asyncio.get_running_loop().create_future()
        holder: list[_Worker] = []
        channel: PacketChannel[LiveMessage] = PacketChannel(
            ours,
            lambda message: self._on_message(holder[0], message),
            lambda: self._on_closed(holder[0]),
            name=f"media worker {index}",
            encode=encode,
            decode=decode,
        )
        worker = _Worker(index, process, channel, ready)
        holder.append(worker)
        self._workers[index] = worker  # from here on, stop() ends it whatever happens
        worker.relay_task = asyncio.ensure_future(self._relays.read(index, relay_ours))
        http_port = self._http_port + index - 1 if self._http_port else 0
        channel.send(
            replace(self._config, index=index, rtp_ports=self._slices[index], http_port=http_port)
        )

    async def stop(self) -> None:
        """Close the channels (each worker then ends its streams and exits) and wait."""
        self._stopping = True
        self._live.relay = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in self._workers.values():
            worker.channel.close()
            if not worker.ready.done():
                worker.ready.cancel()
            elif not worker.ready.cancelled():
                worker.ready.exception()
        for worker in list(self._workers.values()):
            if await end_process(worker.process, _STOP_TIMEOUT_S):
                log.warning("media worker %d did not stop: killed it", worker.index)
            # the node's MediaCalls.close() sends the BYEs, bounded by its shutdown timeout
            await self._forget(worker, "the node is stopping", hang_up=False)
        self._workers.clear()

    # -- choosing a worker ------------------------------------------------------------------------

    def assign(self, channel_id: str) -> int | None:
        """The HTTP port of the worker that is to play the channel (None: no worker runs)."""
        worker = self._worker_for(channel_id)
        return worker.http_port if worker is not None else None

    def _worker_for(self, channel_id: str) -> _Worker | None:
        now = self._clock()
        held = self._owner.get(channel_id)
        if held is not None and not held[0].gone and (held[1] > now or held[0].streams(channel_id)):
            worker = held[0]
        else:
            running = [w for w in self._workers.values() if not w.gone and w.http_port]
            if not running:
                return None
            worker = min(running, key=lambda w: (w.load + self._assigned(w, now), w.index))
        self._owner[channel_id] = (worker, now + _ASSIGNMENT_S)
        return worker

    def _assigned(self, worker: _Worker, now: float) -> int:
        return sum(1 for w, until in self._owner.values() if w is worker and until > now)

    def snapshots(self) -> list[StreamSnapshot]:
        """Every worker's streams as last reported (each reports once a second)."""
        return [s for w in self._workers.values() if not w.gone for s in w.snapshots]

    def health(self) -> list[WorkerHealth]:
        """Each worker's state, as last reported, for /metrics."""
        return [
            WorkerHealth(
                w.index,
                up=not w.gone and w.http_port is not None,
                streams=len(w.calls),
                loop_lag_s=w.loop_lag_s,
                cpu_s=w.cpu_s,
            )
            for w in sorted(self._workers.values(), key=lambda w: w.index)
        ]

    def revoke(self, index: int, token_id: str, reason: str) -> None:
        """Tell worker ``index`` a running view's token no longer holds."""
        worker = self._workers.get(index)
        if worker is not None and not worker.gone:
            self._send(worker, Revoked(token_id, reason))

    # -- relays ----------------------------------------------------------------------------------

    async def relay(self, channel_id: str) -> Upstream | None:
        """The channel's live stream from the worker playing it (None: no worker runs);
        :mod:`live_relay`."""
        worker = self._worker_for(channel_id)
        if worker is None:
            return None
        return await self._relays.open(worker.index, channel_id, worker.channel.send)

    # -- messages ---------------------------------------------------------------------------------

    def _send(self, worker: _Worker, message: LiveMessage) -> None:
        with contextlib.suppress(ChannelError):  # logged; on_closed deals with the worker
            worker.channel.send(message)

    def _spawn_task(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_message(self, worker: _Worker, message: LiveMessage) -> None:
        if isinstance(message, Invite):
            self._spawn_task(self._invite(worker, message))
        elif isinstance(message, HangUp):
            self._spawn_task(self._hang_up(worker, message.call_id))
        elif isinstance(message, Admit):
            self._spawn_task(self._admit(worker, message))
        elif isinstance(message, Watching):
            self._hooks.watching(worker.index, message.claims)
        elif isinstance(message, AuditRecord):
            self._hooks.audit(message.event)
        elif isinstance(message, Streams):
            if message.first:
                worker.report = []
                worker.loop_lag_s, worker.cpu_s = message.loop_lag_s, message.cpu_s
            worker.report.extend(snapshot_from_wire(s) for s in message.snapshots)
            if message.last:
                worker.snapshots, worker.report = worker.report, []
        elif isinstance(message, WorkerReady):
            worker.http_port = message.http_port
            if not worker.ready.done():
                worker.ready.set_result(message)
        else:
            log.error("media worker %d sent an unexpected %s", worker.index, message)

    async def _invite(self, worker: _Worker, message: Invite) -> None:
        """Find the channel's device, book an SSRC, INVITE it to the worker's receiver."""
        ssrc: str | None = None
        try:
            session = await self._live.device_for(message.channel_id)
            wanted = transport_name(self._live.transport_of(session.device_id))
            if wanted != message.transport:  # the worker starts that receiver and asks again
                self._send(worker, Invited(message.req, failure=Failure("transport", wanted)))
                return
            ssrc = self._live.book_ssrc(StreamKind.LIVE)
            worker.booked.add(ssrc)
            self._owner[message.channel_id] = (worker, self._clock() + _ASSIGNMENT_S)
            transport = media_transport(message.transport)
            offer = self._live.play_offer(message.channel_id, ssrc, message.port, transport)
            call = await self._live.calls.invite(
                session.device_id, message.channel_id, session.peer, offer
            )
        except Exception as exc:
            if ssrc is not None:
                worker.booked.discard(ssrc)
                self._live.release_ssrc(ssrc)
            self._send(worker, Invited(message.req, failure=failure_of_error(exc)))
            return
        worker.booked.discard(ssrc)
        if worker.gone:  # it went away while the device answered
            self._live.release_ssrc(ssrc)
            await self._live.calls.hang_up(call)
            return
        worker.calls[call.call_id] = call
        worker.call_ssrcs[call.call_id] = ssrc
        body = call.response.body.decode("utf-8", "replace")
        answer = Invited(
            message.req, call.call_id, call.response.status, body, session.device_id, ssrc
        )
        self._send(worker, answer)
        call.on_bye = lambda: self._device_hung_up(worker, call)
        if call.ended_by_device:  # its BYE came with the answer: after it, for the worker
            self._device_hung_up(worker, call)

    def _device_hung_up(self, worker: _Worker, call: MediaCall) -> None:
        self._end_call(worker, call.call_id)
        self._send(worker, DeviceHungUp(call.call_id))

    def _end_call(self, worker: _Worker, call_id: str) -> MediaCall | None:
        call = worker.calls.pop(call_id, None)
        ssrc = worker.call_ssrcs.pop(call_id, None)
        if ssrc is not None:
            self._live.release_ssrc(ssrc)
        return call

    async def _hang_up(self, worker: _Worker, call_id: str) -> None:
        call = self._end_call(worker, call_id)
        if call is not None:
            await self._live.calls.hang_up(call)

    async def _admit(self, worker: _Worker, message: Admit) -> None:
        try:
            refusal, status = await self._hooks.admit(message.claims)
        except Exception as exc:
            log.exception("media worker %d: admitting a view failed", worker.index)
            refusal, status = f"cannot check the stream token: {exc}", 503
        self._send(worker, Admitted(message.req, refusal, status))

    # -- a worker that went away ------------------------------------------------------------------

    def _on_closed(self, worker: _Worker) -> None:
        if not worker.ready.done():
            worker.ready.set_exception(ChannelError(f"media worker {worker.index} exited"))
        if self._stopping:
            return
        log.error("media worker %d went away: its viewers lost their streams", worker.index)
        self._spawn_task(self._replace(worker))

    async def _forget(self, worker: _Worker, reason: str, *, hang_up: bool = True) -> None:
        """Hang up the worker's calls, free its SSRCs, end its relays."""
        worker.gone = True
        if worker.relay_task is not None:
            worker.relay_task.cancel()
        self._relays.end_worker(worker.index, reason)
        for ssrc in worker.booked:
            self._live.release_ssrc(ssrc)
        worker.booked.clear()
        calls = [c for c in (self._end_call(worker, i) for i in list(worker.calls)) if c]
        if hang_up:
            await asyncio.gather(*(self._live.calls.hang_up(c) for c in calls))
        for channel_id, (owner, _until) in list(self._owner.items()):
            if owner is worker:
                del self._owner[channel_id]

    async def _replace(self, worker: _Worker) -> None:
        await self._forget(worker, f"media worker {worker.index} went away")
        await end_process(worker.process, _STOP_TIMEOUT_S)
        now = self._clock()
        self._respawned_at = [t for t in self._respawned_at if now - t < 3600.0]
        if len(self._respawned_at) >= _RESPAWNS:
            log.error(
                "media worker %d is not started again (%d restarts in the last hour)",
                worker.index,
                len(self._respawned_at),
            )
            return
        self._respawned_at.append(now)
        await asyncio.sleep(_RESPAWN_DELAY_S)
        if self._stopping:
            return
        try:
            await self._spawn(worker.index)
            async with asyncio.timeout(_START_TIMEOUT_S):
                await self._workers[worker.index].ready
        except (OSError, TimeoutError, ChannelError) as exc:
            log.error("media worker %d could not be started again: %s", worker.index, exc)
            return
        log.warning("media worker %d started again", worker.index)
