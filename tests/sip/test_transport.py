"""The UDP adapter's own parts: socket buffer sizing and the per-source Peer views."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sightline.sip.errors import SipParseError
from sightline.sip.message import Request, Response
from sightline.sip.transport import Connection, Peer, UdpTransport, open_udp_socket


class Recorder:
    """A receiver that keeps what the transport hands it."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Peer, Connection]] = []

    def datagram_received(self, data: bytes, peer: Peer, conn: Connection) -> None:
        self.received.append((data, peer, conn))

    def stream_message(
        self, item: Request | Response | SipParseError, peer: Peer, conn: Connection
    ) -> None:
        raise AssertionError("no streams here")

    def allow_source(self, peer: Peer) -> bool:
        return peer.port != 9  # one refused source, to see that refusal still applies

    def connection_made(self, peer: Peer, conn: Connection) -> None:
        raise AssertionError("no streams here")

    def connection_lost(self, peer: Peer, conn: Connection) -> None:
        raise AssertionError("no streams here")


def _kernel_cap() -> int | None:
    path = Path("/proc/sys/net/core/rmem_max")
    return int(path.read_text()) if path.exists() else None


def test_udp_socket_gets_the_buffer_asked_for_up_to_the_kernel_cap() -> None:
    asked = 1 << 20
    with open_udp_socket("127.0.0.1", 0, asked) as sock:
        assert sock.getsockname()[0] == "127.0.0.1"
        assert not sock.getblocking()
        got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    cap = _kernel_cap()
    if cap is None:
        pytest.skip("no /proc/sys/net/core/rmem_max to compare with")
    assert got >= min(asked, cap)


def test_udp_socket_buffer_zero_keeps_the_system_default() -> None:
    with (
        open_udp_socket("127.0.0.1", 0, 0) as ours,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain,
    ):
        option = (socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert ours.getsockopt(*option) == plain.getsockopt(*option)


def test_udp_socket_on_a_busy_port_raises_and_closes() -> None:
    with open_udp_socket("127.0.0.1", 0, 0) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            open_udp_socket("127.0.0.1", port, 0)


def test_one_peer_view_per_source_and_the_policy_still_applies() -> None:
    receiver = Recorder()
    udp = UdpTransport(receiver)
    udp.datagram_received(b"a", ("127.0.0.1", 5060))
    udp.datagram_received(b"b", ("127.0.0.1", 5060))
    udp.datagram_received(b"c", ("127.0.0.1", 5061))
    udp.datagram_received(b"d", ("127.0.0.1", 9))
    (_, p1, c1), (_, p2, c2), (_, p3, _) = receiver.received
    assert p1 is p2 and c1 is c2
    assert p3 == Peer("UDP", "127.0.0.1", 5061) and p3 != p1
    assert [data for data, _, _ in receiver.received] == [b"a", b"b", b"c"]


def test_peer_views_are_bounded() -> None:
    receiver = Recorder()
    udp = UdpTransport(receiver)
    for port in range(1024, 1024 + 10_000):
        udp.datagram_received(b"x", ("127.0.0.1", port))
    assert len(receiver.received) == 10_000
    assert [p.port for _, p, _ in receiver.received] == list(range(1024, 1024 + 10_000))
    assert len(udp._peers) <= 4096
