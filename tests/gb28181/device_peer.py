"""A minimal GB/T 28181 device for integration tests: a second SipEndpoint on loopback.

It registers with digest auth, sends keepalives and alarms, and answers the platform's
queries with whatever ``answer`` returns (split over several MESSAGEs, sent one after the
other as Annex N asks). Everything it receives is recorded for the test to check.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sightline.config import Gb28181Settings
from sightline.events import Event, EventBus, Subscription
from sightline.gb28181.devices import DeviceManager
from sightline.gb28181.manscdp import (
    CatalogItem,
    Edition,
    Keepalive,
    ManscdpMessage,
    Message,
    Result,
    decode,
    encode,
)
from sightline.gb28181.registrar import Registrar
from sightline.sip.digest import DigestClient, DigestServer, NonceManager
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.errors import SipError
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response, build_response
from sightline.sip.stats import SipStats
from sightline.sip.timers import TimerConfig
from sightline.sip.transport import Peer
from sightline.store import Database, default_sqlite_url, migrate

REALM = "3402000000"
PLATFORM = "34020000002000000001"
DEFAULT_PASSWORD = "12345678"
FAST = TimerConfig(t1_s=0.02, t2_s=0.08, t4_s=0.1)

Answer = Callable[[Message], Sequence[Message]]


@dataclass
class Received:
    """A request the device got from the platform, with its decoded body."""

    request: Request
    message: ManscdpMessage | None


@dataclass
class DevicePeer:
    """One simulated device."""

    device_id: str
    password: str
    server: Peer
    charset: str = "GB2312"
    edition: Edition = Edition.V2016
    answer: Answer | None = None
    subscribe_expires: int | None = None  # None: grant what was asked
    received: list[Received] = field(default_factory=list)
    endpoint: SipEndpoint = field(default_factory=lambda: SipEndpoint(timers=FAST))
    _sn: int = 100
    _got: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, port: int = 0) -> tuple[str, int]:
        """Listen on loopback UDP."""
        self.endpoint.on("MESSAGE", self._on_request)
        self.endpoint.on("SUBSCRIBE", self._on_request)
        return await self.endpoint.start_udp("127.0.0.1", port)

    async def close(self) -> None:
        """Stop answering and listening."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.endpoint.close()

    # -- sending -------------------------------------------------------------------------

    def _headers(self, method: str, cseq: int = 1, call_id: str | None = None) -> Headers:
        return Headers(
            [
                ("From", f"<sip:{self.device_id}@{REALM}>;tag={secrets.token_hex(4)}"),
                ("To", f"<sip:{PLATFORM}@{REALM}>"),
                ("Call-ID", call_id or secrets.token_hex(8)),
                ("CSeq", f"{cseq} {method}"),
            ]
        )

    async def register(self, expires: int = 3600) -> Response:
        """REGISTER, answer the challenge, return the final response."""
        call_id = secrets.token_hex(8)
        first = await self.endpoint.request(self._register(expires, call_id, 1), self.server, 5)
        if first.status != 401:
            return first
        request = self._register(expires, call_id, 2)
        challenge = first.headers.get("WWW-Authenticate") or ""
        auth = DigestClient(self.device_id, self.password)
        request.headers.add("Authorization", auth.authorize("REGISTER", request.uri, challenge))
        return await self.endpoint.request(request, self.server, 5)

    def _register(self, expires: int, call_id: str, cseq: int) -> Request:
        headers = self._headers("REGISTER", cseq, call_id)
        headers.set("To", f"<sip:{self.device_id}@{REALM}>")
        host, port = self.endpoint.local_addresses["UDP"]
        headers.add("Contact", f"<sip:{self.device_id}@{host}:{port}>")
        headers.add("Expires", str(expires))
        if self.edition is Edition.V2022:
            headers.add("X-GB-Ver", "3.0")
        return Request("REGISTER", f"sip:{PLATFORM}@{REALM}", headers)

    def next_sn(self) -> int:
        """A fresh SN for messages the device starts."""
        self._sn += 1
        return self._sn

    async def send(self, msg: ManscdpMessage | bytes, method: str = "MESSAGE") -> Response:
        """Send a MANSCDP body (a model, or raw bytes) in a MESSAGE."""
        body = msg if isinstance(msg, bytes) else encode(msg, self.charset, edition=self.edition)
        headers = self._headers(method)
        headers.add("Content-Type", "Application/MANSCDP+xml")
        request = Request(method, f"sip:{PLATFORM}@{REALM}", headers, body)
        return await self.endpoint.request(request, self.server, 5)

    async def keepalive(self) -> Response:
        """One keepalive MESSAGE."""
        return await self.send(
            Keepalive(sn=self.next_sn(), device_id=self.device_id, status=Result.OK)
        )

    async def notify(self, subscribe: Request, msg: Message, state: str = "active") -> Response:
        """A NOTIFY in the dialog of a received SUBSCRIBE."""
        headers = Headers(
            [
                ("From", f"{subscribe.headers.get('To')};tag=dev{subscribe.call_id[:6]}"),
                ("To", subscribe.headers.get("From") or ""),
                ("Call-ID", subscribe.call_id),
                ("CSeq", f"{self.next_sn()} NOTIFY"),
                ("Event", subscribe.headers.get("Event") or "presence"),
                ("Subscription-State", state),
                ("Content-Type", "Application/MANSCDP+xml"),
            ]
        )
        body = encode(msg, self.charset, edition=self.edition)
        request = Request("NOTIFY", f"sip:{PLATFORM}@{REALM}", headers, body)
        return await self.endpoint.request(request, self.server, 5)

    # -- receiving -----------------------------------------------------------------------

    def _on_request(self, incoming: IncomingRequest) -> Response:
        request = incoming.request
        message = decode(request.body) if request.body else None
        self.received.append(Received(request, message))
        self._got.set()
        if request.method == "SUBSCRIBE":
            expires = self.subscribe_expires
            granted = request.headers.get("Expires") if expires is None else str(expires)
            return build_response(
                request,
                200,
                to_tag=f"dev{request.call_id[:6]}",
                headers=[("Expires", granted or "0")],
            )
        if isinstance(message, Message) and self.answer is not None:
            parts = list(self.answer(message))
            if parts:
                task = asyncio.ensure_future(self._answer(parts))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return build_response(request, 200, to_tag=secrets.token_hex(4))

    async def _answer(self, parts: list[Message]) -> None:
        await asyncio.sleep(0.01)  # after the 200 to the query, as a real device does
        for part in parts:
            try:
                await self.send(part)
            except SipError:
                return  # the platform went away mid-answer

    async def wait_for(
        self, predicate: Callable[[Received], bool], timeout_s: float = 5.0
    ) -> Received:
        """The first received request matching ``predicate`` (waiting for it if needed)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while True:
            for item in self.received:
                if predicate(item):
                    return item
            self._got.clear()
            remaining = end - loop.time()
            if remaining <= 0:
                raise TimeoutError("the device did not receive the expected request")
            try:
                await asyncio.wait_for(self._got.wait(), remaining)
            except TimeoutError:
                continue


def now_naive() -> datetime:
    """A naive timestamp for alarm and record fields."""
    return datetime(2024, 5, 1, 12, 0, 0)


# -- the platform side ---------------------------------------------------------------------


@dataclass
class RecordingSink:
    """A directory stand-in that records what the manager hands it."""

    imports: list[tuple[str, list[CatalogItem], bool]] = field(default_factory=list)
    events: list[tuple[str, list[CatalogItem]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def import_catalog(
        self, device_id: str, items: Sequence[CatalogItem], *, complete: bool
    ) -> int:
        self.imports.append((device_id, list(items), complete))
        self.changed.set()
        return len(items)

    async def apply_catalog_events(self, device_id: str, items: Sequence[CatalogItem]) -> None:
        self.events.append((device_id, list(items)))
        self.changed.set()

    async def wait(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait until ``predicate`` holds."""
        await until(predicate, timeout_s)


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``predicate`` until true (integration tests wait on real sockets and tasks)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not predicate():
        if loop.time() > end:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


