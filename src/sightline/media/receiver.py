"""RTP receivers: UDP, TCP passive (we listen) and TCP active (we connect), RFC 4571 framed.

Each receiver owns one port booked from an ``RtpPortAllocator`` and feeds a sans-IO
``RtpPipeline`` (parse → SSRC check → ``JitterBuffer`` → ``PsDemuxer``); the access units
come out of ``frames()``, an async iterator that ends when the receiver is closed or the TCP
connection drops, or, after ``attach(deliver)``, are pushed to ``deliver`` as they are
finished (no task switch per frame; the hub's push upstream), and optionally through an
``on_frame`` callback. The asyncio parts only move bytes and arm the jitter buffer's timer.

UDP receivers also bind the RTCP port (RTP port + 1, when the allocator hands out pairs),
take the sender's SRs there and send a receiver report every ``rtcp_interval_s`` to where the
sender's RTCP comes from (symmetric RTCP, RFC 4961) or, before any has come, to the RTP
source's port + 1 when that source port is even (RFC 3550 §11's pair). A sender whose RTP
comes from an odd port and that sends no RTCP gets no report: its port + 1 can be anyone's (a
simulator's ephemeral port once made it serve's own SIP port). Over TCP, RTCP only arrives
interleaved and no RR is sent: GB devices rarely read it.

UDP RTP is read with ``loop.add_reader`` in bursts of up to ``_BURST`` datagrams per wake-up
rather than through a ``DatagramProtocol``, which costs a callback and an address tuple per
datagram: at 500 cameras that is ~100,000 datagrams a second. When the optional C extension
is built (``_fastrtp``), a burst is one ``recvmmsg`` call; otherwise one ``sock.recv`` each.
With it, ``rtp_burst`` also takes the burst's common case (plain in-order datagrams of the
stream's SSRC) through the C fast lane in the same call (``RtpPipeline.lane``/``take_run``).

No isinstance checks on transports: uvloop's transports do not subclass asyncio's.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Callable, Iterator
from logging import getLogger
from typing import cast

from sightline.media.pipeline import Lane, Run
from sightline.media.ports import RtpPortAllocator
from sightline.media.receiver_base import FrameCallback, ReceiverOptions, RtpReceiver
from sightline.media.rtcp import ReceiverReport
from sightline.media.rtp import Rfc4571Deframer

__all__ = [
    "ReceiverOptions",
    "RtpReceiver",
    "TcpActiveRtpReceiver",
    "TcpPassiveRtpReceiver",
    "UdpRtpReceiver",
]

log = getLogger(__name__)

# The C burst reader (one recvmmsg per burst) UDP receivers use when setup.py could build
# it; None means the pure-Python loop of one ``sock.recv`` per datagram.
recv_burst: Callable[[int, int], list[bytes]] | None = None
with contextlib.suppress(ImportError):
    from sightline.media._fastrtp import recv_burst
# The same read plus the C fast lane of the pipeline (see RtpPipeline.lane); None: not built
# or the pure-Python reference asked for.
rtp_burst: Callable[[int, int, Lane], Run | None] | None = None
with contextlib.suppress(ImportError):
    from sightline.media._fastrtp import rtp_burst

UDP_BUFFER_BYTES = 4 << 20
_MAX_DATAGRAM = 65536
_BURST = 64  # datagrams read per wake-up at most, so one busy stream cannot starve the rest


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str | int, ...]], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP/RTCP socket error: %s", exc)


def _udp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # A 2 Mbps stream sends a 100 KB key frame in one burst; the default ~200 KB buffer
        # overflows when the loop pauses. The kernel caps this at net.core.rmem_max.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_BUFFER_BYTES)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class UdpRtpReceiver(RtpReceiver):
    """RTP over UDP on a booked port (plus RTCP on port + 1 when the allocator pairs ports)."""

    transport_name = "UDP"

    def __init__(
        self,
        allocator: RtpPortAllocator,
        options: ReceiverOptions | None = None,
        *,
        on_frame: FrameCallback | None = None,
    ) -> None:
        super().__init__(allocator, options, on_frame=on_frame)
        self.rtcp_interval_s = self.options.rtcp_interval_s
        self.source: tuple[str, int] | None = None
        self.rtcp_peer: tuple[str, int] | None = None  # where the sender's RTCP comes from
        self._rtp_sock: socket.socket | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        self._report_ssrc = secrets.randbits(32)
        self._report_task: asyncio.Task[None] | None = None

    async def start(self) -> UdpRtpReceiver:
        """Bind the port(s) and start receiving; returns self."""
        self.port, socks = self.allocator.open(self._bind)
        try:
            self._rtp_sock = socks[0]
            self._loop.add_reader(socks[0].fileno(), self._readable)
            if len(socks) > 1:
                rtcp, _ = await self._loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(self._on_rtcp), sock=socks[1]
                )
                self._rtcp = rtcp
                if self.rtcp_interval_s > 0:
                    self._report_task = asyncio.create_task(self._report_loop())
        except BaseException:
            await self.close()  # stops reading and closes the RTP socket
            for sock in socks:
                sock.close()
            raise
        return self

    def _bind(self, port: int) -> list[socket.socket]:
        socks = [_udp_socket(self.host, port)]
        if self.allocator.step == 2:
            try:
                socks.append(_udp_socket(self.host, port + 1))
            except OSError:
                socks[0].close()
                raise
        return socks

    def _readable(self) -> None:
        # Drain a burst per wake-up (a key frame is dozens of datagrams): one callback and
        # no address tuple per datagram, unlike a DatagramProtocol.
        sock = self._rtp_sock
        if sock is None:
            return
        if self.source is None or recv_burst is None:
            self._packets(self._burst(sock))
            return
        if self._ended:
            return
        now = self._loop.time()
        burst = rtp_burst
        lane = None if burst is None else self.pipeline.lane(now)
        try:
            if burst is None or lane is None:
                datagrams = recv_burst(sock.fileno(), _BURST)
                run = None
            else:
                datagrams = []
                run = burst(sock.fileno(), _BURST, lane)
        except OSError as exc:
            log.debug("RTP socket error on port %d: %s", self.port, exc)
            return
        if run is not None:
            self._took(self.pipeline.take_run(run, now))
        elif datagrams:
            self._took(self.pipeline.packets(datagrams, now))

    def _burst(self, sock: socket.socket) -> Iterator[bytes]:
        try:
            if self.source is None:
                data, addr = sock.recvfrom(_MAX_DATAGRAM)
                self.source = (str(addr[0]), int(addr[1]))
                yield data
            recv = sock.recv
            for _ in range(_BURST):
                yield recv(_MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("RTP socket error on port %d: %s", self.port, exc)

    def _on_rtcp(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        source = self.source
        if source is not None and str(addr[0]) == source[0]:
            self.rtcp_peer = (source[0], int(addr[1]))  # only the RTP sender's host
        self.pipeline.rtcp(data, self._loop.time())

    def report_address(self) -> tuple[str, int] | None:
        """Where a receiver report goes now (see the module doc); None: nowhere."""
        if self.rtcp_peer is not None:
            return self.rtcp_peer
        source = self.source
        if source is None or source[1] % 2:
            return None
        return (source[0], source[1] + 1)

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rtcp_interval_s)
            report = self.pipeline.report_block(self._loop.time())
            address = self.report_address()
            if report is None or address is None or self._rtcp is None:
                continue
            packet = bytes(ReceiverReport(self._report_ssrc, (report,)))
            try:
                self._rtcp.sendto(packet, address)
            except OSError as exc:
                log.debug("RTCP RR to %s failed: %s", address, exc)

    def _close_transports(self) -> None:
        if self._report_task is not None:
            self._report_task.cancel()
        if self._rtp_sock is not None:
            self._loop.remove_reader(self._rtp_sock.fileno())
            self._rtp_sock.close()
            self._rtp_sock = None
        if self._rtcp is not None:
            self._rtcp.close()


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, receiver: _TcpRtpReceiver) -> None:
        self._receiver = receiver
        self._deframer = Rfc4571Deframer()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._receiver._connected(cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        self._receiver._packets(self._deframer.feed(data))

    def connection_lost(self, exc: Exception | None) -> None:
        self._receiver._disconnected(exc, self._deframer.discarded_bytes)


class _TcpRtpReceiver(RtpReceiver):
    _reorder = False  # TCP delivers in order: no reorder delay at start

    def __init__(
        self,
        allocator: RtpPortAllocator,
        options: ReceiverOptions | None = None,
        *,
        on_frame: FrameCallback | None = None,
    ) -> None:
        super().__init__(allocator, options, on_frame=on_frame)
        self.peer: tuple[str, int] | None = None
        self._conn: asyncio.Transport | None = None
        self._connected_event = asyncio.Event()

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until the media connection is up; TimeoutError after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            await self._connected_event.wait()

    def _connected(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        if self._conn is not None or self._closed:
            log.warning("port %d: extra TCP media connection from %s refused", self.port, peer)
            transport.close()
            return
        self._conn = transport
        self.peer = (str(peer[0]), int(peer[1])) if peer else None
        self._connected_event.set()
        log.debug("port %d: TCP media connection from %s", self.port, self.peer)

    def _disconnected(self, exc: Exception | None, discarded: int) -> None:
        log.info(
            "port %d: TCP media connection from %s closed (%s); %d bytes discarded by resync",
            self.port,
            self.peer,
            exc or "by peer",
            discarded,
        )
        self._end()

    def _close_transports(self) -> None:
        if self._conn is not None:
            self._conn.close()


def _tcp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT of a reuse
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class TcpPassiveRtpReceiver(_TcpRtpReceiver):
    """We listen on the booked port (SDP ``a=setup:passive``); the device connects, once."""

    transport_name = "TCP-passive"
    _server: asyncio.AbstractServer | None = None

    async def start(self) -> TcpPassiveRtpReceiver:
        """Listen; the connection is accepted in the background (see ``wait_connected``)."""
        self.port, sock = self.allocator.open(self._listen)
        try:
            self._server = await self._loop.create_server(lambda: _TcpProtocol(self), sock=sock)
        except BaseException:
            sock.close()
            await self.close()
            raise
        return self

    def _listen(self, port: int) -> socket.socket:
        sock = _tcp_socket(self.host, port)
        try:
            sock.listen(1)
        except OSError:
            sock.close()
            raise
        return sock

    def _connected(self, transport: asyncio.Transport) -> None:
        super()._connected(transport)
        if self._server is not None:
            self._server.close()  # exactly one connection; the port stays booked until close()

    def _close_transports(self) -> None:
        if self._server is not None:
            self._server.close()
        super()._close_transports()


class TcpActiveRtpReceiver(_TcpRtpReceiver):
    """We connect from the booked port to the device's address (SDP ``a=setup:active``)."""

    transport_name = "TCP-active"

    async def start(
        self, remote_host: str, remote_port: int, *, timeout_s: float = 5.0
    ) -> TcpActiveRtpReceiver:
        """Connect, retrying refusals (a device may listen only after our ACK) until timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                sock = await self._connect(remote_host, remote_port)
            try:
                await self._loop.create_connection(lambda: _TcpProtocol(self), sock=sock)
            except BaseException:
                sock.close()
                raise
        except BaseException:
            await self.close()
            raise
        return self

    async def _connect(self, remote_host: str, remote_port: int) -> socket.socket:
        while True:
            self.port, sock = self.allocator.open(lambda p: _tcp_socket(self.host, p))
            try:
                await self._loop.sock_connect(sock, (remote_host, remote_port))
                return sock
            except BaseException as exc:
                sock.close()
                self.allocator.release(self.port)
                self.port = 0
                if not isinstance(exc, ConnectionRefusedError):
                    raise
            await asyncio.sleep(0.1)
