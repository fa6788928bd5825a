"""One call's media: PS over RTP from a simulated channel to the platform, over UDP or TCP.

A :class:`MediaSession` is made when the INVITE arrives: :meth:`~MediaSession.prepare` binds
the socket (or starts the listener) whose port goes into the answer. After the 200 it is
started: it connects (TCP as client, retrying as GB 2022 asks: at least 3 times, 1 s apart),
waits for the platform's connection (TCP as server) or just sends (UDP), then muxes every
access unit of the channel's live feed into one PS pack (system header and PSM on key frames)
and RTP packets of payload type 96, with timestamps on a 90 kHz clock that starts at a random
value, as RFC 3550 asks. A channel with audio adds its 40 ms G.711 frames (``.audio``) to
the video frame's pack, stamped on the same clock, as GB cameras do. It starts on a key frame,
and on TCP it drops frames up to the next key frame when the platform does not read fast
enough, rather than buffering without bound.

Per frame and stream the cost is kept small, since one simulator runs hundreds of streams:
a frame is muxed once into a :class:`~sightline.media.ps_mux.FrameTemplate` shared by every
stream that sends it (the loop's frames are the same bytes for all), each stream writes its
own SCR/PTS into a copy, and over UDP the optional C extension ``_fastsend`` cuts the pack
into RTP packets and sends them with one ``sendmmsg`` (a full socket buffer drops the rest of
the frame). Without the extension :class:`~sightline.media.rtp.RtpPacketiser` and one
``sendto`` per packet do the same; that path is the reference in the tests.

The session ends on :meth:`~MediaSession.stop` (BYE, shutdown) or when the socket fails, and
reports why through ``on_end``. Tests send media to loopback only; a session itself sends to
whatever address the platform's SDP gives, as a camera does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sightline.media.ps_format import Codec
from sightline.media.ps_mux import AudioChunk, FrameTemplate, PsMuxer
from sightline.media.rtp import RtpPacketiser, frame_rfc4571
from sightline.sim.audio import AudioClock
from sightline.sim.invite import MediaOffer, SendMode
from sightline.sim.video import VideoCodec
from sightline.sim.video_feed import EncodedFrame

__all__ = ["EndReason", "FeedAttach", "FrameSink", "MediaSession", "SessionCounters"]

log = logging.getLogger(__name__)

SendRtp = Callable[[int, tuple[str, int], bytearray, int, int, int, int, int], tuple[int, int, int]]
send_rtp: SendRtp | None
try:
    from sightline.sim import _fastsend

    send_rtp = _fastsend.send_rtp
except ImportError:  # no compiler when installed: the pure-Python path sends
    send_rtp = None

FrameSink = Callable[[EncodedFrame], None]
FeedAttach = Callable[[FrameSink], Callable[[], None]]  # subscribe; returns the unsubscribe
_TCP_HIGH_WATER = 1 << 20  # bytes queued for the platform before frames are dropped
_TEMPLATES_HELD = 64 << 20  # frame bytes held as templates (twice that in memory: frame + pack)


class _Templates:
    """Frame templates by (muxer layout, frame bytes); the oldest go first past ``limit`` bytes."""

    def __init__(self, limit: int = _TEMPLATES_HELD) -> None:
        self._limit = limit
        self._size = 0
        self._held: dict[tuple[object, int, bool], tuple[bytes, FrameTemplate]] = {}

    @property
    def size(self) -> int:
        """Frame bytes held."""
        return self._size

    def get(self, muxer: PsMuxer, frame: EncodedFrame) -> FrameTemplate:
        """The template of ``frame`` for ``muxer``'s layout, muxed on first use."""
        key = (muxer.layout, id(frame.data), frame.keyframe)
        held = self._held.get(key)
        if held is not None:
            if held[0] is frame.data:
                return held[1]
            self._size -= len(self._held.pop(key)[0])  # a new bytes object at a reused id
        template = muxer.frame_template(frame.data, keyframe=frame.keyframe)
        while self._held and self._size + len(frame.data) > self._limit:
            self._size -= len(self._held.pop(next(iter(self._held)))[0])
        self._held[key] = (frame.data, template)
        self._size += len(frame.data)
        return template


_templates = _Templates()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class EndReason(StrEnum):
    """Why a session ended."""

    BYE = "bye"
    SOCKET = "socket"  # connect failed, connection lost, or the platform never connected
    REPLACED = "replaced"  # a new INVITE for the same stream (Annex M)
    SHUTDOWN = "shutdown"


@dataclass(slots=True)
class SessionCounters:
    """What a session sent."""

    frames: int = 0
    packets: int = 0
    bytes: int = 0
    dropped_frames: int = 0
    dropped_packets: int = 0  # UDP: the socket buffer was full (rest of the frame dropped)


