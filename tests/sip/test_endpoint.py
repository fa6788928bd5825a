"""SipEndpoint over real loopback sockets: two endpoints talking UDP, TCP and TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from sightline.gb28181.registrar import Registrar
from sightline.sip.digest import DigestClient, DigestServer, NonceManager
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.errors import SipTimeoutError, SipTransportError
from sightline.sip.flood import AuthFailureTracker, FloodPolicy, RateLimiter
from sightline.sip.message import Response, build_response
from sightline.sip.stats import SipStats
from sightline.sip.timers import TimerConfig
from sightline.sip.transport import Peer, make_server_ssl_context
from tests.sip.conftest import DEVICE, REALM, options_request, register_request

PASSWORD = "12345678"
FAST = TimerConfig(t1_s=0.02, t2_s=0.08, t4_s=0.1)


@dataclass
class Pair:
    server: SipEndpoint
    client: SipEndpoint
    registrar: Registrar
    udp: Peer
    tcp: Peer


def _server(flood: FloodPolicy | None = None) -> tuple[SipEndpoint, Registrar]:
    stats = SipStats()
    endpoint = SipEndpoint(stats=stats, flood=flood, timers=FAST)
    registrar = Registrar(
        digest=DigestServer(REALM, NonceManager(b"k" * 32)),
        password_for=lambda _id: PASSWORD,
        stats=stats,
        failures=flood.failures if flood else None,
    )
    endpoint.on("REGISTER", registrar.handle)
    return endpoint, registrar


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    server, registrar = _server()
    udp = await server.start_udp("127.0.0.1", 0)
    tcp = await server.start_stream("127.0.0.1", 0)
    client = SipEndpoint(timers=FAST)
    await client.start_udp("127.0.0.1", 0)
    yield Pair(server, client, registrar, Peer("UDP", *udp), Peer("TCP", *tcp))
    await client.close()
    await server.close()


async def _register(client: SipEndpoint, peer: Peer, password: str) -> list[Response]:
    first = await client.request(register_request(), peer, timeout_s=5)
    auth = DigestClient(DEVICE, password)
    second_req = register_request()
    value = first.headers.get("WWW-Authenticate")
    assert value is not None
    second_req.headers.add("Authorization", auth.authorize("REGISTER", second_req.uri, value))
    second = await client.request(second_req, peer, timeout_s=5)
    return [first, second]


async def test_register_over_udp_401_then_200(pair: Pair) -> None:
    first, second = await _register(pair.client, pair.udp, PASSWORD)
    assert first.status == 401
    assert 'realm="3402000000"' in (first.headers.get("WWW-Authenticate") or "")
    assert second.status == 200
    assert second.headers.get("Expires") == "3600"
    assert DEVICE in pair.registrar.bindings
    assert pair.server.stats.auth_successes == 1
    assert pair.server.stats.requests_by_method["REGISTER"] == 2


async def test_register_over_tcp_uses_one_connection_both_ways(pair: Pair) -> None:
    peer = await pair.client.connect(pair.tcp.host, pair.tcp.port)
    _, ok = await _register(pair.client, peer, PASSWORD)
    assert ok.status == 200
    binding = pair.registrar.bindings[DEVICE]
    assert binding.peer.transport == "TCP"
    # the server reaches the device over the connection the device opened (GB 2022 §9.1.1 f)
    seen: list[str] = []

    def on_message(incoming: IncomingRequest) -> Response:
        seen.append(incoming.request.method)
        return build_response(incoming.request, 200, to_tag="dev")

    pair.client.on("MESSAGE", on_message)
    query = options_request()
    query.method = "MESSAGE"
    query.headers.set("CSeq", "1 MESSAGE")
    answer = await pair.server.request(query, binding.peer, timeout_s=5)
    assert answer.status == 200
    assert seen == ["MESSAGE"]


async def test_wrong_password_is_refused_and_counted(pair: Pair) -> None:
    _, refused = await _register(pair.client, pair.udp, "wrong")
    assert refused.status == 403
    assert DEVICE not in pair.registrar.bindings
    assert pair.server.stats.auth_failures == 1


async def test_options_and_unknown_methods(pair: Pair) -> None:
    ok = await pair.client.request(options_request(), pair.udp, timeout_s=5)
    assert ok.status == 200
    assert "REGISTER" in (ok.headers.get("Allow") or "")
    info = options_request()
    info.method = "INFO"
    info.headers.set("CSeq", "1 INFO")
    assert (await pair.client.request(info, pair.udp, timeout_s=5)).status == 405
    odd = options_request()
    odd.method = "FROBNICATE"
    odd.headers.set("CSeq", "1 FROBNICATE")
    assert (await pair.client.request(odd, pair.udp, timeout_s=5)).status == 501
    tel = options_request()
    tel.uri = "tel:+861012345678"
    assert (await pair.client.request(tel, pair.udp, timeout_s=5)).status == 416
    ext = options_request()
    ext.headers.add("Require", "nobodyknowsthis")
    bad = await pair.client.request(ext, pair.udp, timeout_s=5)
    assert bad.status == 420
    assert bad.headers.get("Unsupported") == "nobodyknowsthis"


def _raw_udp(port: int, payload: bytes, wait_s: float = 0.5) -> list[bytes]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(
            payload.replace(b"PORT", str(sock.getsockname()[1]).encode()), ("127.0.0.1", port)
        )
        sock.settimeout(wait_s)
        out = []
        try:
            while True:
                out.append(sock.recv(65536))
        except TimeoutError:
            return out


async def test_malformed_datagram_gets_400_and_garbage_is_dropped(pair: Pair) -> None:
    bad_length = (
        b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bKq\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: lots\r\n\r\n"
    )
    answers = await asyncio.to_thread(_raw_udp, pair.udp.port, bad_length)
    assert len(answers) == 1
    assert answers[0].startswith(b"SIP/2.0 400 ")
    assert b"Content-Length" in answers[0].split(b"\r\n\r\n")[0]  # the reason names the fault
    # without a usable CSeq no response can be built: dropped and counted
    bad_cseq = bad_length.replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS")
    assert await asyncio.to_thread(_raw_udp, pair.udp.port, bad_cseq, 0.2) == []
    garbage = await asyncio.to_thread(_raw_udp, pair.udp.port, b"\x00\xff" * 300, 0.2)
    assert garbage == []
    assert pair.server.stats.parse_errors["UDP"] == 3
    # still serving
    assert (await pair.client.request(options_request(), pair.udp, timeout_s=5)).status == 200


async def test_retransmitted_request_is_absorbed(pair: Pair) -> None:
    request = (
        b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:PORT;rport;branch=z9hG4bKretx1\r\n"
        b"From: <sip:34020000001320000001@3402000000>;tag=9\r\n"
        b"To: <sip:34020000001320000001@3402000000>\r\nCall-ID: retx@1\r\nCSeq: 1 REGISTER\r\n"
        b"Expires: 3600\r\nContent-Length: 0\r\n\r\n"
    )

    def twice() -> list[bytes]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            data = request.replace(b"PORT", str(sock.getsockname()[1]).encode())
            sock.sendto(data, ("127.0.0.1", pair.udp.port))
            first = sock.recv(65536)
            sock.sendto(data, ("127.0.0.1", pair.udp.port))
            return [first, sock.recv(65536)]

    first, again = await asyncio.to_thread(twice)
    assert first == again  # the transaction resent its response; the registrar ran once
    assert first.startswith(b"SIP/2.0 401 ")
    assert pair.server.stats.requests_by_method["REGISTER"] == 2
    assert pair.server.stats.responses_sent_by_class["4xx"] == 2


async def test_request_to_nobody_times_out_and_counts_retransmissions(pair: Pair) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        peer = Peer("UDP", "127.0.0.1", silent.getsockname()[1])
        with pytest.raises(SipTimeoutError):
            await pair.client.request(options_request(), peer)
    assert pair.client.stats.transaction_timeouts == 1
    assert pair.client.stats.retransmissions >= 5  # Timer E doubling until F = 64*T1


async def test_request_without_connection_fails_clearly(pair: Pair) -> None:
    with pytest.raises(SipTransportError, match="no open TCP connection"):
        await pair.client.request(options_request(), Peer("TCP", "127.0.0.1", 9))


async def test_ban_after_failed_authentications() -> None:
    flood = FloodPolicy(RateLimiter(1000, 1000), AuthFailureTracker(3, 60.0, 300.0))
    server, _ = _server(flood)
    udp = Peer("UDP", *await server.start_udp("127.0.0.1", 0))
    client = SipEndpoint(timers=FAST)
    await client.start_udp("127.0.0.1", 0)
    try:
        for _ in range(3):
            _, refused = await _register(client, udp, "wrong")
            assert refused.status == 403
        assert server.stats.bans == 1
        with pytest.raises(SipTimeoutError):  # banned: nothing is answered any more
            await client.request(options_request(), udp, timeout_s=0.5)
        assert server.stats.dropped_banned >= 1
    finally:
        await client.close()
        await server.close()


async def test_rate_limit_drops_excess() -> None:
    server, _ = _server(FloodPolicy(RateLimiter(1.0, 5)))
    port = (await server.start_udp("127.0.0.1", 0))[1]
    try:
        ping = (
            b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bKrl"
            b"\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: rl\r\nCSeq: 1 OPTIONS\r\n\r\n"
        )

        def flood_it() -> int:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                for i in range(20):
                    data = ping.replace(b"PORT", str(sock.getsockname()[1]).encode())
                    sock.sendto(
                        data.replace(b"z9hG4bKrl", f"z9hG4bKrl{i}".encode()), ("127.0.0.1", port)
                    )
                sock.settimeout(0.5)
                answered = 0
                try:
                    while sock.recv(65536):
                        answered += 1
                except TimeoutError:
                    return answered
            return answered

        answered = await asyncio.to_thread(flood_it)
        assert 5 <= answered <= 6
        assert server.stats.dropped_rate_limited >= 14
    finally:
        await server.close()


async def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    server, registrar = _server()
    host, port = await server.start_stream(
        "127.0.0.1", 0, make_server_ssl_context(str(cert_file), str(key_file))
    )
    client = SipEndpoint(timers=FAST)
    client_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client_ctx)
    try:
        peer = await client.connect(host, port, client_ctx)
        assert peer.transport == "TLS"
        _, ok = await _register(client, peer, PASSWORD)
        assert ok.status == 200
        assert registrar.bindings[DEVICE].peer.transport == "TLS"
        # a client that does not trust the certificate cannot connect
        with pytest.raises(ssl.SSLError):
            await client.connect(host, port, ssl.create_default_context())
    finally:
        await client.close()
        await server.close()


async def test_a_shedding_endpoint_drops_datagrams_and_counts_them(pair: Pair) -> None:
    probe = (
        b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bKshed\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: shed1\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    pair.server.shedding = True
    assert await asyncio.to_thread(_raw_udp, pair.udp.port, probe, 0.3) == []
    assert pair.server.stats.dropped_overload == 1
    pair.server.shedding = False
    answers = await asyncio.to_thread(_raw_udp, pair.udp.port, probe)
    assert len(answers) == 1 and answers[0].startswith(b"SIP/2.0 200 ")
    assert pair.server.stats.dropped_overload == 1
