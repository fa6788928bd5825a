"""A test camera for live-view tests: answers INVITE with SDP and sends real video as PS/RTP.

It wraps :class:`~tests.gb28181.device_peer.DevicePeer` (registration, MESSAGE answers) and adds
what a camera does for live view: it reads the offer, answers 200 with an SDP answer (or an
error status), streams a PyAV-encoded test pattern muxed as PS over RTP to the offered
address (UDP, or TCP in the role the offer leaves it), stops on BYE and can send BYE itself.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sightline.gb28181.sdp import (
    Attribute,
    Connection,
    Media,
    Origin,
    SessionDescription,
    Timing,
    parse,
)
from sightline.gb28181.ssrc import ssrc_to_int
from sightline.media.ps_format import Codec
from sightline.media.ps_mux import PsMuxer
from sightline.media.rtp import RtpPacketiser, frame_rfc4571
from sightline.sip.dialog import Dialog
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.fields import Via
from sightline.sip.message import Request, Response, build_response
from sightline.sip.transport import Connection as SipConnection
from sightline.sip.transport import Peer
from tests.gb28181.device_peer import FAST, DevicePeer
from tests.media.video import EncodedFrame, encode_pattern

HOST = "127.0.0.1"
CLIP_FRAMES = 50
FRAME_90K = 3600


class AckRecordingEndpoint(SipEndpoint):
    """A SipEndpoint that keeps the ACKs it receives (the plain endpoint drops 2xx ACKs)."""

    def __init__(self) -> None:
        super().__init__(timers=FAST)
        self.acks: list[Request] = []
        self.got_ack = asyncio.Event()

    def _dispatch(self, message: Request | Response, peer: Peer, conn: SipConnection) -> None:
        if isinstance(message, Request) and message.method == "ACK":
            self.acks.append(message)
            self.got_ack.set()
        super()._dispatch(message, peer, conn)


def clip() -> tuple[EncodedFrame, ...]:
    """Two seconds of 320x240 H.264 at 25 fps, a key frame each second."""
    return encode_pattern("libx264", CLIP_FRAMES)


@dataclass
class MediaDevice:
    """The camera behaviour; ``status`` != 200 refuses every INVITE with it."""

    peer: DevicePeer
    status: int = 200
    answer_ssrc: str | None = None  # None: answer the offered y=
    rtp_ssrc: int | None = None  # None: send with the answered SSRC
    send_media: bool = True
    bye_after_frames: int | None = None
    interval_s: float = 0.004
    answer_delay_s: float = 0.0
    invites: list[Request] = field(default_factory=list)
    byes: list[Request] = field(default_factory=list)
    frames_sent: int = 0
    _dialogs: list[Dialog] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    bye_received: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def endpoint(self) -> SipEndpoint:
        """The device's SIP endpoint."""
        return self.peer.endpoint

    @property
    def acks(self) -> list[Request]:
        """ACKs received."""
        endpoint = self.peer.endpoint
        return endpoint.acks if isinstance(endpoint, AckRecordingEndpoint) else []

    async def start(self) -> None:
        """Listen, take INVITE and BYE, register."""
        self.endpoint.on("INVITE", self._on_invite)
        self.endpoint.on("BYE", self._on_bye)
        await self.peer.start()
        response = await self.peer.register()
        assert response.status == 200, response

    async def close(self) -> None:
        """Stop sending and listening."""
        self._stop.set()
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.peer.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- INVITE ----------------------------------------------------------------------------

    async def _on_invite(self, incoming: IncomingRequest) -> Response:
        request = incoming.request
        self.invites.append(request)
        await asyncio.sleep(self.answer_delay_s)
        tag = secrets.token_hex(4)
        if self.status != 200:
            return build_response(request, self.status, to_tag=tag)
        offer = parse(request.body)
        media = offer.media[0]
        assert offer.connection is not None and offer.ssrc is not None
        target = (offer.connection.address, media.port)
        ssrc = self.answer_ssrc or offer.ssrc
        setup = media.attribute("setup")
        port = 15060  # UDP: a port we would send from; not used by the platform
        if setup == "active":  # the platform connects: we listen
            server = await asyncio.start_server(self._accepted(ssrc), HOST, 0)
            self._servers.append(server)
            port = int(server.sockets[0].getsockname()[1])
        answer = self._answer(media.proto, port, ssrc, setup)
        response = build_response(
            request,
            200,
            to_tag=tag,
            headers=[
                ("Contact", f"<sip:{self.peer.device_id}@{HOST}:5060>"),
                ("Content-Type", "application/sdp"),
            ],
        )
        response.body = bytes(answer)
        self._dialogs.append(Dialog.from_uas(request, response))
        if setup is None:
            self._spawn(self._send_udp(target, ssrc))
        elif setup == "passive":  # the platform listens: we connect
            self._spawn(self._send_tcp(target, ssrc))
        return response

    def _answer(self, proto: str, port: int, ssrc: str, setup: str | None) -> SessionDescription:
        attrs = [Attribute("sendonly"), Attribute("rtpmap", "96 PS/90000")]
        if setup is not None:
            role = "passive" if setup == "active" else "active"
            attrs += [Attribute("setup", role), Attribute("connection", "new")]
        return SessionDescription(
            origin=Origin(self.peer.device_id, "0", "0", HOST),
            session_name="Play",
            connection=Connection(HOST),
            timings=(Timing(0, 0),),
            media=(Media("video", port, proto, ("96",), attributes=tuple(attrs)),),
            ssrc=ssrc,
            media_format="v/2/4///a///",
        )

    def _on_bye(self, incoming: IncomingRequest) -> Response:
        self.byes.append(incoming.request)
        self.bye_received.set()
        self._stop.set()
        return build_response(incoming.request, 200)

    async def send_bye(self) -> Response:
        """End the last call from the device's side."""
        dialog = self._dialogs[-1]
        host, port = self.endpoint.via_for(self.peer.server)
        bye = dialog.create_request("BYE", via=Via("UDP", host, port))
        bye.headers.remove("Via")
        self._stop.set()
        return await self.endpoint.request(bye, self.peer.server, 5)

    # -- media -----------------------------------------------------------------------------

    def _packets(self, ssrc: str) -> list[list[bytes]]:
        """RTP datagrams per frame, for one pass over the clip (continued by ``_loop``)."""
        packetiser = RtpPacketiser(
            ssrc=self.rtp_ssrc if self.rtp_ssrc is not None else ssrc_to_int(ssrc)
        )
        muxer = PsMuxer(Codec.H264)
        frames = clip()
        out = []
        for loop in range(4):  # 8 s of video at most; tests need far less
            shift = loop * CLIP_FRAMES * FRAME_90K
            for f in frames:
                pack = muxer.mux_frame(
                    f.data, f.pts_90k + shift, dts_90k=f.dts_90k + shift, keyframe=f.keyframe
                )
                out.append([bytes(p) for p in packetiser.packetise(pack, f.pts_90k + shift)])
        return out

    async def _frames(self, ssrc: str) -> list[list[bytes]]:
        await asyncio.sleep(0.02)  # after the 200 (and its ACK), as cameras do
        return self._packets(ssrc) if self.send_media else []

    async def _paced(self, frames: list[list[bytes]], send: Callable[[bytes], object]) -> None:
        for datagrams in frames:
            if self._stop.is_set():
                return
            for d in datagrams:
                send(d)
            self.frames_sent += 1
            if self.bye_after_frames is not None and self.frames_sent >= self.bye_after_frames:
                await self.send_bye()
                return
            await asyncio.sleep(self.interval_s)

    async def _send_udp(self, target: tuple[str, int], ssrc: str) -> None:
        frames = await self._frames(ssrc)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            await self._paced(frames, lambda d: sock.sendto(d, target))
        finally:
            sock.close()

    async def _send_tcp(self, target: tuple[str, int], ssrc: str) -> None:
        frames = await self._frames(ssrc)
        _, writer = await asyncio.open_connection(*target)
        await self._stream(writer, frames)

    def _accepted(
        self, ssrc: str
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def on_connection(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._stream(writer, await self._frames(ssrc))

        return on_connection

    async def _stream(self, writer: asyncio.StreamWriter, frames: list[list[bytes]]) -> None:
        try:
            await self._paced(frames, lambda d: writer.write(frame_rfc4571(d)))
            await self._stop.wait()
        finally:
            writer.close()
