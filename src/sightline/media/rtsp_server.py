"""RTSP server for live channels: the asyncio adapter around ``rtsp_session.RtspSession``.

    client ──TCP── _Connection ─ RtspReader → RtspSession (decides) → responses
                        │                          ▲
                        │ authorize(token, channel, address)         injected callables
                        └ open_view(channel, token, address) ─ AccessUnits
                              → H26xPacketiser → $-framed RTP
                              └ G.711 → RtpPacketiser (8 kHz) ┘

``rtsp://host:port/live/{channel_id}?token=...``. The view is opened at DESCRIBE (the SDP
needs the parameter sets of the first key frame) or at SETUP, kept across PLAY/PAUSE, and
closed at TEARDOWN, on timeout or when the connection ends, so the hub's viewer count drops
at once. Opening reads on from the first key frame until a G.711 unit shows the channel has
audio, or ``AUDIO_PROBE_90K`` of video shows it has none; with audio, the SDP has a PCMA/PCMU
track and its units go out as they came (one RTP packet each, on an 8 kHz clock). A stream
that fails ends the connection: RTSP 1.0 has no way to tell a playing client why.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from logging import getLogger

from sightline.media.errors import MediaError
from sightline.media.fmp4 import AUDIO_PROBE_90K, stream_info_of
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit, StreamInfo
from sightline.media.rtp import RtpPacketiser
from sightline.media.rtp_h26x import H26xPacketiser
from sightline.media.rtsp import (
    REASONS,
    InterleavedFrame,
    Method,
    RtspError,
    RtspParseError,
    RtspReader,
    RtspRequest,
    RtspResponse,
)
from sightline.media.rtsp_session import (
    AUDIO_PAYLOAD_TYPES,
    AUDIO_TRACK,
    RtspSession,
    RtspTarget,
    Step,
    build_sdp,
)

__all__ = ["Authorize", "OpenView", "RtspServer"]

log = getLogger(__name__)

Authorize = Callable[[str, str, str], bool | Awaitable[bool]]
"""``authorize(token, channel_id, client_address)``: may this client watch this channel?"""
OpenView = Callable[[str, str, str], AbstractAsyncContextManager[AsyncIterator[AccessUnit]]]
"""``open_view(channel_id, token, client_address)``: the channel's access units while the block
lasts, for the holder of the token that authorised it (what they see may depend on who they are:
a masked picture for a viewer without the right to see the channel unmasked).

