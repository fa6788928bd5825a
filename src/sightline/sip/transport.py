"""asyncio adapters for SIP over UDP, TCP and TLS (RFC 3261 §18).

They only move bytes: every decision (flood policy, parsing, transactions, answers) is the
:class:`~sightline.sip.endpoint.SipEndpoint`'s.  Stream transports frame messages with
:class:`~sightline.sip.framing.StreamFramer` and close a connection whose framing is broken,
since nothing after that point can be trusted to start a message.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Protocol, cast

from sightline.sip.errors import SipParseError
from sightline.sip.framing import StreamFramer
from sightline.sip.message import Request, Response
from sightline.sip.parser import Limits

__all__ = [
    "Connection",
    "Peer",
    "SipReceiver",
    "StreamConnection",
    "UdpTransport",
    "make_server_ssl_context",
    "open_udp_socket",
]

log = logging.getLogger(__name__)

_PEER_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Peer:
    """The far end of a message: transport name (UDP/TCP/TLS), IP address and port."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        """True for stream transports, where SIP does not retransmit."""
        return self.transport != "UDP"


class Connection(Protocol):
    """Something that can carry bytes back to a peer."""

    def send(self, data: bytes) -> None:
        """Queue bytes for the peer."""

    def close(self) -> None:
        """Close the connection (no-op for UDP)."""

    @property
    def is_closing(self) -> bool:
        """True once closed or closing."""


class SipReceiver(Protocol):
    """The endpoint side of the transports."""

    def datagram_received(self, data: bytes, peer: Peer, conn: Connection) -> None:
        """A UDP datagram arrived."""

    def stream_message(
        self, item: Request | Response | SipParseError, peer: Peer, conn: Connection
    ) -> None:
        """A framed message (or a framing-level parse error) arrived on a stream."""

    def allow_source(self, peer: Peer) -> bool:
        """Flood policy check before any parsing; False drops the data."""

    def connection_made(self, peer: Peer, conn: Connection) -> None:
        """A stream connection opened."""

    def connection_lost(self, peer: Peer, conn: Connection) -> None:
        """A stream connection closed."""


class UdpTransport(asyncio.DatagramProtocol):
    """One UDP socket shared by all peers."""

    def __init__(self, receiver: SipReceiver) -> None:
        self._receiver = receiver
        self._transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("0.0.0.0", 0)
        # Peers (frozen) and their reply views by source address: a device sends many
        # datagrams from one address, and building both per datagram shows in profiles.
        self._peers: dict[tuple[str | int, ...], tuple[Peer, _UdpReply]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the socket."""
        # A cast, not an isinstance check: uvloop's UDPTransport does not subclass asyncio's.
        self._transport = cast(asyncio.DatagramTransport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local = (str(sockname[0]), int(sockname[1]))

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Hand a datagram to the endpoint with the peer it came from."""
        known = self._peers.get(addr)
        if known is None:
            known = self._new_peer(addr)
        peer, reply = known
        if self._receiver.allow_source(peer):
            self._receiver.datagram_received(data, peer, reply)

    def forwarded(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """A datagram another process received on this port and already flood-checked."""
        peer, reply = self._peers.get(addr) or self._new_peer(addr)
        self._receiver.datagram_received(data, peer, reply)

    def _new_peer(self, addr: tuple[str | int, ...]) -> tuple[Peer, _UdpReply]:
        if len(self._peers) >= _PEER_CACHE_SIZE:
            self._peers.clear()
        peer = Peer("UDP", str(addr[0]), int(addr[1]))
        known = self._peers[addr] = (peer, _UdpReply(self, peer))
        return known

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (port unreachable...) are normal on UDP; log at debug."""
        log.debug("UDP error on %s: %s", self.local, exc)

    def sendto(self, data: bytes, host: str, port: int) -> None:
        """Send one datagram."""
        if self._transport is not None and not self._transport.is_closing():
            try:
                self._transport.sendto(data, (host, port))
            except OSError as exc:  # e.g. an address the kernel refuses
                log.info("UDP send to %s:%d failed: %s", host, port, exc)

    def close(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()


def open_udp_socket(
    host: str, port: int, buffer_bytes: int, *, reuse_port: bool = False
) -> socket.socket:
    """A bound, non-blocking UDP socket with receive/send buffers of about ``buffer_bytes``.

    The Linux default (~208 KiB) holds only ~400 REGISTERs: a burst, or a pause of the event
    loop, overflows it and every dropped request costs the device a 500 ms retransmission.
    The kernel caps the size at net.core.rmem_max/wmem_max; the effective size is logged.

    ``reuse_port`` sets SO_REUSEPORT, so that other processes of the same user can bind the
    same address: the kernel then hands each datagram to one of the sockets by a hash of its
    source and destination, so one peer address always reaches the same process.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        if buffer_bytes > 0:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, buffer_bytes)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    # Linux reports twice the size asked for (it counts its bookkeeping)
    received = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    sent = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    log.info(
        "UDP %s:%d buffers: receive %d, send %d bytes (asked %d; the kernel caps it at "
        "net.core.rmem_max / wmem_max)",
        host,
        port,
        received,
        sent,
        buffer_bytes,
    )
    return sock


class _UdpReply:
    """A Connection view of the UDP socket bound to one peer."""

    __slots__ = ("_peer", "_udp")

    def __init__(self, udp: UdpTransport, peer: Peer) -> None:
        self._udp = udp
        self._peer = peer

    def send(self, data: bytes) -> None:
        self._udp.sendto(data, self._peer.host, self._peer.port)

    def close(self) -> None:
        """UDP has no connection to close."""

    @property
    def is_closing(self) -> bool:
        return False


class StreamConnection(asyncio.Protocol):
    """One TCP or TLS connection, accepted or opened by us."""

    def __init__(
        self,
        receiver: SipReceiver,
        transport_name: str,
        limits: Limits,
        idle_timeout_s: float,
    ) -> None:
        self._receiver = receiver
        self._name = transport_name
        self._framer = StreamFramer(limits)
        self._idle_timeout_s = idle_timeout_s
        self._transport: asyncio.Transport | None = None
        self._idle: asyncio.TimerHandle | None = None
        self.peer = Peer(transport_name, "", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the connection with the endpoint unless its source is refused."""
        # A cast, not an isinstance check: uvloop's TCPTransport does not subclass asyncio's.
        self._transport = cast(asyncio.Transport, transport)
        addr = transport.get_extra_info("peername")
        self.peer = Peer(self._name, str(addr[0]), int(addr[1]))
        if not self._receiver.allow_source(self.peer):
            self._transport.abort()
            return
        self._receiver.connection_made(self.peer, self)
        self._touch()

    def data_received(self, data: bytes) -> None:
        """Frame and deliver every complete message."""
        self._touch()
        pings = self._framer.pings
        for item in self._framer.feed(data):
            self._receiver.stream_message(item, self.peer, self)
        if self._framer.pings > pings:
            self.send(b"\r\n" * (self._framer.pings - pings))  # RFC 5626 §3.5.1 pong
        if self._framer.broken and self._transport is not None:
            log.info(
                "closing %s connection from %s:%d: broken framing",
                self._name,
                self.peer.host,
                self.peer.port,
            )
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the endpoint the peer is gone."""
        if self._idle is not None:
            self._idle.cancel()
        self._receiver.connection_lost(self.peer, self)

    def send(self, data: bytes) -> None:
        """Queue bytes on the stream."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
            self._touch()

    def close(self) -> None:
        """Close after flushing."""
        if self._transport is not None:
            self._transport.close()

    @property
    def is_closing(self) -> bool:
        """True once closed or closing."""
        return self._transport is None or self._transport.is_closing()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._idle_timeout_s, self._on_idle)

    def _on_idle(self) -> None:
        log.info(
            "closing idle %s connection from %s:%d", self._name, self.peer.host, self.peer.port
        )
        self.close()


def make_server_ssl_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A TLS server context with modern defaults (TLS 1.2+)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    return ctx
