"""REGISTER workers without extra processes: the worker's side (``serve_worker``) run in this
process on a real UDP socket and channel, and the main process's handling of what workers say.
The whole system with real worker processes is tests/e2e/test_register_workers.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import pytest
from pydantic import ValidationError

from sightline.config import SipSettings
from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.register_channel import (
    AuthOutcome,
    Ban,
    Channel,
    ChannelMessage,
    Forwarded,
    Ha1Entries,
    Ready,
    Registered,
    Registrations,
    Start,
    StatsReport,
)
from sightline.gb28181.register_worker_side import (
    _ReportedFailures,
    _WorkerProcess,
    serve_worker,
)
from sightline.gb28181.register_workers import RegisterWorkers, _Worker, worker_nonce_key
from sightline.gb28181.registrar import Binding, Registrar
from sightline.sip.digest import DigestClient, DigestServer, NonceManager, ha1
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.flood import AuthFailureTracker, FloodPolicy
from sightline.sip.message import Request
from sightline.sip.parser import parse_message, serialize
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer
from tests.gb28181.test_register_channel import CONFIG, Inbox
from tests.sip.conftest import DEVICE, REALM, options_request, register_request

PASSWORD = "worker-password"
OWN_HA1_DEVICE = "34020000001320000099"


class Device:
    """A UDP socket speaking raw SIP, on its own port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port: int = self.sock.getsockname()[1]
        self.branch = 0

    async def ask(self, request: Request, port: int) -> bytes:
        self.branch += 1
        request.headers.prepend(
            "Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch=z9hG4bKw{self.branch}"
        )
        await asyncio.to_thread(self.sock.sendto, serialize(request), ("127.0.0.1", port))
        data: bytes = await asyncio.to_thread(self.sock.recv, 65536)
        return data


async def _register(device: Device, port: int, device_id: str, password: str) -> bytes:
    first = parse_message(await device.ask(register_request(device_id), port))
    challenge = first.headers.get("WWW-Authenticate")
    assert challenge is not None
    second = register_request(device_id, cseq=2)
    auth = DigestClient(device_id, password).authorize("REGISTER", second.uri, challenge)
    second.headers.add("Authorization", auth)
    return await device.ask(second, port)


