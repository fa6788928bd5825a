"""REGISTER worker processes: digest registration on more than one core.

Python runs one core per process, and answering REGISTER (parse, digest, response) is most
of what a platform does when thousands of devices register at once. With
``sip.register_workers`` = N > 0 the main process binds its UDP port with SO_REUSEPORT and
starts N workers (``python -m sightline.cli.register_worker``) that bind the same port. The
kernel hands each datagram to one of the N + 1 sockets by a hash of its addresses, so a
device (one source address and port) always reaches the same process, and so do the
retransmissions of its requests.

A worker answers REGISTER itself (its own transaction layer, digest check and flood limits,
the same rules as :class:`~sightline.gb28181.registrar.Registrar` in the main process) and
forwards every other datagram, as it came, to the main process, which handles it as if it had
received it and answers from its own socket on the same port. So every dialog, query,
subscription and client transaction stays in the main process, and responses from devices to
them reach it too. What crosses the channel (:mod:`register_channel`):

* each accepted registration goes to the main process's registrar (``Registrar.record``),
  which alone decides whether a device is new, tells the device manager, and expires it;
* per-device HA1 values go to every worker at start and whenever one changes;
* failed digest checks go to the main process's ban tracker; a ban goes back to all workers;
* SIP counters go to the main process at the end of every loop turn that handled a datagram
  (and once a second), so ``/metrics`` counts every process and is current once a device has
  its answer.

Nonces: each worker signs its nonces with its own key (derived from the server key), so a
nonce is accepted only by the process that issued it and its nonce-count replay check stays
complete. A device whose address changes between the challenge and the answer is challenged
again (``stale=true``), which it follows without counting a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from sightline.gb28181.errors import Gb28181Error
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
from sightline.gb28181.registrar import Binding, Registrar
from sightline.sip.digest import DigestServer, NonceManager
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.flood import AuthFailureTracker, FloodPolicy, RateLimiter
from sightline.sip.parser import Limits
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer

__all__ = ["RegisterWorkers", "serve_worker", "worker_nonce_key"]

log = logging.getLogger(__name__)

WORKER_MODULE = "sightline.cli.register_worker"
_HA1_CHUNK = 1000
_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 5.0
# a worker that went away is started again after this delay, at most _RESPAWNS per hour
_RESPAWN_DELAY_S = 1.0
_RESPAWNS = 10
_REGISTER = b"REGISTER "
# registrations per channel packet at most (~150 bytes each: far below the socket's limit)
_BATCH = 256
# while the channel to the main process has a backlog, the end-of-turn report waits this long
_DEFER_S = 0.05


def worker_nonce_key(server_key: bytes, index: int) -> bytes:
    """The nonce key of worker ``index``: nonces of one process are refused by the others."""
    return hashlib.sha256(b"sightline register worker %d:" % index + server_key).digest()


# -- the main process's side ----------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    process: asyncio.subprocess.Process
    channel: Channel
    ready: asyncio.Future[Ready]


class RegisterWorkers:
    """Starts, feeds and stops the REGISTER workers of the main process."""

    def __init__(
        self,
        *,
        count: int,
        config: WorkerConfig,
        endpoint: SipEndpoint,
        registrar: Registrar,
        flood: FloodPolicy,
        stats: SipStats,
        ha1s: Callable[[], Mapping[str, str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.count = count
        self._config = config
        self._endpoint = endpoint
        self._registrar = registrar
        self._flood = flood
        self._stats = stats
        self._ha1s = ha1s
        self._clock = clock
        self._workers: list[_Worker] = []
        self._stopping = False
        self._respawning: set[asyncio.Task[None]] = set()
        self._respawned_at: list[float] = []
        # every ban, whichever process saw the failure that decided it, holds in every process
        flood.failures.on_ban = lambda host, seconds: self._broadcast(Ban(host, seconds))

    async def start(self) -> None:
        """Start every worker and wait until each has bound the port."""
        try:
            for index in range(1, self.count + 1):
                await self._spawn(index)
            async with asyncio.timeout(_START_TIMEOUT_S):
                for worker in self._workers:
                    await worker.ready
        except (OSError, TimeoutError, ChannelError) as exc:
            await self.stop()
            raise Gb28181Error(f"REGISTER workers did not start: {exc}") from exc
        log.info("%d REGISTER workers answering on UDP port %d", self.count, self._config.port)

    async def _spawn(self, index: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        ready: asyncio.Future[Ready] = asyncio.get_running_loop().create_future()
        holder: list[_Worker] = []
        channel = Channel(
            ours,
            lambda message: self._on_message(holder[0], message),
            lambda: self._on_closed(holder[0]),
            name=f"REGISTER worker {index}",
        )
        worker = _Worker(index, process, channel, ready)
        holder.append(worker)
        self._workers.append(worker)  # from here on, stop() ends it whatever happens
        channel.send(replace(self._config, index=index))
        entries = list(self._ha1s().items())
        for start in range(0, len(entries), _HA1_CHUNK):
            chunk = entries[start : start + _HA1_CHUNK]
            channel.send(Ha1Entries([(d, h) for d, h in chunk]))
        channel.send(Start())

    def set_ha1(self, device_id: str, ha1: str | None) -> None:
        """Tell every worker a device's own HA1 changed (None: it has none any more)."""
        self._broadcast(Ha1Entries([(device_id, ha1)]))

    def _broadcast(self, message: ChannelMessage) -> None:
        for worker in self._workers:
            if not worker.channel.closed:
                with contextlib.suppress(ChannelError):  # logged, and on_closed reports it
                    worker.channel.send(message)

    def _on_message(self, worker: _Worker, message: ChannelMessage) -> None:
        if isinstance(message, Forwarded):
            self._endpoint.receive_forwarded(message.data, message.host, message.port)
        elif isinstance(message, Registrations):
            for item in message.items:
                self._registered(item)
        elif isinstance(message, Registered):
            self._registered(message)
        elif isinstance(message, StatsReport):
            self._stats.add_counts(message.counts)
        elif isinstance(message, AuthOutcome):
            self._auth_outcome(message)
        elif isinstance(message, Ready):
            if not worker.ready.done():
                worker.ready.set_result(message)
        else:
            log.error("REGISTER worker %d sent an unexpected %s", worker.index, message)

    def _registered(self, message: Registered) -> None:
        now = self._clock()
        binding = Binding(
            message.device_id,
            message.contact,
            Peer("UDP", message.host, message.port),
            now + message.expires,
            message.call_id,
            message.gb_version,
        )
        self._registrar.record(binding, message.expires)

    def _auth_outcome(self, message: AuthOutcome) -> None:
        now = self._clock()
        if message.ok:
            self._flood.record_success(message.host, now)
            return
        if self._flood.record_failure(message.host, now):  # on_ban tells the workers
            self._stats.bans += 1
            log.warning("banned %s after repeated failed authentication", message.host)

    def _on_closed(self, worker: _Worker) -> None:
        started = (
            worker.ready.done() and not worker.ready.cancelled() and not worker.ready.exception()
        )
        if not worker.ready.done():
            worker.ready.set_exception(ChannelError(f"worker {worker.index} exited at start"))
        if self._stopping:
            return
        # its socket left the port's group: the kernel spreads its share over the others
        log.error("REGISTER worker %d went away; the others take its devices", worker.index)
        now = self._clock()
        self._respawned_at = [t for t in self._respawned_at if now - t < 3600.0]
        if not started or len(self._respawned_at) >= _RESPAWNS:
            log.error(
                "REGISTER worker %d is not started again (%d restarts in the last hour)",
                worker.index,
                len(self._respawned_at),
            )
            return
        self._respawned_at.append(now)
        task = asyncio.ensure_future(self._respawn(worker))
        self._respawning.add(task)
        task.add_done_callback(self._respawning.discard)

    async def _respawn(self, worker: _Worker) -> None:
        """Start a worker that went away again, in its place (its index, a new process)."""
        await asyncio.sleep(_RESPAWN_DELAY_S)
        process = worker.process
        if process is not None and process.returncode is None:
            try:
                async with asyncio.timeout(_STOP_TIMEOUT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._stopping:
            return
        self._workers.remove(worker)
        try:
            await self._spawn(worker.index)
            async with asyncio.timeout(_START_TIMEOUT_S):
                await self._workers[-1].ready
        except (OSError, TimeoutError, ChannelError) as exc:
            log.error("REGISTER worker %d could not be started again: %s", worker.index, exc)
            return
        log.warning("REGISTER worker %d started again", worker.index)

    async def stop(self) -> None:
        """Close the channels (each worker then exits) and wait for the processes."""
        self._stopping = True
        for task in list(self._respawning):
            task.cancel()
        await asyncio.gather(*self._respawning, return_exceptions=True)
        for worker in self._workers:
            worker.channel.close()
            if not worker.ready.done():
                worker.ready.cancel()
            elif not worker.ready.cancelled():
                worker.ready.exception()  # retrieved: a failed start was already reported
        for worker in self._workers:
            try:
                async with asyncio.timeout(_STOP_TIMEOUT_S):
                    await worker.process.wait()
            except TimeoutError:
                log.warning("REGISTER worker %d did not stop: killing it", worker.index)
                worker.process.kill()
                await worker.process.wait()
        self._workers.clear()


# -- the worker's side ----------------------------------------------------------------------


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
        if not self.channel.closed:  # closed: this worker is ending; the datagram is dropped
            with contextlib.suppress(ChannelError):  # logged; the channel's end stops us
                self.channel.send(Forwarded(peer.host, peer.port, data))
        return True

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
        if not self.channel.closed:
            with contextlib.suppress(ChannelError):  # logged; the channel's end stops us
                self.channel.send(Registrations(items))

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
        if counts and not self.channel.closed:
            with contextlib.suppress(ChannelError):
                self.channel.send(StatsReport(tuple(counts)))


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
