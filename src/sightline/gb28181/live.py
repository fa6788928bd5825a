"""Live video of a channel: the StreamHub's opener for GB/T 28181 devices.

    hub.join(StreamKey(channel)) ─▶ LiveService.open_upstream(channel)
        find the device (online, else DeviceOfflineError)
        book a port and a live SSRC; start the receiver (UDP, or TCP passive: listen first)
        INVITE (Subject, s=Play offer) ─▶ 200 + answer ─▶ ACK; TCP active: connect now
        ─▶ LiveUpstream: access units for the hub
    hub closes the upstream (grace over, no media) ─▶ BYE, port and SSRC released
    device BYE ─▶ the receiver ends ─▶ viewers get StreamEndedError naming the device

Many viewers share one upstream and a second request during setup waits for the first:
both are the hub's doing (one opener task per key).

SSRC: the offer's ``y=`` comes from the :class:`SsrcAllocator`; when the answer names another
one the receiver expects that (the standard: take the answer's). The first RTP packet's SSRC
is judged with :func:`~sightline.gb28181.ssrc.matches` and a mismatch logged with both values;
with ``media.accept_ssrc_mismatch`` off, mismatching packets are dropped by the receiver and
the stream ends as "never arrived".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from sightline.config import MediaSettings, Settings
from sightline.gb28181.commands import Addressing
from sightline.gb28181.device_queries import DeviceSession
from sightline.gb28181.errors import (
    DeviceOfflineError,
    DeviceRejectedError,
    DeviceTimeoutError,
    Gb28181Error,
)
from sightline.gb28181.invite import (
    InviteOffer,
    MediaAnswer,
    MediaTransport,
    build_play_offer,
    check_answer,
    parse_answer,
)
from sightline.gb28181.live_dialog import MediaCall, MediaCalls
from sightline.gb28181.sdp import SdpError
from sightline.gb28181.ssrc import SsrcAllocator, SsrcVerdict, StreamKind, matches
from sightline.media.hub import Opener, StreamEndedError, StreamHub, StreamKey, Upstream, Viewer
from sightline.media.ports import RtpPortAllocator
from sightline.media.ps_frames import AccessUnit
from sightline.media.receiver import (
    ReceiverOptions,
    RtpReceiver,
    TcpActiveRtpReceiver,
    TcpPassiveRtpReceiver,
    UdpRtpReceiver,
)
from sightline.media.stats import ReceiverSnapshot

__all__ = [
    "Call",
    "CallEnder",
    "ChannelLocator",
    "DeviceSessions",
    "LiveService",
    "LiveUpstream",
    "OfferMaker",
    "UnknownChannelError",
    "advertised_media_host",
    "answer_of",
    "connect_active",
    "media_transport",
    "start_receiver",
    "transport_name",
]

log = logging.getLogger(__name__)

# RFC 4145 §4.1: the active side's m= port is irrelevant; 9 (discard) says so.
_ACTIVE_PLACEHOLDER_PORT = 9

ChannelLocator = Callable[[str], Awaitable[str | None]]
"""Channel ID → the ID of the device that serves it (None when unknown)."""

OfferMaker = Callable[[str, int, MediaTransport], InviteOffer]
"""(SSRC, receive port, transport) → the INVITE offer of a call."""

_TRANSPORTS = {
    "udp": MediaTransport.UDP,
    "tcp-passive": MediaTransport.TCP_PASSIVE,
    "tcp-active": MediaTransport.TCP_ACTIVE,
}


class UnknownChannelError(Gb28181Error, LookupError):
    """No device is known to serve this channel."""


class Call(Protocol):
    """What a live stream needs of its call: who it is with, and the device's BYE."""

    device_id: str
    channel_id: str
    ended_by_device: bool
    on_bye: Callable[[], None] | None

    @property
    def call_id(self) -> str:
        """The call's Call-ID, for log lines."""
        ...


class CallEnder(Protocol):
    """Who hangs a call up: :class:`MediaCalls` here, the main process for a media worker."""

    async def hang_up(self, call: Any) -> None:
        """Send BYE (once) and forget the call; errors are logged, not raised."""
        ...


class DeviceSessions(Protocol):
    """The part of :class:`~sightline.gb28181.devices.DeviceManager` live view needs."""

    def session(self, device_id: str) -> DeviceSession | None:
        """The device's session while it is online."""
        ...


