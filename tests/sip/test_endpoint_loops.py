"""The endpoint on each event loop it runs on: asyncio's own and uvloop (what ``serve`` uses).

uvloop's transports are not subclasses of asyncio's and its timers have millisecond
resolution; a bug that only shows there once slipped through tests that ran asyncio alone.
Each run is a whole exchange over loopback: digest REGISTER over UDP and TCP, OPTIONS, a
retransmission absorbed by a retired transaction and answered anew after Timer J, and a client
transaction timing out (Timer F) towards a silent peer.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from sightline.gb28181.registrar import Registrar
from sightline.sip.digest import DigestClient, DigestServer, NonceManager
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.errors import SipTimeoutError
from sightline.sip.message import Response
from sightline.sip.stats import SipStats
from sightline.sip.timers import TimerConfig
from sightline.sip.transport import Peer
from tests.sip.conftest import DEVICE, REALM, options_request, register_request

PASSWORD = "loop-password"
FAST = TimerConfig(t1_s=0.005, t2_s=0.02, t4_s=0.05)

Runner = Callable[[Coroutine[Any, Any, None]], None]
LOOPS: dict[str, Runner] = {"asyncio": asyncio.run, "uvloop": uvloop.run}

RAW_REGISTER = (
    b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:PORT;rport;branch=z9hG4bKloops1\r\n"
    b"From: <sip:34020000001320000001@3402000000>;tag=9\r\n"
    b"To: <sip:34020000001320000001@3402000000>\r\nCall-ID: loops@1\r\nCSeq: 1 REGISTER\r\n"
    b"Expires: 3600\r\nContent-Length: 0\r\n\r\n"
)


class SteppedClock:
    """Monotonic time plus an offset the test can advance (to jump past Timer J)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset_s


async def _register(client: SipEndpoint, peer: Peer) -> list[Response]:
    first = await client.request(register_request(), peer, timeout_s=5)
    challenge = first.headers.get("WWW-Authenticate")
    assert challenge is not None
    second = register_request()
    auth = DigestClient(DEVICE, PASSWORD).authorize("REGISTER", second.uri, challenge)
    second.headers.add("Authorization", auth)
    return [first, await client.request(second, peer, timeout_s=5)]


def _send_raw(port: int, times: int) -> list[bytes]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        data = RAW_REGISTER.replace(b"PORT", str(sock.getsockname()[1]).encode())
        answers = []
        for _ in range(times):
            sock.sendto(data, ("127.0.0.1", port))
            answers.append(sock.recv(65536))
        return answers


async def _exchange() -> None:
    stats = SipStats()
    clock = SteppedClock()
    server = SipEndpoint(stats=stats, timers=FAST, clock=clock)
    registrar = Registrar(
        digest=DigestServer(REALM, NonceManager(b"k" * 32)),
        password_for=lambda _id: PASSWORD,
        stats=stats,
    )
    server.on("REGISTER", registrar.handle)
    client = SipEndpoint(timers=FAST)
    udp = Peer("UDP", *await server.start_udp("127.0.0.1", 0))
    tcp_address = await server.start_stream("127.0.0.1", 0)
    await client.start_udp("127.0.0.1", 0)
    try:
        assert [r.status for r in await _register(client, udp)] == [401, 200]
        tcp = await client.connect(*tcp_address)
        assert [r.status for r in await _register(client, tcp)] == [401, 200]
        assert DEVICE in registrar.bindings
        options = await client.request(options_request(), udp, timeout_s=5)
        assert options.status == 200
        first, again = await asyncio.to_thread(_send_raw, udp.port, 2)
        assert first.startswith(b"SIP/2.0 401 ") and again == first  # absorbed: same bytes
        clock.offset_s += 2 * FAST.timer_j_s
        (later,) = await asyncio.to_thread(_send_raw, udp.port, 1)
        assert later.startswith(b"SIP/2.0 401 ") and later != first  # a new transaction
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.1", 0))
            nobody = Peer("UDP", "127.0.0.1", silent.getsockname()[1])
            with pytest.raises(SipTimeoutError):
                await client.request(options_request(), nobody)
        assert client.stats.retransmissions >= 5  # Timer E fired on this loop's timers
        # 7 sent; on a loaded machine the client's Timer E may also have re-sent a REGISTER
        registers = stats.requests_by_method["REGISTER"]
        assert 7 <= registers <= 7 + client.stats.retransmissions
        assert stats.auth_successes == 2
    finally:
        await client.close()
        await server.close()


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_endpoint_exchange_on_each_event_loop(loop: str) -> None:
    LOOPS[loop](_exchange())
