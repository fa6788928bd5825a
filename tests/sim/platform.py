"""A test platform built from the real pieces: SipEndpoint + Registrar on loopback.

It records every MESSAGE and NOTIFY the simulated devices send (decoded with the real MANSCDP
codec) and sends queries and controls to devices at the address their registration came from.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sightline.gb28181.manscdp import ManscdpMessage, Message, decode, encode
from sightline.gb28181.manscdp.schema import Edition
from sightline.gb28181.registrar import Registrar
from sightline.sip.digest import DigestServer, NonceManager
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response, build_response
from sightline.sip.stats import SipStats
from sightline.sip.timers import TimerConfig
from sightline.sip.transport import Peer

SERVER_ID = "34020000002000000001"
REALM = "3402000000"
PASSWORD = "simpass01"
FAST = TimerConfig(t1_s=0.05, t2_s=0.2, t4_s=0.2)

M = TypeVar("M", bound=Message)


@dataclass
class Received:
    """One MESSAGE or NOTIFY a device sent, as the platform saw it."""

    request: Request
    peer: Peer
    body: ManscdpMessage
    at: float


@dataclass
class LoopbackPlatform:
    """SipEndpoint + Registrar with recording MESSAGE/NOTIFY handlers."""

    endpoint: SipEndpoint
    registrar: Registrar
    udp: Peer
    tcp: Peer
    received: list[Received] = field(default_factory=list)
    message_status: int = 200
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def _record(self, incoming: IncomingRequest) -> Response:
        request = incoming.request
        self.received.append(
            Received(request, incoming.peer, decode(request.body), time.monotonic())
        )
        self._arrived.set()
        return build_response(request, self.message_status, to_tag=secrets.token_hex(4))

    def bodies(self, kind: type[M], device_id: str | None = None) -> list[M]:
        """Received bodies of one model type (optionally from one DeviceID)."""
        return [
            r.body
            for r in self.received
            if isinstance(r.body, kind) and (device_id is None or r.body.device_id == device_id)
        ]

    async def wait_for(
        self, kind: type[M], count: int = 1, *, device_id: str | None = None, timeout_s: float = 5
    ) -> list[M]:
        """Wait until ``count`` bodies of ``kind`` have arrived; return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(found := self.bodies(kind, device_id)) < count:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{len(found)}/{count} {kind.__name__} after {timeout_s}s")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                continue
        return found

    async def send(
        self,
        device_id: str,
        msg: Message,
        *,
        method: str = "MESSAGE",
        edition: Edition = Edition.V2016,
        uri_user: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> Response:
        """Send a MANSCDP body to a registered device, GB2312-encoded."""
        binding = self.registrar.bindings[device_id]
        request = platform_request(
            method, uri_user or device_id, encode(msg, "GB2312", edition=edition), extra
        )
        return await self.endpoint.request(request, binding.peer, timeout_s=5)

    async def close(self) -> None:
        """Close the endpoint."""
        await self.endpoint.close()


def platform_request(
    method: str, user: str, body: bytes, extra: list[tuple[str, str]] | None = None
) -> Request:
    """A request from the platform to a device (no Via: the endpoint adds it)."""
    headers = Headers(
        [
            ("From", f"<sip:{SERVER_ID}@{REALM}>;tag={secrets.token_hex(4)}"),
            ("To", f"<sip:{user}@{REALM}>"),
            ("Call-ID", secrets.token_hex(8)),
            ("CSeq", f"1 {method}"),
            ("Content-Type", "Application/MANSCDP+xml"),
            *(extra or []),
        ]
    )
    return Request(method, f"sip:{user}@{REALM}", headers, body)


async def start_platform(password: str = PASSWORD, **registrar: Any) -> LoopbackPlatform:
    """Start a platform listening on UDP and TCP on 127.0.0.1."""
    stats = SipStats()
    endpoint = SipEndpoint(stats=stats, timers=FAST)
    reg = Registrar(
        digest=DigestServer(REALM, NonceManager(b"s" * 32)),
        password_for=lambda _id: password,
        stats=stats,
        **registrar,
    )
    endpoint.on("REGISTER", reg.handle)
    udp = await endpoint.start_udp("127.0.0.1", 0)
    tcp = await endpoint.start_stream("127.0.0.1", 0)
    platform = LoopbackPlatform(endpoint, reg, Peer("UDP", *udp), Peer("TCP", *tcp))
    endpoint.on("MESSAGE", platform._record)
    endpoint.on("NOTIFY", platform._record)
    return platform
