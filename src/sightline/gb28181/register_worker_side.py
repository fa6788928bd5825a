"""The REGISTER worker process's side: answer REGISTER on the shared port, hand the rest over.

The main process's side, and how the two divide the work, is in :mod:`register_workers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable

from sightline.gb28181.register_channel import (
    AuthOutcome,
    Ban,
    Channel,
    ChannelError,
    ChannelMessage,
    Forwarded,
    Ha1Entries,
    Ready,
    Registered,
    Registrations,
    Start,
    StatsReport,
    WorkerConfig,
)
from sightline.gb28181.register_workers import worker_nonce_key
from sightline.gb28181.registrar import Binding, Registrar
from sightline.sip.digest import DigestServer, NonceManager
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.flood import AuthFailureTracker, FloodPolicy, RateLimiter
from sightline.sip.parser import Limits
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer

__all__ = ["serve_worker"]

log = logging.getLogger(__name__)

_REGISTER = b"REGISTER "
# registrations per channel packet at most (~150 bytes each: far below the socket's limit)
_BATCH = 256
# while the channel to the main process has a backlog, the end-of-turn report waits this long
_DEFER_S = 0.05


class _ReportedFailures(AuthFailureTracker):
    """Bans are decided by the main process: failures (and a success after one) go there.

    The worker also counts them itself, with the same limits, so that a source whose failures
    all reach this worker is banned here at once, not only when the main process's Ban
    arrives (a device retrying at once could otherwise slip in between). The main process
    still decides, counts and announces every ban.
    """

    def __init__(self, report: Callable[[AuthOutcome], None], config: WorkerConfig) -> None:
        super().__init__(config.ban_after_failures, config.ban_window_s, config.ban_s)
        self._report = report
        self._failed: set[str] = set()

    def record_failure(self, source: str, now: float) -> bool:
        """Report the failure; the main process answers with a Ban when it is one too many."""
        if len(self._failed) < self.max_sources:
            self._failed.add(source)
        super().record_failure(source, now)
        self._report(AuthOutcome(source, ok=False))
        return False  # counted (stats.bans) by the main process, which decides too

    def record_success(self, source: str, now: float) -> None:
        """Clear the source's count in the main process, if this worker reported failures."""
        super().record_success(source, now)
        if source in self._failed:
            self._failed.discard(source)
            self._report(AuthOutcome(source, ok=True))