@dataclass
class Platform:
    """The platform under test: endpoint, registrar, device manager, store, bus."""

    endpoint: SipEndpoint
    registrar: Registrar
    manager: DeviceManager
    sink: RecordingSink
    bus: EventBus
    events: Subscription
    database: Database
    peer: Peer
    collected: list[Event] = field(default_factory=list)

    def seen(self, kind: type) -> list[Event]:
        """Events of ``kind`` published so far."""
        while not self.events.queue.empty():
            self.collected.append(self.events.queue.get_nowait())
        return [e for e in self.collected if isinstance(e, kind)]

    def device(self, device_id: str, password: str = DEFAULT_PASSWORD, **kw: Any) -> DevicePeer:
        """A test device pointed at this platform."""
        return DevicePeer(device_id, password, self.peer, **kw)

    async def close(self) -> None:
        """Stop everything."""
        await self.manager.stop()
        await self.endpoint.close()
        await self.database.close()


async def start_platform(
    tmp_path: Path, settings: Gb28181Settings, *, expires_min_s: int = 60
) -> Platform:
    """A platform on loopback UDP with a fresh SQLite database in ``tmp_path``."""
    url = default_sqlite_url(tmp_path)
    await migrate(url)
    database = await Database.connect(url)
    endpoint = SipEndpoint(timers=FAST)
    bus = EventBus()
    events = bus.subscribe()
    sink = RecordingSink()
    manager = DeviceManager(
        endpoint=endpoint,
        database=database,
        bus=bus,
        directory=sink,
        settings=settings,
        platform_id=PLATFORM,
        domain=REALM,
    )
    registrar = Registrar(
        digest=DigestServer(REALM, NonceManager(b"k" * 32)),
        password_for=lambda _id: DEFAULT_PASSWORD,
        ha1_for=manager.ha1_for,
        stats=SipStats(),
        expires_min_s=expires_min_s,
        on_change=manager.on_registration,
    )
    manager.attach_registrar(registrar)
    endpoint.on("REGISTER", registrar.handle)
    endpoint.on("MESSAGE", manager.handle_message)
    endpoint.on_fast("MESSAGE", manager.keepalive_fast, marker=b"Keepalive")  # as serve does
    endpoint.on("NOTIFY", manager.handle_notify)
    await manager.start()
    host, port = await endpoint.start_udp("127.0.0.1", 0)
    return Platform(
        endpoint, registrar, manager, sink, bus, events, database, Peer("UDP", host, port)
    )