def media_transport(name: str) -> MediaTransport:
    """``udp`` / ``tcp-passive`` / ``tcp-active`` (``media.transport``) as a MediaTransport."""
    try:
        return _TRANSPORTS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown media transport {name!r}") from None


def transport_name(transport: MediaTransport) -> str:
    """The ``media.transport`` name of a MediaTransport (``udp``, ``tcp-passive``, ...)."""
    return next(name for name, value in _TRANSPORTS.items() if value is transport)


def advertised_media_host(settings: Settings) -> str:
    """The address put in SDP offers: media.host, sip.external_host, sip.host, 127.0.0.1."""
    for candidate in (settings.media.host, settings.sip.external_host, settings.sip.host):
        if candidate and candidate not in ("0.0.0.0", "::"):
            return candidate
    return "127.0.0.1"


class LiveUpstream:
    """One device's live stream as the hub sees it (``frames`` and ``close``)."""

    def __init__(
        self,
        *,
        call: Call,
        calls: CallEnder,
        receiver: RtpReceiver,
        offer: InviteOffer,
        answer: MediaAnswer,
        release_ssrc: Callable[[], None],
    ) -> None:
        self.call = call
        self.receiver = receiver
        self.offer = offer
        self.answer = answer
        self._calls = calls
        self._release_ssrc = release_ssrc
        self._closed = False
        self._stopping: asyncio.Future[None] | None = None
        call.on_bye = self._device_hung_up
        if call.ended_by_device:  # its BYE came while the stream was being set up
            self._device_hung_up()

    @property
    def label(self) -> str:
        """``channel via device`` for log lines and errors."""
        return f"channel {self.call.channel_id} of device {self.call.device_id}"

    def reception(self) -> ReceiverSnapshot:
        """The receiver's RTP counters (packets, lost, reordered), for /metrics."""
        return self.receiver.snapshot()

    def _device_hung_up(self) -> None:
        # the receiver hands out what it holds, then frames() ends with the device's reason
        self._stopping = asyncio.ensure_future(self.receiver.close())

    def stop_receiving(self) -> None:
        """Close the receiver: ``frames`` hands out what it holds, then ends (end of file)."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self.receiver.close())

    async def frames(self) -> AsyncIterator[AccessUnit]:
        """The device's access units; raises StreamEndedError saying why they stopped."""
        first = True
        async for unit in self.receiver.frames():
            if first:
                first = False
                self._judge_ssrc()
            yield unit
        if self.call.ended_by_device:
            raise StreamEndedError(f"{self.label}: the device ended the stream (BYE)")
        if not self._closed:
            raise StreamEndedError(f"{self.label}: the device closed the media connection")

    async def attach(self, deliver: Callable[[AccessUnit], None]) -> None:
        """What ``frames`` yields, pushed to ``deliver`` as the receiver finishes each unit (the
        hub uses this: no task switch per frame); raises StreamEndedError as ``frames`` does."""
        judged = False

        def each(unit: AccessUnit) -> None:
            nonlocal judged
            if not judged:
                judged = True
                self._judge_ssrc()
            deliver(unit)

        await self.receiver.attach(each)
        if self.call.ended_by_device:
            raise StreamEndedError(f"{self.label}: the device ended the stream (BYE)")
        if not self._closed:
            raise StreamEndedError(f"{self.label}: the device closed the media connection")

    def _judge_ssrc(self) -> None:
        reception = self.receiver.pipeline.reception
        if reception is None:
            return
        check = matches(self.offer.ssrc, reception.ssrc, answered=self.answer.ssrc)
        if check.verdict is SsrcVerdict.EXACT:
            return
        level = logging.INFO if check.verdict is SsrcVerdict.ANSWERED else logging.WARNING
        log.log(
            level,
            "%s (call %s): %s; accepted (media.accept_ssrc_mismatch)",
            self.label,
            self.call.call_id,
            check.describe(),
        )

    async def close(self) -> None:
        """BYE (unless the device hung up), close the receiver, release the SSRC."""
        if self._closed:
            return
        self._closed = True
        counters = self.receiver.pipeline.counters
        await self.receiver.close()
        self._release_ssrc()
        if counters.ssrc_dropped:
            log.warning(
                "%s: %d RTP packets dropped for an SSRC other than %s",
                self.label,
                counters.ssrc_dropped,
                self.receiver.pipeline.expected_ssrc,
            )
        await self._calls.hang_up(self.call)