class _Stream(asyncio.Protocol):
    """A TCP media connection: reports its start and end, ignores what the platform sends."""

    def __init__(
        self,
        lost: Callable[[], None],
        made: Callable[[asyncio.WriteTransport], bool] | None = None,
    ) -> None:
        self._lost = lost
        self._made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        if self._made is not None and not self._made(transport):
            self._lost = lambda: None
            transport.close()  # a second connection to a one-connection session

    def data_received(self, data: bytes) -> None:
        pass  # RTCP receiver reports, if any: the simulator does not adapt to them

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()


class MediaSession:
    """PS/RTP sender for one INVITE (see the module docstring)."""

    def __init__(
        self,
        *,
        call_id: str,
        channel_id: str,
        offer: MediaOffer,
        local_ip: str,
        rtp_ssrc: int,
        codec: VideoCodec,
        attach: FeedAttach,
        on_end: Callable[[MediaSession, EndReason], None],
        connect_attempts: int = 3,
        connect_retry_s: float = 1.0,
        accept_timeout_s: float = 10.0,
        audio: Codec | None = None,
    ) -> None:
        self.call_id = call_id
        self.channel_id = channel_id
        self.offer = offer
        self.local_ip = local_ip
        self.rtp_ssrc = rtp_ssrc
        self.counters = SessionCounters()
        self.ended: EndReason | None = None
        self._attach = attach
        self._on_end = on_end
        self._attempts = max(1, connect_attempts)
        self._retry_s = connect_retry_s
        self._accept_timeout_s = accept_timeout_s
        self._muxer = PsMuxer(codec.ps_codec, audio)
        self._audio = None if audio is None else AudioClock(audio)
        self._rtp = RtpPacketiser(rtp_ssrc, offer.payload_type, random.randrange(1 << 16))
        self._ts_base = random.randrange(1 << 31)
        self._first_pts: int | None = None
        self._want_key = True
        self._sock: socket.socket | None = None
        self._server: asyncio.Server | None = None
        self._accepted: asyncio.Future[asyncio.WriteTransport] | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_fd = -1  # the UDP socket, for the C send path
        self._tcp: asyncio.WriteTransport | None = None
        self._detach: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.local_port = 0

    def __repr__(self) -> str:
        return f"<MediaSession {self.channel_id} ssrc={self.rtp_ssrc} {self.offer.mode.value}>"

    @property
    def target(self) -> tuple[str, int]:
        """Where the media goes (or, over TCP as server, whom we wait for)."""
        return self.offer.ip, self.offer.port

    @property
    def sending(self) -> bool:
        """True once frames are flowing."""
        return self._detach is not None

    # -- setting up ------------------------------------------------------------------------

    async def prepare(self) -> int:
        """Bind the local socket or start the listener; the port for the answer."""
        family = socket.AF_INET6 if ":" in self.local_ip else socket.AF_INET
        if self.offer.mode is SendMode.TCP_LISTEN:
            loop = asyncio.get_running_loop()
            self._accepted = loop.create_future()
            self._server = await loop.create_server(self._accept, self.local_ip, 0)
            self.local_port = int(self._server.sockets[0].getsockname()[1])
            return self.local_port
        kind = socket.SOCK_DGRAM if self.offer.mode is SendMode.UDP else socket.SOCK_STREAM
        self._sock = self._bound_socket(family, kind, 0)
        self.local_port = int(self._sock.getsockname()[1])
        return self.local_port

    def _bound_socket(self, family: int, kind: int, port: int) -> socket.socket:
        sock = socket.socket(family, kind)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind((self.local_ip, port))
        except OSError:
            sock.close()
            raise
        return sock

    def _accept(self) -> _Stream:
        return _Stream(self._connection_lost, self._accepted_one)

    def _accepted_one(self, transport: asyncio.WriteTransport) -> bool:
        if self._accepted is None or self._accepted.done():
            return False
        self._accepted.set_result(transport)
        return True

    def start(self) -> None:
        """Open the media path and start sending (call after the 200 went out)."""
        if self._task is None and self.ended is None:
            self._task = asyncio.ensure_future(self._open())

    async def _open(self) -> None:
        try:
            if self.offer.mode is SendMode.UDP:
                await self._open_udp()
            elif self.offer.mode is SendMode.TCP_CONNECT:
                await self._connect()
            else:
                await self._wait_accept()
        except (OSError, TimeoutError) as exc:
            log.info(
                "channel %s ssrc %d: no media path to %s:%d: %s",
                self.channel_id,
                self.rtp_ssrc,
                *self.target,
                exc,
            )
            self._finish(EndReason.SOCKET)
            return
        self._detach = self._attach(self._on_frame)
        log.info(
            "channel %s ssrc %d: sending PS over %s to %s:%d",
            self.channel_id,
            self.rtp_ssrc,
            self.offer.mode.value,
            *self.target,
        )

    async def _open_udp(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        sock, self._sock = self._sock, None
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock)
        self._udp = transport
        if send_rtp is not None and _is_ip(self.offer.ip):
            self._udp_fd = sock.fileno()

    async def _connect(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        family = self._sock.family
        for attempt in range(1, self._attempts + 1):
            try:
                await loop.sock_connect(self._sock, self.target)
                break
            except OSError as exc:
                self._sock.close()
                self._sock = None
                if attempt == self._attempts:
                    raise
                log.debug(
                    "channel %s: connect attempt %d failed: %s", self.channel_id, attempt, exc
                )
                await asyncio.sleep(self._retry_s)
                self._sock = self._bound_socket(family, socket.SOCK_STREAM, self.local_port)
        sock, self._sock = self._sock, None
        assert sock is not None
        transport, _ = await loop.create_connection(
            lambda: _Stream(self._connection_lost), sock=sock
        )
        assert isinstance(transport, asyncio.WriteTransport)
        self._tcp = transport

    async def _wait_accept(self) -> None:
        assert self._accepted is not None and self._server is not None
        async with asyncio.timeout(self._accept_timeout_s):
            transport = await self._accepted
        self._server.close()  # one connection per session (a=connection:new)
        self._server = None
        self._tcp = transport

    # -- sending ---------------------------------------------------------------------------

    def _on_frame(self, frame: EncodedFrame) -> None:
        if self._want_key and not frame.keyframe:
            return
        tcp = self._tcp
        if tcp is not None and tcp.get_write_buffer_size() > _TCP_HIGH_WATER:
            self.counters.dropped_frames += 1
            self._want_key = True
            return
        self._want_key = False
        if self._first_pts is None:
            self._first_pts = frame.pts_90k
        offset = frame.pts_90k - self._first_pts
        stamp = (self._ts_base + offset) & 0xFFFFFFFF
        pack = _templates.get(self._muxer, frame).stamp(stamp)
        if self._audio is not None:
            for chunk in self._audio.chunks_until(offset):
                pts = (self._ts_base + chunk.pts_90k) & 0xFFFFFFFF
                pack += self._muxer.audio_pes(AudioChunk(chunk.data, pts))
        counters = self.counters
        counters.frames += 1
        if self._udp_fd >= 0:
            self._send_fast(pack, stamp)
            return
        packets = [bytes(p) for p in self._rtp.packetise(bytes(pack), stamp)]
        counters.packets += len(packets)
        counters.bytes += sum(len(p) for p in packets)
        if tcp is not None:
            tcp.write(b"".join(frame_rfc4571(p) for p in packets))
        elif self._udp is not None:
            for packet in packets:
                self._udp.sendto(packet, self.target)

    def _send_fast(self, pack: bytearray, stamp: int) -> None:
        assert send_rtp is not None
        rtp = self._rtp
        max_payload = rtp.max_payload
        count = max(1, -(-len(pack) // max_payload))
        try:
            rtp.sequence, sent, nbytes = send_rtp(
                self._udp_fd,
                self.target,
                pack,
                rtp.payload_type,
                rtp.ssrc,
                rtp.sequence,
                stamp,
                max_payload,
            )
        except OSError as exc:  # as the datagram transport does: the call goes on
            log.debug("channel %s ssrc %d: send failed: %s", self.channel_id, self.rtp_ssrc, exc)
            rtp.sequence = (rtp.sequence + count) & 0xFFFF
            sent = nbytes = 0
        counters = self.counters
        counters.packets += sent
        counters.bytes += nbytes
        counters.dropped_packets += count - sent

    # -- ending ----------------------------------------------------------------------------

    def _connection_lost(self) -> None:
        if self.ended is None:
            log.info("channel %s ssrc %d: media connection lost", self.channel_id, self.rtp_ssrc)
            self._finish(EndReason.SOCKET)

    def _finish(self, reason: EndReason) -> None:
        if self.ended is not None:
            return
        self.ended = reason
        self._close()
        self._on_end(self, reason)

    def stop(self, reason: EndReason) -> None:
        """Stop sending and release the sockets."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._finish(reason)

    def _close(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None
        for transport in (self._udp, self._tcp):
            if transport is not None:
                transport.close()
        self._udp = self._tcp = None
        self._udp_fd = -1
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._accepted is not None and not self._accepted.done():
            self._accepted.cancel()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