@pytest.fixture
async def worker() -> AsyncIterator[tuple[Channel, Inbox, int]]:
    """``serve_worker`` on a free port, with the test as its main process."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    config = replace(CONFIG, port=0, device_password=PASSWORD, realm=REALM, nonce_key="11" * 32)
    inbox = Inbox(1)
    main = Channel(ours, inbox, lambda: None, name="worker")
    task = asyncio.ensure_future(serve_worker(config, theirs))
    main.send(Ha1Entries([(OWN_HA1_DEVICE, ha1(OWN_HA1_DEVICE, REALM, "own-password"))]))
    main.send(Start())
    ready = (await inbox.wait())[0]
    assert isinstance(ready, Ready)
    try:
        yield main, inbox, ready.port
    finally:
        main.close()  # end of file: the worker stops
        async with asyncio.timeout(5):
            await task


async def _next(inbox: Inbox, kind: type) -> ChannelMessage:
    inbox.want = len(inbox.items) + 1
    inbox.full.clear()
    async with asyncio.timeout(5):
        while True:
            found = [m for m in inbox.items if isinstance(m, kind)]
            if found:
                inbox.items.remove(found[0])
                return found[0]
            inbox.want = len(inbox.items) + 1
            inbox.full.clear()
            await inbox.full.wait()


async def test_a_worker_answers_register_and_reports_the_binding(
    worker: tuple[Channel, Inbox, int],
) -> None:
    _, inbox, port = worker
    device = Device()
    with contextlib.closing(device.sock):
        ok = await _register(device, port, DEVICE, PASSWORD)
        assert ok.startswith(b"SIP/2.0 200 OK")
        batch = await _next(inbox, Registrations)
        assert isinstance(batch, Registrations) and len(batch.items) == 1
        registered = batch.items[0]
        contact = f"<sip:{DEVICE}@127.0.0.1:5060>"
        assert registered == Registered(
            DEVICE, contact, "127.0.0.1", device.port, 3600, registered.call_id, None
        )
        # a device with its own HA1 (sent by the main process) uses it, not the default
        own = await _register(device, port, OWN_HA1_DEVICE, "own-password")
        assert own.startswith(b"SIP/2.0 200 OK")
        assert (await _register(device, port, OWN_HA1_DEVICE, PASSWORD)).startswith(b"SIP/2.0 403 ")
        failed = await _next(inbox, AuthOutcome)
        assert failed == AuthOutcome("127.0.0.1", ok=False)
        # counters arrive after each loop turn that handled datagrams
        total = SipStats()
        async with asyncio.timeout(5):
            while total.requests_by_method["REGISTER"] < 6:
                report = await _next(inbox, StatsReport)
                assert isinstance(report, StatsReport)
                total.add_counts(report.counts)
        assert total.requests_by_method["REGISTER"] == 6
        assert (total.auth_successes, total.auth_failures) == (2, 1)


async def test_a_worker_forwards_everything_else_and_obeys_bans(
    worker: tuple[Channel, Inbox, int],
) -> None:
    main, inbox, port = worker
    device = Device()
    with contextlib.closing(device.sock):
        request = options_request()
        request.headers.prepend("Via", f"SIP/2.0/UDP 127.0.0.1:{device.port};branch=z9hG4bKo1")
        data = serialize(request)
        await asyncio.to_thread(device.sock.sendto, data, ("127.0.0.1", port))
        forwarded = await _next(inbox, Forwarded)
        assert forwarded == Forwarded("127.0.0.1", device.port, data)
        main.send(Ban("127.0.0.1", 60.0))
        await asyncio.sleep(0.1)
        device.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            await device.ask(register_request(), port)


async def test_worker_nonces_are_refused_by_other_processes() -> None:
    key = b"k" * 32
    one = DigestServer(REALM, NonceManager(worker_nonce_key(key, 1)))
    two = DigestServer(REALM, NonceManager(worker_nonce_key(key, 2)))
    main = DigestServer(REALM, NonceManager(key))
    challenge = one.challenge(1000.0)
    request = register_request()
    auth = DigestClient(DEVICE, PASSWORD).authorize("REGISTER", request.uri, challenge)
    assert two.verify("REGISTER", auth, lambda _u: PASSWORD, 1001.0).outcome.name == "STALE"
    assert main.verify("REGISTER", auth, lambda _u: PASSWORD, 1001.0).outcome.name == "STALE"
    assert one.verify("REGISTER", auth, lambda _u: PASSWORD, 1001.0).outcome.name == "OK"


# -- the main process's side ----------------------------------------------------------------


@dataclass
class MainSide:
    """The main process's RegisterWorkers and what the test watches around it."""

    workers: RegisterWorkers
    registrar: Registrar
    stats: SipStats
    tracker: AuthFailureTracker
    changes: list[tuple[str, bool]]
    inboxes: list[Inbox]  # what each fake worker received
    port: int


@pytest.fixture
async def main_side() -> AsyncIterator[MainSide]:
    """A RegisterWorkers whose two 'workers' are channels held by the test."""
    stats = SipStats()
    flood = FloodPolicy(failures=AuthFailureTracker(max_failures=3, window_s=60, ban_s=120))
    endpoint = SipEndpoint(stats=stats, flood=flood)
    _, port = await endpoint.start_udp("127.0.0.1", 0)
    changes: list[tuple[str, bool]] = []
    registrar = Registrar(
        digest=DigestServer(REALM, NonceManager(b"m" * 32)),
        password_for=lambda _d: PASSWORD,
        stats=stats,
        failures=flood.failures,
        on_change=lambda b, online: changes.append((b.device_id, online)),
    )
    workers = RegisterWorkers(
        count=2,
        config=CONFIG,
        endpoint=endpoint,
        registrar=registrar,
        flood=flood,
        stats=stats,
        ha1s=dict,
        clock=lambda: 1000.0,
    )
    inboxes: list[Inbox] = []
    ends: list[socket.socket] = []
    for index in (1, 2):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        inbox = Inbox(1)
        peer = Channel(theirs, inbox, lambda: None, name=f"fake worker {index}")
        inboxes.append(inbox)
        ends.append(theirs)
        holder: list[_Worker] = []
        channel = Channel(
            ours,
            lambda m, h=holder: workers._on_message(h[0], m),  # type: ignore[misc]
            lambda: None,
            name=f"worker {index}",
        )
        ready: asyncio.Future[Ready] = asyncio.get_running_loop().create_future()
        worker = _Worker(index, cast(asyncio.subprocess.Process, None), channel, ready)
        holder.append(worker)
        workers._workers.append(worker)
        peer.send(Ready("127.0.0.1", port))
        async with asyncio.timeout(5):
            await ready
    try:
        yield MainSide(workers, registrar, stats, flood.failures, changes, inboxes, port)
    finally:
        for worker in workers._workers:
            worker.channel.close()
        await endpoint.close()