class LiveService:
    """Opens live streams of channels on their devices; see the module docstring."""

    def __init__(
        self,
        *,
        calls: MediaCalls,
        devices: DeviceSessions,
        hub: StreamHub,
        ports: RtpPortAllocator,
        ssrc: SsrcAllocator,
        settings: MediaSettings,
        media_host: str,
        locate: ChannelLocator | None = None,
        transport_for: Callable[[str], MediaTransport | None] | None = None,
    ) -> None:
        self.calls = calls
        self.hub = hub
        self.settings = settings
        self.media_host = media_host
        self._devices = devices
        self._ports = ports
        self._ssrc = ssrc
        self._locate = locate
        self._transport_for = transport_for
        self._default_transport = media_transport(settings.transport)
        # media workers (live_workers): the channel's stream relayed from the worker that
        # receives it; None when no worker is running (then the stream is received here)
        self.relay: Callable[[str], Awaitable[Upstream | None]] | None = None

    @property
    def addressing(self) -> Addressing:
        """The platform's ID and domain."""
        return self.calls.addressing

    # -- viewers ------------------------------------------------------------------------

    def opener(self, channel_id: str) -> Opener:
        """The hub opener for a channel's live stream."""

        async def open_live() -> Upstream:
            return await self.open_upstream(channel_id)

        return open_live

    async def join(self, channel_id: str) -> Viewer:
        """Become a viewer of the channel's live stream (starting it if needed)."""
        return await self.hub.join(StreamKey(channel_id), self.opener(channel_id))

    def leave(self, viewer: Viewer) -> None:
        """Stop viewing; the upstream ends after the grace period."""
        self.hub.leave(viewer)

    @contextlib.asynccontextmanager
    async def view(self, channel_id: str) -> AsyncIterator[Viewer]:
        """Be a viewer for the duration of the block."""
        async with self.hub.view(StreamKey(channel_id), self.opener(channel_id)) as viewer:
            yield viewer

    async def first_frame(self, channel_id: str) -> AccessUnit:
        """Join, wait for the first key frame, leave: raises what a viewer would get."""
        async with self.view(channel_id) as viewer:
            return await anext(viewer)

    def session(self, device_id: str) -> DeviceSession | None:
        """The device's session while it is online."""
        return self._devices.session(device_id)

    async def device_for(self, channel_id: str) -> DeviceSession:
        """The online session of the device serving the channel."""
        device_id = await self._locate(channel_id) if self._locate is not None else None
        if device_id is None:
            if self._devices.session(channel_id) is None:
                raise UnknownChannelError(f"channel {channel_id} is not known")
            device_id = channel_id  # an IPC addressed by its own device ID
        session = self._devices.session(device_id)
        if session is None:
            raise DeviceOfflineError(f"device {device_id} of channel {channel_id} is offline")
        return session

    # -- the upstream -------------------------------------------------------------------

    def transport_of(self, device_id: str) -> MediaTransport:
        """The device's media transport setting, else ``media.transport``."""
        chosen = self._transport_for(device_id) if self._transport_for is not None else None
        return chosen or self._default_transport

    def play_offer(
        self, channel_id: str, ssrc: str, port: int, transport: MediaTransport
    ) -> InviteOffer:
        """The ``s=Play`` offer for a live call of the channel to a receiver on ``port``."""
        return build_play_offer(
            platform_id=self.addressing.platform_id,
            channel_id=channel_id,
            ssrc=ssrc,
            media_ip=self.media_host,
            media_port=port,
            transport=transport,
        )

    def book_ssrc(self, kind: StreamKind) -> str:
        """An SSRC unique on the platform until :meth:`release_ssrc` (SsrcExhausted if none)."""
        return self._ssrc.allocate(kind)

    def release_ssrc(self, ssrc: str) -> None:
        """Give back an SSRC from :meth:`book_ssrc`."""
        self._ssrc.release(ssrc)

    async def open_upstream(self, channel_id: str) -> Upstream:
        """The channel's live stream (the hub's opener): relayed from the media worker that
        receives it when the node has workers (``relay``), else INVITEd to a receiver here."""
        if self.relay is not None:
            relayed = await self.relay(channel_id)
            if relayed is not None:
                return relayed

        def play_offer(ssrc: str, port: int, transport: MediaTransport) -> InviteOffer:
            return self.play_offer(channel_id, ssrc, port, transport)

        return await self.open_call(channel_id, StreamKind.LIVE, play_offer)

    async def open_call(
        self, channel_id: str, kind: StreamKind, make_offer: OfferMaker
    ) -> LiveUpstream:
        """INVITE the channel's device with the offer ``make_offer`` builds; its stream.

        Live view uses it with an ``s=Play`` offer; playback and download (``.playback``) with
        theirs and a history SSRC: the receiver, SSRC check and BYE are the same.
        """
        session = await self.device_for(channel_id)
        device_id = session.device_id
        transport = self.transport_of(device_id)
        ssrc = self._ssrc.allocate(kind)
        receiver: RtpReceiver | None = None
        call: MediaCall | None = None
        try:
            receiver = await start_receiver(self._ports, self.settings, transport, ssrc)
            port = receiver.port or _ACTIVE_PLACEHOLDER_PORT
            offer = make_offer(ssrc, port, transport)
            call = await self.calls.invite(device_id, channel_id, session.peer, offer)
            response = call.response
            answer = answer_of(call, response.status, response.body, offer)
            if answer.ssrc is not None and answer.ssrc != offer.ssrc:
                receiver.pipeline.expected_ssrc = int(answer.ssrc)  # the answer's SSRC rules
            if isinstance(receiver, TcpActiveRtpReceiver):
                await connect_active(receiver, call, answer, self.settings.invite_timeout_s)
            log.info(
                "channel %s of device %s: %s over %s, port %d, SSRC %s (call %s)",
                channel_id,
                device_id,
                offer.sdp.session_name,
                receiver.transport_name,
                receiver.port,
                answer.ssrc or ssrc,
                call.call_id,
            )
            return LiveUpstream(
                call=call,
                calls=self.calls,
                receiver=receiver,
                offer=offer,
                answer=answer,
                release_ssrc=lambda: self._release(ssrc),
            )
        except BaseException:
            if receiver is not None:
                await receiver.close()
            self._release(ssrc)
            if call is not None:
                await asyncio.shield(self.calls.hang_up(call))
            raise

    def _release(self, ssrc: str) -> None:
        self._ssrc.release(ssrc)


