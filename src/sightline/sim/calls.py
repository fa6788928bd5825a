"""INVITE and BYE for simulated channels: live-video calls, routed by Request-URI user.

One :class:`MediaCalls` serves the whole fleet, like :mod:`.inbound`: the channel is found from
the Request-URI user (a channel ID, or an IPC's device ID), the offer is read
(:mod:`.invite`), a :class:`~.media_session.MediaSession` binds its socket, and the 200 carries
the answer. Each INVITE is its own call with its own stream, so several platforms (or one
platform twice) can watch a channel; their sessions share the channel's encoder
(:mod:`.video_feed`). A new INVITE with the same Subject sender (channel and serial) as a live
call replaces it, as Annex M asks.

ACK: :class:`~sightline.sip.endpoint.SipEndpoint` drops an ACK for a 2xx before any handler sees
it, so media starts as soon as the 200 has gone out (most cameras do the same) rather than on
the ACK; :meth:`MediaCalls.on_ack` is ready for an endpoint that passes such ACKs on. An INVITE
retransmitted after the 200 (the 200 was lost) gets the same answer again, not a second stream.

Playback and Download INVITEs get a :class:`~.history_feed.HistoryFeed` of the channel's
recording history instead of the live feed; in-dialog INFO with MANSRTSP (PAUSE, PLAY with
``Range``/``Scale``, TEARDOWN) steers it, and when it reaches the end the device sends the
in-dialog MESSAGE ``MediaStatus`` 121 and waits for the platform's BYE.

A session that fails (connection refused or lost) ends its call with a BYE to the platform.
Faults for platform tests (:class:`~.invite.MediaFaults`) are set per device or per channel and
apply to INVITEs that arrive afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from sightline.gb28181 import mansrtsp
from sightline.gb28181.manscdp import Message
from sightline.sim.call_requests import send_bye, send_file_end, steer
from sightline.sim.device import DeviceState, SimDevice
from sightline.sim.history import PlaybackClock, recordings
from sightline.sim.history_feed import HistoryFeed
from sightline.sim.inbound import request_user
from sightline.sim.invite import (
    HistoryRange,
    MediaFaults,
    MediaOffer,
    OfferRejected,
    build_answer,
    fallback_ssrc,
    read_offer,
)
from sightline.sim.media_session import EndReason, FrameSink, MediaSession
from sightline.sim.ptz_state import PtzPosition
from sightline.sim.video import VideoSettings
from sightline.sim.video_feed import VideoHub
from sightline.sip.dialog import Dialog
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.errors import SipError
from sightline.sip.message import Request, Response, build_response
from sightline.sip.transport import Peer

__all__ = ["Call", "CallHost", "MediaCalls"]

log = logging.getLogger(__name__)

_NO_FAULTS = MediaFaults()


class CallHost(Protocol):
    """What the call handlers need from the host."""

    def find(self, target_id: str) -> SimDevice | None:
        """The device that owns a device or channel ID."""

    def contact(self, device: SimDevice) -> str:
        """The Contact value of ``device``."""

    def ptz_position(self, channel_id: str) -> PtzPosition:
        """Where the channel's head points now."""

    def media_address(self, toward: str) -> str:
        """The local IP to send media from toward ``toward``."""

    async def route(self, device: SimDevice, *, connect: bool = False) -> tuple[SipEndpoint, Peer]:
        """The endpoint and peer that reach the platform for ``device``."""

    def manscdp_body(self, msg: Message) -> bytes:
        """``msg`` encoded in the fleet's charset and edition."""

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background."""


@dataclass(eq=False)
class Call:
    """One accepted INVITE: its dialog identifiers, answer and media session."""

    call_id: str
    remote_tag: str
    local_tag: str
    device: SimDevice
    channel_id: str
    invite: Request
    answer: bytes
    sender: str | None  # Subject "<channel>:<serial>", to spot a repeated INVITE (Annex M)
    session: MediaSession
    acked: bool = False
    feed: HistoryFeed | None = None  # Playback and Download calls
    dialog: Dialog | None = None  # made when the device first sends in the dialog


@dataclass(frozen=True, slots=True)
class _Wanted:
    """A new INVITE that passed the checks: the channel, its offer, faults and history feed."""

    device: SimDevice
    channel_id: str
    offer: MediaOffer
    faults: MediaFaults
    feed: HistoryFeed | None  # Playback and Download calls


def _subject_sender(request: Request) -> str | None:
    subject = request.headers.get("Subject")
    return subject.split(",", 1)[0].strip() if subject else None


class MediaCalls:
    """INVITE/ACK/BYE handlers for every channel of a fleet (see the module docstring)."""

    def __init__(
        self,
        host: CallHost,
        settings: VideoSettings,
        *,
        connect_retry_s: float = 1.0,
        accept_timeout_s: float = 10.0,
        loop_video: bool = False,
    ) -> None:
        self._host = host
        self.settings = settings
        self.hub = VideoHub(settings, loop_video=loop_video)
        self.calls: dict[tuple[str, str], Call] = {}
        self._faults: dict[str, MediaFaults] = {}
        self._retry_s = connect_retry_s
        self._accept_timeout_s = accept_timeout_s
        self._serial = 0

    # -- faults ----------------------------------------------------------------------------

    def set_faults(self, target_id: str, faults: MediaFaults | None) -> None:
        """Faults for a device (all its channels) or one channel; None clears them."""
        if faults is None:
            self._faults.pop(target_id, None)
        else:
            self._faults[target_id] = faults

    def faults_for(self, device: SimDevice, channel_id: str) -> MediaFaults:
        """The channel's faults, else its device's, else none."""
        return self._faults.get(channel_id) or self._faults.get(device.device_id) or _NO_FAULTS

    def sessions(self, channel_id: str | None = None) -> list[MediaSession]:
        """Media sessions of live calls (of one channel, if given)."""
        return [
            c.session
            for c in self.calls.values()
            if channel_id is None or c.channel_id == channel_id
        ]

    # -- INVITE ----------------------------------------------------------------------------

    async def on_invite(self, incoming: IncomingRequest) -> Response:
        """Answer a live-video INVITE with 200 and SDP, then start the stream."""
        request = incoming.request
        try:
            key = (request.call_id, request.from_.tag or "")
            in_dialog = request.to.tag
        except SipError:
            return build_response(request, 400)
        known = self._in_dialog(request, self.calls.get(key), in_dialog)
        if known is not None:
            return known
        wanted = self._check_offer(request)
        if isinstance(wanted, Response):
            return wanted
        return await self._accept(request, key[1], wanted)

    def _in_dialog(
        self, request: Request, call: Call | None, to_tag: str | None
    ) -> Response | None:
        """Our 200 again for a known call, 481 for an unknown dialog, None for a new call."""
        if call is not None and to_tag in (None, call.local_tag):
            return self._ok(request, call)  # a retransmission after our 200, or a re-INVITE
        if to_tag is not None:
            return build_response(request, 481)
        return None

    def _check_offer(self, request: Request) -> _Wanted | Response:
        """What a new INVITE asks for, or the refusal: unknown or offline channel, fault, SDP."""
        found = self._find_channel(request)
        if isinstance(found, Response):
            return found
        device, channel_id = found
        faults = self.faults_for(device, channel_id)
        if faults.reject_status is not None:
            return build_response(request, faults.reject_status, to_tag=_tag())
        try:
            offer = read_offer(request.body)
        except OfferRejected as exc:
            log.info("channel %s: INVITE refused (%d): %s", channel_id, exc.status, exc)
            return build_response(request, exc.status, to_tag=_tag())
        feed = None
        if offer.history is not None:
            feed = self._history_feed(channel_id, offer.history)
            if feed is None:
                return build_response(request, 404, "No Recording", to_tag=_tag())
        return _Wanted(device, channel_id, offer, faults, feed)

    def _find_channel(self, request: Request) -> tuple[SimDevice, str] | Response:
        """The device and channel of the Request-URI, or 404 (unknown) or 480 (offline)."""
        user = request_user(request.uri)
        device = self._host.find(user)
        index = None if device is None else device.channel_index(user)
        if device is None or index is None or not _reachable(device):
            return build_response(request, 404, to_tag=_tag())
        channel_id = device.channel_id(index)
        if not device.is_channel_online(index):
            return build_response(request, 480, to_tag=_tag())
        return device, channel_id

    async def _accept(self, request: Request, remote_tag: str, wanted: _Wanted) -> Response:
        """Open the media socket, answer 200 with its SDP and start sending (500 if no socket)."""
        self._replace_same_sender(_subject_sender(request))
        self._serial += 1
        ssrc = wanted.offer.ssrc or fallback_ssrc(wanted.channel_id, self._serial)
        session = self._media_session(request.call_id, wanted, ssrc)
        try:
            port = await session.prepare()
        except OSError as exc:
            log.warning("channel %s: cannot open a media socket: %s", wanted.channel_id, exc)
            return build_response(request, 500, to_tag=_tag())
        answer = self._sdp_answer(wanted, session.local_ip, port, ssrc)
        call = self._add_call(request, remote_tag, wanted, session, answer)
        self._start_sending(call, wanted, ssrc)
        return self._ok(request, call)

    def _media_session(self, call_id: str, wanted: _Wanted, ssrc: str) -> MediaSession:
        """The session that sends the live feed, or the history feed, toward the offer."""
        channel_id, feed, faults = wanted.channel_id, wanted.feed, wanted.faults
        return MediaSession(
            call_id=call_id,
            channel_id=channel_id,
            offer=wanted.offer,
            local_ip=self._host.media_address(wanted.offer.ip),
            rtp_ssrc=int(ssrc) if faults.rtp_ssrc is None else faults.rtp_ssrc,
            codec=self.settings.codec,
            attach=(lambda sink: self._attach(channel_id, sink)) if feed is None else feed.attach,
            on_end=self._ended,
            connect_retry_s=self._retry_s,
            accept_timeout_s=self._accept_timeout_s,
            audio=wanted.device.profile.audio.ps_codec if feed is None else None,
        )

    def _sdp_answer(self, wanted: _Wanted, ip: str, port: int, ssrc: str) -> bytes:
        """The SDP of our 200: where we send from (or listen, for TCP) and with which SSRC."""
        answer = build_answer(
            wanted.offer,
            channel_id=wanted.channel_id,
            ip=ip,
            port=port,
            ssrc=ssrc,
            settings=self.settings,
        )
        return bytes(answer)

    def _add_call(
        self,
        request: Request,
        remote_tag: str,
        wanted: _Wanted,
        session: MediaSession,
        answer: bytes,
    ) -> Call:
        """Record the accepted call, keyed by its dialog, with the answer for retransmissions."""
        call = Call(
            call_id=request.call_id,
            remote_tag=remote_tag,
            local_tag=_tag(),
            device=wanted.device,
            channel_id=wanted.channel_id,
            invite=request,
            answer=answer,
            sender=_subject_sender(request),
            session=session,
            feed=wanted.feed,
        )
        self.calls[(call.call_id, remote_tag)] = call
        return call

    def _start_sending(self, call: Call, wanted: _Wanted, ssrc: str) -> None:
        """Start the stream once our 200 is out (unless a fault says not to) and log the call."""
        if wanted.feed is not None:
            wanted.feed.on_finished = lambda: self._host.spawn(
                send_file_end(self._host, call, lambda: self._dialog(call), self._serial)
            )
        if not wanted.faults.no_media:
            # call_soon: the endpoint sends our 200 when this coroutine returns, before this runs
            asyncio.get_running_loop().call_soon(call.session.start)
        offer = wanted.offer
        log.info(
            "channel %s: INVITE accepted, ssrc %s, %s to %s:%d",
            call.channel_id,
            ssrc,
            offer.mode.value,
            offer.ip,
            offer.port,
        )

    def _ok(self, request: Request, call: Call) -> Response:
        return build_response(
            request,
            200,
            to_tag=call.local_tag,
            headers=[
                ("Contact", self._host.contact(call.device)),
                ("Content-Type", "application/sdp"),
            ],
            body=call.answer,
        )

    def _replace_same_sender(self, sender: str | None) -> None:
        if sender is None:
            return
        for call in list(self.calls.values()):
            if call.sender == sender:
                log.info(
                    "channel %s: new INVITE for stream %s replaces the old call",
                    call.channel_id,
                    sender,
                )
                call.session.stop(EndReason.REPLACED)

    def _history_feed(self, channel_id: str, wanted: HistoryRange) -> HistoryFeed | None:
        now = time.time()
        if not recordings(channel_id, wanted.start, wanted.end, now):
            log.info("channel %s: nothing recorded in %s", channel_id, wanted)
            return None
        clock = PlaybackClock(
            channel_id,
            wanted.start,
            wanted.end,
            fps=self.settings.fps,
            now=now,
            speed=wanted.speed,
        )
        return HistoryFeed(clock, self.settings, self.hub.executor, tint=_tint(channel_id))

    def _attach(self, channel_id: str, sink: FrameSink) -> Callable[[], None]:
        tint = _tint(channel_id)

        def position() -> PtzPosition:
            return self._host.ptz_position(channel_id)

        feed = self.hub.subscribe(channel_id, position, sink, tint=tint)

        def detach() -> None:
            self.hub.unsubscribe(feed, sink)

        return detach

    # -- playback control (INFO) and end of file -----------------------------------------

    def on_info(self, incoming: IncomingRequest) -> Response:
        """MANSRTSP in an INFO: pause, resume, seek, scale or teardown a history call."""
        request = incoming.request
        call = self._call_of(request)
        if isinstance(call, Response):
            return call
        if call.feed is None:
            return build_response(request, 405, "Live Calls Take No MANSRTSP")
        try:
            command = mansrtsp.parse(request.body)
            if not isinstance(command, mansrtsp.MansrtspRequest):
                raise mansrtsp.MansrtspError("a response where a request was expected")
            steer(call, command)
        except (mansrtsp.MansrtspError, ValueError) as exc:
            log.info("channel %s: bad MANSRTSP: %s", call.channel_id, exc)
            return build_response(request, 400, "Bad MANSRTSP", to_tag=call.local_tag)
        answer = mansrtsp.MansrtspResponse(200, cseq=command.cseq)
        return build_response(
            request,
            200,
            to_tag=call.local_tag,
            headers=[("Content-Type", mansrtsp.CONTENT_TYPE)],
            body=bytes(answer),
        )

    def _dialog(self, call: Call) -> Dialog:
        if call.dialog is None:
            call.dialog = Dialog.from_uas(call.invite, self._ok(call.invite, call))
        return call.dialog

    # -- ACK and BYE -----------------------------------------------------------------------

    def on_ack(self, request: Request) -> None:
        """Note the ACK of our 200 (for an endpoint that hands such ACKs to the TU)."""
        call = self.calls.get((request.call_id, request.from_.tag or ""))
        if call is not None:
            call.acked = True

    def on_bye(self, incoming: IncomingRequest) -> Response:
        """End a call: stop its stream and answer 200 (481 for an unknown dialog)."""
        request = incoming.request
        call = self._call_of(request)
        if isinstance(call, Response):
            return call
        call.session.stop(EndReason.BYE)
        return build_response(request, 200)

    def _call_of(self, request: Request) -> Call | Response:
        """The call an in-dialog request belongs to, or 400 (bad tags) or 481 (no such call)."""
        try:
            call = self.calls.get((request.call_id, request.from_.tag or ""))
            mine = call is not None and request.to.tag == call.local_tag
        except SipError:
            return build_response(request, 400)
        if call is None or not mine:
            return build_response(request, 481)
        return call

    def _ended(self, session: MediaSession, reason: EndReason) -> None:
        call = next((c for c in self.calls.values() if c.session is session), None)
        if call is None:
            return
        del self.calls[(call.call_id, call.remote_tag)]
        if reason in (EndReason.SOCKET, EndReason.REPLACED):
            self._host.spawn(send_bye(self._host, call, lambda: self._dialog(call)))

    # -- device life -----------------------------------------------------------------------

    def drop_device(self, device: SimDevice) -> None:
        """Stop a device's streams without BYE (it rebooted or went away)."""
        for call in list(self.calls.values()):
            if call.device is device:
                call.session.stop(EndReason.SHUTDOWN)

    async def close(self) -> None:
        """Stop every stream and the encoders."""
        for call in list(self.calls.values()):
            call.session.stop(EndReason.SHUTDOWN)
        await self.hub.close()


def _tint(channel_id: str) -> int:
    return int(channel_id[-4:]) if channel_id[-4:].isdigit() else 0


def _reachable(device: SimDevice) -> bool:
    return device.registered and device.state is not DeviceState.STOPPED


def _tag() -> str:
    return secrets.token_hex(4)