async def test_registrations_from_workers_reach_the_main_registrar(main_side: MainSide) -> None:
    workers, registrar = main_side.workers, main_side.registrar
    fake = workers._workers[0]
    for expires in (3600, 1800):
        workers._on_message(
            fake, Registered(DEVICE, "<sip:d@h>", "192.0.2.1", 5070, expires, "c", "3.0")
        )
    binding = registrar.bindings[DEVICE]
    assert binding == Binding(DEVICE, "<sip:d@h>", binding.peer, 1000.0 + 1800, "c", "3.0")
    assert (binding.peer.host, binding.peer.port) == ("192.0.2.1", 5070)
    workers._on_message(fake, Registered(DEVICE, "<sip:d@h>", "192.0.2.1", 5070, 0, "c", None))
    assert registrar.bindings == {}
    assert main_side.changes == [(DEVICE, True), (DEVICE, False)]
    # a batch (one packet per loop turn of the worker) is taken in order
    other = "34020000001320000077"
    batch = Registrations(
        (
            Registered(DEVICE, "<sip:d@h>", "192.0.2.1", 5070, 60, "c", None),
            Registered(other, "<sip:o@h>", "192.0.2.2", 5071, 60, "c2", None),
            Registered(DEVICE, "<sip:d@h>", "192.0.2.1", 5070, 0, "c", None),
        )
    )
    workers._on_message(fake, batch)
    assert list(registrar.bindings) == [other]
    assert main_side.changes[2:] == [(DEVICE, True), (other, True), (DEVICE, False)]
    workers._on_message(
        fake, StatsReport((("auth_successes", "", 2), ("requests_by_method", "X", 1)))
    )
    assert main_side.stats.auth_successes == 2


async def test_a_ban_reaches_every_worker_whoever_decided_it(main_side: MainSide) -> None:
    workers = main_side.workers
    fake = workers._workers[1]
    for _ in range(3):  # failures seen by a worker
        workers._on_message(fake, AuthOutcome("192.0.2.7", ok=False))
    # ... and one seen by the main process itself (its registrar uses the tracker directly)
    for _ in range(3):
        main_side.tracker.record_failure("192.0.2.8", 1000.0)
    for inbox in main_side.inboxes:
        inbox.want = 2
        assert await inbox.wait() == [Ban("192.0.2.7", 120.0), Ban("192.0.2.8", 120.0)]
    assert main_side.stats.bans == 1  # the registrar counts the bans it decides itself


async def test_forwarded_datagrams_are_answered_from_the_main_socket(main_side: MainSide) -> None:
    workers, port = main_side.workers, main_side.port
    device = Device()
    with contextlib.closing(device.sock):
        request = options_request()
        request.headers.prepend("Via", f"SIP/2.0/UDP 127.0.0.1:{device.port};branch=z9hG4bKf1")
        workers._on_message(
            workers._workers[0], Forwarded("127.0.0.1", device.port, serialize(request))
        )
        answer, source = await asyncio.to_thread(device.sock.recvfrom, 65536)
        assert answer.startswith(b"SIP/2.0 200 ") and source == ("127.0.0.1", port)


async def test_a_worker_that_cannot_start_fails_the_start_and_leaves_nothing(
    main_side: MainSide,
) -> None:
    unreachable = replace(CONFIG, host="192.0.2.1", port=main_side.port)  # not ours: no bind
    workers = RegisterWorkers(
        count=1,
        config=unreachable,
        endpoint=SipEndpoint(),
        registrar=main_side.registrar,
        flood=FloodPolicy(),
        stats=SipStats(),
        ha1s=dict,
    )
    with pytest.raises(Gb28181Error, match="REGISTER workers did not start"):
        await workers.start()
    assert _worker_children() == []