Raise LookupError for an unknown channel (404), MediaError when it cannot be had (503).
"""

_VIDEO = (Codec.H264, Codec.H265)


@dataclass(slots=True)
class _View:
    """One open stream on a connection, and where its RTP numbering stands."""

    channel_id: str
    info: StreamInfo
    units: AsyncIterator[AccessUnit]
    stack: AsyncExitStack
    pending: list[AccessUnit]
    packetiser: H26xPacketiser
    rtp_base: int = field(default_factory=lambda: secrets.randbits(32))
    first_pts: int | None = None
    audio: Codec | None = None  # G.711 seen in the stream
    audio_packetiser: RtpPacketiser | None = None
    audio_base: int = field(default_factory=lambda: secrets.randbits(32))

    def rtp_time(self, unit: AccessUnit) -> int:
        if self.first_pts is None:
            self.first_pts = unit.pts_90k
        return (self.rtp_base + unit.pts_90k - self.first_pts) & 0xFFFFFFFF

    def audio_rtp_time(self, unit: AccessUnit) -> int:
        """The 8 kHz RTP time of a G.711 unit, on the same origin as the video."""
        if self.first_pts is None:
            self.first_pts = unit.pts_90k
        return (self.audio_base + (unit.pts_90k - self.first_pts) * 8000 // 90000) & 0xFFFFFFFF


class RtspServer:
    """Serve every live channel over RTSP 1.0 with RTP interleaved on TCP."""

    def __init__(
        self,
        *,
        authorize: Authorize,
        open_view: OpenView,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_s: float = 60.0,
        first_frame_timeout_s: float = 10.0,
        max_connections: int = 1000,
    ) -> None:
        self.authorize = authorize
        self.open_view = open_view
        self.host, self._port = host, port
        self.timeout_s = timeout_s
        self.first_frame_timeout_s = first_frame_timeout_s
        self.max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port listened on (the one chosen by the system when 0 was asked)."""
        return self._port

    async def start(self) -> None:
        """Listen for connections."""
        self._server = await asyncio.start_server(self._accept, self.host, self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])
        log.info("RTSP server listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        """Stop listening and end every connection (their views close)."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> RtspServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._connections) >= self.max_connections:
            log.warning("RTSP: connection limit %d reached", self.max_connections)
            writer.close()
            return
        self._connections.add(task)
        try:
            await _Connection(self, reader, writer).run()
        except asyncio.CancelledError:
            # The server is closing. Not re-raised: Python 3.11's start_server callback calls
            # task.exception() on the handler and would log the cancellation as an error.
            pass
        finally:
            self._connections.discard(task)


class _Connection:
    """One client: reads requests, asks the session what to do, does the I/O."""

    def __init__(
        self, server: RtspServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader, self.writer = reader, writer
        self.loop = asyncio.get_running_loop()
        peer = writer.get_extra_info("peername")
        self.address = str(peer[0]) if peer else "?"
        self.session = RtspSession(
            secrets.token_hex(8), self.loop.time(), timeout_s=server.timeout_s
        )
        self.parser = RtspReader()
        self.view: _View | None = None
        self.sender: asyncio.Task[None] | None = None
        self.tokens: dict[str, str] = {}  # channel → the token that authorised it here

    async def run(self) -> None:
        """Serve until the client leaves, times out, breaks the protocol or the stream ends."""
        try:
            while (data := await self._read()) is not None:
                try:
                    items = self.parser.feed(data)
                except RtspParseError as exc:
                    log.info("RTSP %s: %s; closing", self.address, exc)
                    self._answer_parse_error(exc)
                    return
                for item in items:
                    if isinstance(item, InterleavedFrame):
                        self.session.touch(self.loop.time())  # RTCP receiver reports
                    else:
                        await self._handle(item)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            await self._close_view()
            self.writer.close()

    async def _read(self) -> bytes | None:
        while True:
            deadline = self.session.next_deadline()
            try:
                async with asyncio.timeout_at(deadline):
                    data = await self.reader.read(65536)
            except TimeoutError:
                if self.session.handle_timeout(self.loop.time()):
                    log.info("RTSP %s: session timed out", self.address)
                    return None
                continue
            return data or None

    def _send(self, response: RtspResponse) -> None:
        if not self.writer.is_closing():
            self.writer.write(bytes(response))

    def _answer_parse_error(self, exc: RtspParseError) -> None:
        headers = () if exc.cseq is None else (("CSeq", str(exc.cseq)),)
        self._send(RtspResponse(exc.status, REASONS[exc.status], headers))

    async def _handle(self, request: RtspRequest) -> None:
        outcome = self.session.receive(request, self.loop.time())
        if isinstance(outcome, RtspResponse):
            self._send(outcome)
            return
        try:
            self._send(await self._complete(request, outcome))
        except LookupError as exc:
            log.info("RTSP %s: no channel %s: %s", self.address, outcome.target.channel_id, exc)
            self._send(self.session.reply(request, 404))
        except (MediaError, TimeoutError) as exc:
            log.warning("RTSP %s: channel %s unavailable: %r", self.address, outcome.target, exc)
            self._send(self.session.reply(request, 503))
        except Exception:
            log.exception("RTSP %s: %s %s failed", self.address, request.method, request.uri)
            self._send(self.session.reply(request, 500))

    async def _complete(self, request: RtspRequest, step: Step) -> RtspResponse:
        target = step.target
        if not step.authorized:
            if not await self._authorized(target):
                log.info("RTSP %s: token refused for %s", self.address, target.channel_id)
                return self.session.reply(request, 401)
            self.session.authorize(target.channel_id)
            self.tokens[target.channel_id] = target.token or ""
        if step.method is Method.DESCRIBE:
            view = await self._open(target.channel_id)
            return self.session.describe(request, target, self._sdp(view))
        if step.method is Method.SETUP:
            view = await self._open(target.channel_id)
            if target.track == AUDIO_TRACK:
                if view.audio_packetiser is None:
                    return self.session.reply(request, 404)  # the stream has no audio
                return self.session.setup(request, target, view.audio_packetiser.ssrc)
            return self.session.setup(request, target, view.packetiser.ssrc)
        if step.method is Method.PLAY:
            return self._play(request, target)
        await self._stop_sender()
        if step.method is Method.PAUSE:
            return self.session.pause(request)
        response = self.session.teardown(request)
        await self._close_view()
        return response

    async def _authorized(self, target: RtspTarget) -> bool:
        verdict = self.server.authorize(target.token or "", target.channel_id, self.address)
        return bool(await verdict) if inspect.isawaitable(verdict) else bool(verdict)

    def _sdp(self, view: _View) -> str:
        sock = self.writer.get_extra_info("sockname")
        address = str(sock[0]) if sock else "0.0.0.0"
        return build_sdp(
            view.info,
            session_id=secrets.randbits(62),
            address=address,
            name=view.channel_id,
            audio=view.audio,
        )

    def _play(self, request: RtspRequest, target: RtspTarget) -> RtspResponse:
        view = self.view
        assert view is not None, "a session in READY has a view"
        first = view.pending[0] if view.pending else None
        rtptime = view.rtp_time(first) if first is not None else None
        audio = None
        if view.audio_packetiser is not None:
            sound = next((u for u in view.pending if u.codec is view.audio), None)
            audio_time = view.audio_rtp_time(sound) if sound is not None else None
            audio = (view.audio_packetiser.sequence, audio_time)
        response = self.session.play(request, target, view.packetiser.sequence, rtptime, audio)
        if self.sender is None:
            # Scheduled now, it runs after this response has been written.
            self.sender = asyncio.create_task(self._stream(view), name=f"rtsp {self.address}")
        return response

    async def _open(self, channel_id: str) -> _View:
        if self.view is not None and self.view.channel_id == channel_id:
            return self.view
        await self._close_view()
        stack = AsyncExitStack()
        try:
            token = self.tokens.get(channel_id, "")
            view_of = self.server.open_view(channel_id, token, self.address)
            units = aiter(await stack.enter_async_context(view_of))
            async with asyncio.timeout(self.server.first_frame_timeout_s):
                first = await _first_key_frame(units)
                pending = await _probe_audio(units, first)
        except BaseException:
            await stack.aclose()
            raise
        info = stream_info_of(first) or StreamInfo(first.stream_id, first.codec)
        packetiser = H26xPacketiser(
            first.codec, secrets.randbits(32), sequence=secrets.randbelow(1 << 16)
        )
        view = _View(channel_id, info, units, stack, pending, packetiser)
        view.audio = next((u.codec for u in pending if u.codec in AUDIO_PAYLOAD_TYPES), None)
        if view.audio is not None:
            view.audio_packetiser = RtpPacketiser(
                secrets.randbits(32),
                AUDIO_PAYLOAD_TYPES[view.audio][0],
                secrets.randbelow(1 << 16),
            )
        self.view = view
        log.info(
            "RTSP %s: viewing %s (%s, audio %s)",
            self.address,
            channel_id,
            first.codec.value,
            view.audio.value if view.audio else "none",
        )
        return view

    async def _stream(self, view: _View) -> None:
        need_key = not view.pending
        rtp_channel = self.session.channels[0]
        try:
            while True:
                unit = view.pending.pop(0) if view.pending else await anext(view.units)
                if unit.codec is view.audio and not need_key:
                    self._send_audio(view, unit)
                    continue
                if unit.codec is not view.info.codec or unit.stream_id < 0xE0:
                    continue  # only the video track is described
                if need_key and not unit.keyframe:
                    continue  # resuming after PAUSE: decoders need a key frame
                need_key = False
                packets = view.packetiser.packetise(unit.data, view.rtp_time(unit))
                self.writer.write(
                    b"".join(bytes(InterleavedFrame(rtp_channel, bytes(p))) for p in packets)
                )
                await self.writer.drain()
        except (StopAsyncIteration, MediaError) as exc:
            log.info("RTSP %s: stream %s ended: %r", self.address, view.channel_id, exc)
            self.writer.close()
        except ConnectionError:
            self.writer.close()
        except Exception:
            log.exception("RTSP %s: sending %s failed", self.address, view.channel_id)
            self.writer.close()

    def _send_audio(self, view: _View, unit: AccessUnit) -> None:
        channels = self.session.audio_channels
        if channels is None or view.audio_packetiser is None:
            return  # the client did not set the audio track up
        packets = view.audio_packetiser.packetise(unit.data, view.audio_rtp_time(unit))
        self.writer.write(b"".join(bytes(InterleavedFrame(channels[0], bytes(p))) for p in packets))

    async def _stop_sender(self) -> None:
        sender, self.sender = self.sender, None
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    async def _close_view(self) -> None:
        await self._stop_sender()
        view, self.view = self.view, None
        if view is not None:
            await view.stack.aclose()
            log.info("RTSP %s: stopped viewing %s", self.address, view.channel_id)


async def _first_key_frame(units: AsyncIterator[AccessUnit]) -> AccessUnit:
    async for unit in units:
        if unit.codec in _VIDEO and unit.stream_id >= 0xE0 and unit.keyframe:
            return unit
    raise RtspError("the stream ended before its first key frame")


async def _probe_audio(units: AsyncIterator[AccessUnit], first: AccessUnit) -> list[AccessUnit]:
    """``first`` and the units after it, read until G.711 audio or enough video without it."""
    pending = [first]
    while True:
        unit = await anext(units)
        pending.append(unit)
        if unit.codec in AUDIO_PAYLOAD_TYPES:
            return pending
        if unit.stream_id >= 0xE0 and unit.dts_90k - first.dts_90k >= AUDIO_PROBE_90K:
            return pending
