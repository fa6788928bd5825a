"""The platform's side of a live-video call, for simulator tests: INVITE, ACK, BYE, RTP receive.

Built from the real pieces (``build_play_offer``, :class:`SipEndpoint`, ``Dialog``,
``Rfc4571Deframer``, :class:`PsDemuxer`) and PyAV for decoding, on loopback only.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from dataclasses import dataclass, field

import av
import numpy as np
import numpy.typing as npt

from sightline.gb28181.invite import MediaAnswer, MediaTransport, build_play_offer, parse_answer
from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.rtp import Rfc4571Deframer, RtpPacket, parse_rtp
from sightline.sip.dialog import Dialog
from sightline.sip.fields import Via
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response
from sightline.sip.parser import serialize
from tests.sim.platform import REALM, SERVER_ID, LoopbackPlatform

LOOPBACK = "127.0.0.1"


@dataclass
class Arrival:
    """One RTP packet and when it came (monotonic and wall-clock seconds)."""

    at: float
    wall: float
    packet: RtpPacket


@dataclass
class RtpSink:
    """Collects RTP packets from UDP or an RFC 4571 TCP stream."""

    arrivals: list[Arrival] = field(default_factory=list)
    deframer: Rfc4571Deframer = field(default_factory=Rfc4571Deframer)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, data: bytes) -> None:
        self.arrivals.append(Arrival(time.monotonic(), time.time(), parse_rtp(data)))
        self.got.set()

    def feed_stream(self, data: bytes) -> None:
        for packet in self.deframer.feed(data):
            self.add(packet)

    async def wait_packets(self, count: int, timeout_s: float = 5.0) -> None:
        """Wait until ``count`` packets have arrived."""
        async with asyncio.timeout(timeout_s):
            while len(self.arrivals) < count:
                self.got.clear()
                await self.got.wait()

    def access_units(self) -> list[AccessUnit]:
        """Demux every payload received so far, in sequence order."""
        demuxer = PsDemuxer()
        units: list[AccessUnit] = []
        for arrival in self.arrivals:
            units += demuxer.feed(arrival.packet.payload, end_of_frame=arrival.packet.marker)
        return units + demuxer.flush()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, sink: RtpSink) -> None:
        self.sink = sink

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.sink.add(data)


class _Tcp(asyncio.Protocol):
    def __init__(self, sink: RtpSink) -> None:
        self.sink = sink
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.sink.feed_stream(data)


@dataclass
class MediaReceiver:
    """A receive port of the platform in one of the three modes."""

    mode: MediaTransport
    sink: RtpSink = field(default_factory=RtpSink)
    port: int = 0
    _closers: list[asyncio.BaseTransport | asyncio.Server] = field(default_factory=list)

    async def start(self) -> int:
        """Open the receive side (nothing to open for TCP active until the answer)."""
        loop = asyncio.get_running_loop()
        if self.mode is MediaTransport.UDP:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self.sink), local_addr=(LOOPBACK, 0)
            )
            self._closers.append(transport)
            self.port = transport.get_extra_info("sockname")[1]
        elif self.mode is MediaTransport.TCP_PASSIVE:
            server = await loop.create_server(lambda: _Tcp(self.sink), LOOPBACK, 0)
            self._closers.append(server)
            self.port = server.sockets[0].getsockname()[1]
        else:
            self.port = free_port()  # what we offer; the device's answer says where to go
        return self.port

    async def connect(self, answer: MediaAnswer) -> None:
        """TCP active: connect to the device's answered address."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(lambda: _Tcp(self.sink), answer.ip, answer.port)
        self._closers.append(transport)

    def close(self) -> None:
        for closer in self._closers:
            closer.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveCall:
    """An INVITE the test platform made, and its answer."""

    invite: Request
    response: Response
    receiver: MediaReceiver
    ssrc: str

    @property
    def answer(self) -> MediaAnswer:
        return parse_answer(self.response.body)


def invite_request(channel_id: str, body: bytes, subject: str) -> Request:
    """An INVITE from the platform to a channel (no Via: the endpoint adds it)."""
    headers = Headers(
        [
            ("From", f"<sip:{SERVER_ID}@{REALM}>;tag={secrets.token_hex(4)}"),
            ("To", f"<sip:{channel_id}@{REALM}>"),
            ("Call-ID", secrets.token_hex(8)),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:{SERVER_ID}@{LOOPBACK}>"),
            ("Subject", subject),
            ("Content-Type", "application/sdp"),
        ]
    )
    return Request("INVITE", f"sip:{channel_id}@{REALM}", headers, body)


async def invite(
    platform: LoopbackPlatform,
    device_id: str,
    channel_id: str,
    mode: MediaTransport = MediaTransport.UDP,
    ssrc: str = "0200000001",
) -> LiveCall:
    """INVITE ``channel_id`` (through ``device_id``'s registration) with a fresh receiver."""
    receiver = MediaReceiver(mode)
    port = await receiver.start()
    offer = build_play_offer(
        platform_id=SERVER_ID,
        channel_id=channel_id,
        ssrc=ssrc,
        media_ip=LOOPBACK,
        media_port=port,
        transport=mode,
    )
    request = invite_request(channel_id, offer.body, offer.subject)
    peer = platform.registrar.bindings[device_id].peer
    response = await platform.endpoint.request(request, peer, timeout_s=5)
    call = LiveCall(request, response, receiver, ssrc)
    if response.status == 200:
        if peer.transport == "UDP":
            send_ack(platform, call, peer.host, peer.port)
        if mode is MediaTransport.TCP_ACTIVE:
            await receiver.connect(call.answer)
    return call


def send_ack(platform: LoopbackPlatform, call: LiveCall, host: str, port: int) -> None:
    """ACK the 2xx from a plain socket (the endpoint sends only transactional requests)."""
    local = platform.udp
    dialog = Dialog.from_uac(call.invite, call.response)
    ack = dialog.create_ack(
        call.response, via=Via("UDP", local.host, local.port, (("rport", None),))
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(serialize(ack), (host, port))


async def bye(platform: LoopbackPlatform, device_id: str, call: LiveCall) -> Response:
    """End the call with an in-dialog BYE."""
    dialog = Dialog.from_uac(call.invite, call.response)
    request = dialog.create_request("BYE", via=Via("UDP", "0.0.0.0"))
    request.headers.remove("Via")
    peer = platform.registrar.bindings[device_id].peer
    return await platform.endpoint.request(request, peer, timeout_s=5)


Luma = npt.NDArray[np.uint8]


def decode(units: list[AccessUnit]) -> list[Luma]:
    """Decode access units with PyAV; the luma planes of the pictures."""
    video = [u for u in units if u.codec in (Codec.H264, Codec.H265)]
    if not video:
        return []
    ctx = av.CodecContext.create("h264" if video[0].codec is Codec.H264 else "hevc", "r")
    out: list[Luma] = []
    for unit in video:
        out += [_luma(f) for f in ctx.decode(av.Packet(unit.data))]
    out += [_luma(f) for f in ctx.decode(None)]
    return out


def _luma(frame: av.VideoFrame) -> Luma:
    return np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