def _worker_children() -> list[int]:
    """This process's children that run a REGISTER worker."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError):
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if (
                int(stat[1]) == os.getpid()
                and b"register_worker" in (entry / "cmdline").read_bytes()
            ):
                found.append(int(entry.name))
    return found


async def test_registrations_are_batched_per_loop_turn_and_sent_before_a_forward() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    inbox = Inbox(2)
    main = Channel(ours, inbox, lambda: None, name="worker")
    worker = _WorkerProcess(CONFIG, theirs)
    try:
        peer = Peer("UDP", "192.0.2.1", 5070)
        for n in range(3):
            worker._bind(Binding(f"3402000000132000000{n}", "<sip:d@h>", peer, 1.0, "c", None), 60)
        # a datagram for the main process arrives in the same turn: the batch goes first
        assert worker._divert(b"MESSAGE sip:x SIP/2.0\r\n\r\n", peer)
        got = await inbox.wait()
        assert isinstance(got[0], Registrations) and len(got[0].items) == 3
        assert isinstance(got[1], Forwarded)
        # otherwise the batch leaves at the end of the loop turn, as one packet
        inbox.want = 3
        inbox.full.clear()
        for n in range(2):
            worker._bind(Binding(f"3402000000132000001{n}", "<sip:d@h>", peer, 1.0, "c", None), 0)
        assert len(inbox.items) == 2
        got = await inbox.wait()
        assert isinstance(got[2], Registrations)
        assert [(i.device_id, i.expires) for i in got[2].items] == [
            ("34020000001320000010", 0),
            ("34020000001320000011", 0),
        ]
    finally:
        worker.channel.close()
        main.close()


async def test_a_backlogged_worker_reports_later_in_bigger_packets() -> None:
    """While the main process is behind, a worker sends no per-turn packets: its bindings wait
    (full batches still go) and leave with the counters once the queue has drained."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    worker = _WorkerProcess(CONFIG, theirs)
    try:
        peer = Peer("UDP", "192.0.2.1", 5070)
        while not worker.channel.backlog:  # the main process reads nothing yet
            worker.channel.send(Forwarded("192.0.2.9", 5060, b"x" * 1000))
        queued = worker.channel.backlog
        for n in range(3):
            worker._bind(Binding(f"3402000000132000000{n}", "<sip:d@h>", peer, 1.0, "c", None), 60)
        worker.stats.auth_successes += 3
        await asyncio.sleep(0.01)  # the loop turn ends: nothing more is queued
        assert worker.channel.backlog == queued
        inbox = Inbox(1)
        main = Channel(ours, inbox, lambda: None, name="worker")  # the main process catches up
        async with asyncio.timeout(5):
            while not any(isinstance(m, StatsReport) for m in inbox.items):
                inbox.want = len(inbox.items) + 1
                inbox.full.clear()
                await inbox.full.wait()
        registrations = [m for m in inbox.items if isinstance(m, Registrations)]
        assert [len(r.items) for r in registrations] == [3]  # one packet, after the backlog
        stats = [m for m in inbox.items if isinstance(m, StatsReport)]
        assert ("auth_successes", "", 3) in stats[0].counts
        main.close()
    finally:
        worker.channel.close()


def test_a_worker_bans_locally_at_once_and_leaves_the_decision_to_the_main_process() -> None:
    reports: list[AuthOutcome] = []
    failures = _ReportedFailures(reports.append, replace(CONFIG, ban_after_failures=2, ban_s=30))
    assert failures.record_failure("192.0.2.5", 10.0) is False
    assert not failures.is_banned("192.0.2.5", 10.0)
    assert failures.record_failure("192.0.2.5", 11.0) is False  # the main process counts bans
    assert failures.is_banned("192.0.2.5", 11.0) and not failures.is_banned("192.0.2.5", 41.5)
    assert reports == [AuthOutcome("192.0.2.5", ok=False)] * 2
    failures.record_success("192.0.2.6", 12.0)  # never failed here: nothing to report
    failures.record_failure("192.0.2.6", 12.0)
    failures.record_success("192.0.2.6", 13.0)
    assert reports[2:] == [AuthOutcome("192.0.2.6", ok=False), AuthOutcome("192.0.2.6", ok=True)]


def test_the_workers_setting_is_a_number_or_auto() -> None:
    cores = len(os.sched_getaffinity(0))
    assert SipSettings().register_workers == "auto"
    assert SipSettings().register_worker_count() == (cores if cores > 1 else 0)
    assert SipSettings(register_workers=3).register_worker_count() == 3
    assert SipSettings(register_workers=0).register_worker_count() == 0
    for bad in ("many", -1, 65):
        with pytest.raises(ValidationError):
            SipSettings(register_workers=bad)


async def test_a_worker_whose_channel_closed_drops_what_it_would_forward() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    worker = _WorkerProcess(CONFIG, theirs)
    worker.channel.close()  # ending: its UDP socket may still deliver a datagram or two
    peer = Peer("UDP", "192.0.2.1", 5070)
    assert worker._divert(b"MESSAGE sip:x SIP/2.0\r\n\r\n", peer)  # taken, no exception
    ours.close()