async def start_receiver(
    ports: RtpPortAllocator, settings: MediaSettings, transport: MediaTransport, ssrc: str
) -> RtpReceiver:
    """A receiver for a call's media: listening (UDP, TCP passive) or ready to connect."""
    options = ReceiverOptions(
        host=settings.bind_host,
        expected_ssrc=int(ssrc),
        accept_ssrc_mismatch=settings.accept_ssrc_mismatch,
    )
    if transport is MediaTransport.UDP:
        return await UdpRtpReceiver(ports, options).start()
    if transport is MediaTransport.TCP_PASSIVE:
        return await TcpPassiveRtpReceiver(ports, options).start()
    return TcpActiveRtpReceiver(ports, options)  # connects after the answer


def answer_of(call: Call, status: int, body: bytes | str, offer: InviteOffer) -> MediaAnswer:
    """The device's SDP answer, its departures from the offer logged; DeviceRejectedError
    when it cannot be used."""
    try:
        answer = parse_answer(body)
    except SdpError as exc:
        raise DeviceRejectedError(
            f"device {call.device_id} answered with unusable SDP: {exc}", status=status
        ) from None
    for issue in check_answer(offer, answer):
        log.warning(
            "channel %s of device %s (call %s): %s (offered %s, answered %s %s, y=%s)",
            call.channel_id,
            call.device_id,
            call.call_id,
            issue.value,
            offer.ssrc,
            answer.transport.value,
            answer.setup.value if answer.setup else "-",
            answer.ssrc,
        )
    return answer


async def connect_active(
    receiver: TcpActiveRtpReceiver, call: Call, answer: MediaAnswer, timeout_s: float
) -> None:
    """TCP active: connect to the port the device answered with."""
    try:
        await receiver.start(answer.ip, answer.port, timeout_s=timeout_s)
    except (TimeoutError, OSError) as exc:
        raise DeviceTimeoutError(
            f"cannot connect to device {call.device_id}'s media port "
            f"{answer.ip}:{answer.port}: {exc or 'timed out'}"
        ) from None
