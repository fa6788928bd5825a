"""Requests answered at once over UDP (no transaction built), answers from the lite scan
(``on_fast``), diverted and forwarded datagrams, and SO_REUSEPORT sockets: real sockets on
loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.errors import SipTransportError
from sightline.sip.lite import LiteAnswer, LiteRequest
from sightline.sip.message import Response, build_response
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer, open_udp_socket

RAW = (
    b"METHOD sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:PORT;rport;branch=z9hG4bKBRANCH\r\n"
    b"From: <sip:34020000001320000001@3402000000>;tag=9\r\n"
    b"To: <sip:34020000001320000001@3402000000>\r\nCall-ID: fast@1\r\nCSeq: 1 METHOD\r\n"
    b"Expires: 3600\r\nContent-Length: 0\r\n\r\n"
)


def _request(method: str, port: int, branch: str) -> bytes:
    return (
        RAW.replace(b"METHOD", method.encode())
        .replace(b"PORT", str(port).encode())
        .replace(b"BRANCH", branch.encode())
    )


class Client:
    """A bare UDP socket playing the device."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port: int = self.sock.getsockname()[1]

    async def send(self, data: bytes, port: int) -> None:
        await asyncio.to_thread(self.sock.sendto, data, ("127.0.0.1", port))

    async def recv(self) -> bytes:
        data: bytes = await asyncio.to_thread(self.sock.recv, 65536)
        return data


@pytest.fixture
def client() -> Iterator[Client]:
    device = Client()
    try:
        yield device
    finally:
        device.sock.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[SipEndpoint, int]]:
    endpoint = SipEndpoint(stats=SipStats())
    _, port = await endpoint.start_udp("127.0.0.1", 0)
    try:
        yield endpoint, port
    finally:
        await endpoint.close()