class _WorkerProcess:
    """One worker process's state: the endpoint, its registrar and the channel."""

    def __init__(self, config: WorkerConfig, sock: socket.socket) -> None:
        self.config = config
        self.stats = SipStats()
        self.done = asyncio.Event()
        self.started = asyncio.Event()
        self.channel = Channel(
            sock, self._on_message, self.done.set, name="main process", on_pressure=self._pressure
        )
        self._ha1: dict[str, str] = {}
        # registrations accepted this loop turn: one channel packet at its end (or sooner,
        # before anything forwarded, so the main process sees them in the order they came)
        self._registered: list[Registered] = []
        failures = _ReportedFailures(self.channel.send, config)
        self.flood = FloodPolicy(
            RateLimiter(config.rate_per_source, config.rate_burst),
            failures,
            exempt=tuple(config.flood_exempt),
        )
        self.endpoint = SipEndpoint(
            stats=self.stats,
            flood=self.flood,
            limits=Limits(max_message_bytes=config.max_message_bytes),
            user_agent=config.user_agent,
            udp_buffer_bytes=config.udp_buffer_bytes,
        )
        key = worker_nonce_key(bytes.fromhex(config.nonce_key), config.index)
        digest = DigestServer(config.realm, NonceManager(key, lifetime_s=config.nonce_lifetime_s))
        password = config.device_password
        self.registrar = Registrar(
            digest=digest,
            password_for=lambda _device_id: password,
            ha1_for=self._ha1.get,
            stats=self.stats,
            failures=failures,
            expires_min_s=config.expires_min_s,
            expires_max_s=config.expires_max_s,
            date_header=config.date_header,
            bind=self._bind,
        )
        self.endpoint.on("REGISTER", self.registrar.handle)
        self.endpoint.on_fast("REGISTER", self.registrar.fast_path().answer)
        self.endpoint.divert = self._divert
        self.endpoint.on_datagram = self._turn
        self._turn_pending = False
        self._deferred = False

    def _turn(self) -> None:
        """A datagram arrived: report what this loop turn did once it is over."""
        if not self._turn_pending:
            self._turn_pending = True
            asyncio.get_running_loop().call_soon(self._end_turn)

    def _end_turn(self) -> None:
        # the bindings, then the counters, so /metrics is current as soon as a device has
        # its answer (the main process reads both before any later request reaches it)
        self._turn_pending = False
        if self.channel.backlog:
            # The main process is behind (a registration storm): two small packets per loop
            # turn would only lengthen its queue. Bindings go in full batches (``_bind``) and
            # the rest, with the counters, once the queue has drained.
            if not self._deferred:
                self._deferred = True
                asyncio.get_running_loop().call_later(_DEFER_S, self._deferred_turn)
            return
        self.flush()
        self.report_stats()

    def _deferred_turn(self) -> None:
        self._deferred = False
        self._end_turn()

    def _pressure(self, high: bool) -> None:
        """The main process is behind with what this worker hands over: drop datagrams (the
        devices retransmit; counted in dropped_overload) until it has caught up, instead of
        queueing without bound until the channel breaks."""
        self.endpoint.shedding = high
        state = "behind: dropping datagrams" if high else "caught up: receiving again"
        log.warning("REGISTER worker %d: main process %s", self.config.index, state)

    def _divert(self, data: bytes, peer: Peer) -> bool:
        if data.startswith(_REGISTER):
            return False
        self.flush()
        self._send(Forwarded(peer.host, peer.port, data))
        return True

    def _send(self, message: ChannelMessage) -> None:
        """Send to the main process; on a closed channel (this worker is ending) drop it."""
        if not self.channel.closed:
            with contextlib.suppress(ChannelError):  # logged; the channel's end stops us
                self.channel.send(message)

    def _bind(self, binding: Binding, expires: int) -> None:
        peer = binding.peer
        self._turn()
        self._registered.append(
            Registered(
                binding.device_id,
                binding.contact,
                peer.host,
                peer.port,
                expires,
                binding.call_id,
                binding.gb_version,
            )
        )
        if len(self._registered) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Send the registrations accepted so far, in one packet."""
        if not self._registered:
            return
        items = tuple(self._registered)
        self._registered.clear()
        self._send(Registrations(items))

    def _on_message(self, message: ChannelMessage) -> None:
        if isinstance(message, Ha1Entries):
            for device_id, ha1 in message.entries:
                if ha1 is None:
                    self._ha1.pop(device_id, None)
                else:
                    self._ha1[device_id] = ha1
        elif isinstance(message, Ban):
            self.flood.failures.ban(message.host, time.monotonic(), message.seconds)
        elif isinstance(message, Start):
            self.started.set()
        else:
            log.error("unexpected %s from the main process", type(message).__name__)

    def report_stats(self) -> None:
        counts = self.stats.take_counts()
        if counts:
            self._send(StatsReport(tuple(counts)))


async def serve_worker(config: WorkerConfig, sock: socket.socket) -> None:
    """Run one worker until the main process closes the channel (or SIGTERM)."""
    loop = asyncio.get_running_loop()
    worker = _WorkerProcess(config, sock)
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, worker.done.set)
    # Ctrl-C reaches the whole process group: the main process decides when workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    started = asyncio.ensure_future(worker.started.wait())
    done = asyncio.ensure_future(worker.done.wait())
    await asyncio.wait({started, done}, return_when=asyncio.FIRST_COMPLETED)
    try:
        if worker.done.is_set():
            return
        host, port = await worker.endpoint.start_udp(config.host, config.port, reuse_port=True)
        for _ in range(config.sockets - 1):
            await worker.endpoint.add_udp_socket(host, port)
        worker.channel.send(Ready(host, port))
        while not worker.done.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(config.stats_interval_s):
                    await worker.done.wait()
            worker.report_stats()
    finally:
        started.cancel()
        done.cancel()
        await worker.endpoint.close()
        worker.flush()
        worker.report_stats()
        worker.channel.close()
