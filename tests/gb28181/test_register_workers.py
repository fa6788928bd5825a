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
    Start,
    StatsReport,
)
from sightline.gb28181.register_workers import (
    RegisterWorkers,
    _Worker,
    serve_worker,
    worker_nonce_key,
)
from sightline.gb28181.registrar import Binding, Registrar
from sightline.sip.digest import DigestClient, DigestServer, NonceManager, ha1
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.flood import AuthFailureTracker, FloodPolicy
from sightline.sip.message import Request
from sightline.sip.parser import parse_message, serialize
from sightline.sip.stats import SipStats
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
        registered = await _next(inbox, Registered)
        assert isinstance(registered, Registered)
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
        # counters arrive once a second
        total = SipStats()
        async with asyncio.timeout(5):
            while total.requests_by_method["REGISTER"] < 6:
                report = await _next(inbox, StatsReport)
                assert isinstance(report, StatsReport)
                total.add(SipStats.from_dict(report.counts))
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
    workers._on_message(fake, StatsReport({"auth_successes": 2, "requests_by_method": {"X": 1}}))
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