async def test_a_request_answered_at_once_leaves_only_a_retired_entry(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    calls: list[IncomingRequest] = []

    def handler(incoming: IncomingRequest) -> Response:
        calls.append(incoming)
        return build_response(incoming.request, 200, to_tag="t1")

    endpoint.on("REGISTER", handler)
    data = _request("REGISTER", client.port, "fast1")
    await client.send(data, port)
    first = await client.recv()
    await client.send(data, port)  # a retransmission: the same bytes, the handler not again
    assert await client.recv() == first
    assert first.startswith(b"SIP/2.0 200 OK\r\n") and b"Server: sightline" in first
    assert f"rport={client.port};branch=z9hG4bKfast1;received=127.0.0.1".encode() in first
    assert len(calls) == 1
    table = endpoint._table
    assert table.retired_count == 1 and list(table) == []
    assert endpoint.stats.requests_by_method["REGISTER"] == 2
    assert endpoint.stats.responses_sent_by_class["2xx"] == 2


async def test_an_awaited_answer_still_gets_a_transaction(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    release = asyncio.Event()
    calls: list[IncomingRequest] = []

    async def answer(incoming: IncomingRequest) -> Response:
        await release.wait()
        return build_response(incoming.request, 202, to_tag="t2")

    def handler(incoming: IncomingRequest) -> asyncio.Task[Response]:
        calls.append(incoming)
        return asyncio.ensure_future(answer(incoming))

    endpoint.on("MESSAGE", handler)
    data = _request("MESSAGE", client.port, "slow1")
    await client.send(data, port)
    await asyncio.sleep(0.1)
    assert len(list(endpoint._table)) == 1  # Trying while the handler waits
    await client.send(data, port)  # absorbed by the Trying transaction
    await asyncio.sleep(0.1)
    release.set()
    first = await client.recv()
    assert first.startswith(b"SIP/2.0 202 ")
    await client.send(data, port)
    assert await client.recv() == first
    assert len(calls) == 1


async def test_a_failing_handler_is_answered_500_once(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    calls: list[IncomingRequest] = []

    def handler(incoming: IncomingRequest) -> Response:
        calls.append(incoming)
        raise RuntimeError("boom")

    endpoint.on("REGISTER", handler)
    data = _request("REGISTER", client.port, "fail1")
    await client.send(data, port)
    first = await client.recv()
    await client.send(data, port)
    assert first.startswith(b"SIP/2.0 500 ") and await client.recv() == first
    assert len(calls) == 1


async def test_a_provisional_answer_goes_through_the_transaction(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    endpoint.on("MESSAGE", lambda incoming: build_response(incoming.request, 100))
    data = _request("MESSAGE", client.port, "prov1")
    await client.send(data, port)
    assert (await client.recv()).startswith(b"SIP/2.0 100 ")
    assert len(list(endpoint._table)) == 1 and endpoint._table.retired_count == 0


async def test_options_and_prechecks_are_answered_at_once(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    await client.send(_request("OPTIONS", client.port, "opt1"), port)
    assert (await client.recv()).startswith(b"SIP/2.0 200 ")
    await client.send(_request("PUBLISH", client.port, "pub1"), port)
    assert (await client.recv()).startswith(b"SIP/2.0 405 ")
    assert endpoint._table.retired_count == 2 and list(endpoint._table) == []


async def test_diverted_datagrams_are_not_handled_and_forwarded_ones_are(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    diverted: list[tuple[bytes, Peer]] = []
    arrived = asyncio.Event()

    def divert(data: bytes, peer: Peer) -> bool:
        diverted.append((data, peer))
        arrived.set()
        return True

    endpoint.divert = divert
    options = _request("OPTIONS", client.port, "div1")
    await client.send(options, port)
    async with asyncio.timeout(5):
        await arrived.wait()
    assert diverted == [(options, Peer("UDP", "127.0.0.1", client.port))]
    assert endpoint.stats.requests_by_method["OPTIONS"] == 0
    # handed back as if received: answered from the endpoint's socket to the original source
    endpoint.divert = None
    endpoint.receive_forwarded(options, "127.0.0.1", client.port)
    answer, source = await asyncio.to_thread(client.sock.recvfrom, 65536)
    assert answer.startswith(b"SIP/2.0 200 ") and source == ("127.0.0.1", port)


def test_reuse_port_lets_sockets_share_a_port_and_a_plain_one_does_not() -> None:
    first = open_udp_socket("127.0.0.1", 0, 0, reuse_port=True)
    port = first.getsockname()[1]
    second = open_udp_socket("127.0.0.1", port, 0, reuse_port=True)
    try:
        assert second.getsockname() == first.getsockname()
        with pytest.raises(OSError):
            open_udp_socket("127.0.0.1", port, 0).close()
    finally:
        first.close()
        second.close()


# -- on_fast: answers straight from the lite scan --------------------------------------------


class FastHandler:
    """Answers 200 from the lite scan unless told to hand requests on; counts both."""

    def __init__(self) -> None:
        self.answered: list[LiteRequest] = []
        self.declined = 0
        self.decline = False

    def __call__(self, request: LiteRequest, peer: Peer) -> LiteAnswer | None:
        if self.decline:
            self.declined += 1
            return None
        self.answered.append(request)
        return LiteAnswer(200, [("Expires", request.fields["expires"])])


def _both_paths(
    endpoint: SipEndpoint,
    method: str,
    status: int,
    *,
    to_tag: str | None = None,
    marker: bytes = b"",
) -> tuple[list[IncomingRequest], FastHandler]:
    """A full-path handler answering ``status`` (its requests in the list) and a fast one."""
    full: list[IncomingRequest] = []
    fast = FastHandler()

    def handler(incoming: IncomingRequest) -> Response:
        full.append(incoming)
        return build_response(incoming.request, status, to_tag=to_tag)

    endpoint.on(method, handler)
    endpoint.on_fast(method, fast, marker=marker)
    return full, fast


async def test_a_fast_answer_is_sent_retired_and_resent_for_retransmissions(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    full, fast = _both_paths(endpoint, "REGISTER", 500)
    data = _request("REGISTER", client.port, "lite1")
    await client.send(data, port)
    first = await client.recv()
    assert first.startswith(b"SIP/2.0 200 OK\r\n")
    assert f"rport={client.port};branch=z9hG4bKlite1;received=127.0.0.1".encode() in first
    assert b"\r\nExpires: 3600\r\nServer: sightline\r\nContent-Length: 0\r\n\r\n" in first
    await client.send(data, port)  # a retransmission: the same bytes, no handler again
    assert await client.recv() == first
    assert len(fast.answered) == 1 and full == []
    assert endpoint._table.retired_count == 1 and list(endpoint._table) == []
    assert endpoint.stats.requests_by_method["REGISTER"] == 2
    assert endpoint.stats.responses_sent_by_class["2xx"] == 2


async def test_a_declined_or_unusual_request_takes_the_full_path(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    full, fast = _both_paths(endpoint, "REGISTER", 403, to_tag="t3")
    fast.decline = True
    await client.send(_request("REGISTER", client.port, "lite2"), port)
    assert (await client.recv()).startswith(b"SIP/2.0 403 ")
    fast.decline = False
    # a field the scan does not take: the full path, the fast handler never asked
    odd = _request("REGISTER", client.port, "lite3").replace(
        b"Expires: 3600\r\n", b"Expires: 3600\r\nRequire: foo\r\n"
    )
    await client.send(odd, port)
    assert (await client.recv()).startswith(b"SIP/2.0 420 ")
    # other methods are not scanned at all
    await client.send(_request("OPTIONS", client.port, "lite4"), port)
    assert (await client.recv()).startswith(b"SIP/2.0 200 ")
    assert fast.declined == 1 and fast.answered == [] and len(full) == 1
    assert endpoint.stats.requests_by_method["REGISTER"] == 2  # each counted once


async def test_with_a_marker_only_datagrams_containing_it_are_scanned(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    full, fast = _both_paths(endpoint, "MESSAGE", 202, to_tag="t6", marker=b"Keepalive")

    def message(branch: str, body: bytes) -> bytes:
        head = _request("MESSAGE", client.port, branch).replace(
            b"Content-Length: 0\r\n",
            b"Content-Type: Application/MANSCDP+xml\r\nContent-Length: %d\r\n" % len(body),
        )
        return head + body

    await client.send(message("mark1", b"<Notify><CmdType>Catalog</CmdType></Notify>"), port)
    assert (await client.recv()).startswith(b"SIP/2.0 202 ")
    assert fast.answered == [] and len(full) == 1  # never scanned, never asked
    await client.send(message("mark2", b"<Notify><CmdType>Keepalive</CmdType></Notify>"), port)
    assert (await client.recv()).startswith(b"SIP/2.0 200 ")
    assert len(fast.answered) == 1 and len(full) == 1
    assert fast.answered[0].body == b"<Notify><CmdType>Keepalive</CmdType></Notify>"


async def test_a_live_transaction_absorbs_its_retransmission_before_the_fast_path(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server
    release = asyncio.Event()

    async def answer(incoming: IncomingRequest) -> Response:
        await release.wait()
        return build_response(incoming.request, 202, to_tag="t4")

    fast = FastHandler()
    fast.decline = True  # the first copy goes to the awaited full handler
    endpoint.on("REGISTER", lambda incoming: asyncio.ensure_future(answer(incoming)))
    endpoint.on_fast("REGISTER", fast)
    data = _request("REGISTER", client.port, "lite5")
    await client.send(data, port)
    await asyncio.sleep(0.1)
    fast.decline = False
    await client.send(data, port)  # its transaction is Trying: absorbed, not answered fast
    await asyncio.sleep(0.1)
    release.set()
    assert (await client.recv()).startswith(b"SIP/2.0 202 ")
    assert fast.answered == [] and fast.declined == 1


async def test_more_sockets_on_the_port_feed_the_same_endpoint(client: Client) -> None:
    endpoint = SipEndpoint(stats=SipStats())
    other = SipEndpoint(stats=SipStats())
    try:
        _, port = await endpoint.start_udp("127.0.0.1", 0, reuse_port=True)
        for _ in range(3):
            await endpoint.add_udp_socket("127.0.0.1", port)
        await other.start_udp("127.0.0.1", port, reuse_port=True)
        # sources spread over 5 sockets, 4 of them this endpoint's: most land here, and
        # every answer leaves from the port itself
        devices = [Client() for _ in range(40)]
        for device in devices:
            await device.send(_request("OPTIONS", device.port, f"s{device.port}"), port)
        for device in devices:
            answer, source = await asyncio.to_thread(device.sock.recvfrom, 65536)
            assert answer.startswith(b"SIP/2.0 200 ") and source == ("127.0.0.1", port)
            device.sock.close()
        here = endpoint.stats.requests_by_method["OPTIONS"]
        assert here + other.stats.requests_by_method["OPTIONS"] == 40
        assert here > 20
    finally:
        await endpoint.close()
        await other.close()
    with pytest.raises(SipTransportError):
        await SipEndpoint().add_udp_socket("127.0.0.1", 0)


async def test_a_failing_fast_handler_hands_the_request_to_the_full_path(
    server: tuple[SipEndpoint, int], client: Client
) -> None:
    endpoint, port = server

    def broken(request: LiteRequest, peer: Peer) -> LiteAnswer | None:
        raise RuntimeError("boom")

    endpoint.on("REGISTER", lambda incoming: build_response(incoming.request, 200, to_tag="t5"))
    endpoint.on_fast("REGISTER", broken)
    await client.send(_request("REGISTER", client.port, "lite6"), port)
    assert (await client.recv()).startswith(b"SIP/2.0 200 ")
