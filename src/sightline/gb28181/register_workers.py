"""REGISTER worker processes: digest registration on more than one core.

Python runs one core per process, and answering REGISTER (parse, digest, response) is most
of what a platform does when thousands of devices register at once. With
``sip.register_workers`` = N > 0 the main process binds its UDP port with SO_REUSEPORT and
starts N workers (``python -m sightline.cli.register_worker``) that bind the same port. The
kernel hands each datagram to one of the sockets by a hash of its addresses, so a device
(one source address and port) always reaches the same process, and so do the retransmissions
of its requests.

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
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.packet_channel import end_process
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
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.flood import FloodPolicy
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer

__all__ = ["RegisterWorkers", "worker_nonce_key"]

log = logging.getLogger(__name__)

WORKER_MODULE = "sightline.cli.register_worker"
_HA1_CHUNK = 1000
_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 5.0
# a worker that went away is started again after this delay, at most _RESPAWNS per hour
_RESPAWN_DELAY_S = 1.0
_RESPAWNS = 10


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
        await end_process(worker.process, _STOP_TIMEOUT_S)
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
            if await end_process(worker.process, _STOP_TIMEOUT_S):
                log.warning("REGISTER worker %d did not stop: killed it", worker.index)
        self._workers.clear()
