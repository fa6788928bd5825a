"""Live streams of a media worker process: the receiver here, the call in the main process.

A worker (``media.workers``) owns a slice of the RTP ports, its own :class:`StreamHub` and its
viewers; SIP stays in the main process. :class:`RemoteLive` is the worker's stand-in for
:class:`~sightline.gb28181.live.LiveService` (``hub``, ``opener``, ``join``, ``leave``,
``view``), and its opener does what ``LiveService.open_call`` does, with the two SIP steps
asked of the main process over the control channel (:mod:`live_channel`):

    Prepare(channel) ─▶ Prepared(device, transport, SSRC booked by the main process)
    start the receiver on a port of this worker's slice
    Invite(channel, device, SSRC, port, transport) ─▶ Invited(Call-ID, status, SDP answer)
    TCP active: connect now ─▶ LiveUpstream, as in-process
    stream ends ─▶ HangUp(Call-ID): the main process sends BYE and frees the SSRC
    DeviceHungUp(Call-ID) ◀─ the device's BYE: the receiver ends, viewers are told

An answer that comes after its asker gave up (the opening was cancelled) is not lost: a call
established for nobody is hung up at once, an SSRC booked for nobody given back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sightline.config import MediaSettings
from sightline.gb28181.invite import build_play_offer
from sightline.gb28181.live import (
    LiveUpstream,
    answer_of,
    connect_active,
    media_transport,
    start_receiver,
)
from sightline.gb28181.live_channel import (
    DeviceHungUp,
    HangUp,
    Invite,
    Invited,
    LiveMessage,
    Prepare,
    Prepared,
    Release,
    error_of_failure,
)
from sightline.media.hub import Opener, StreamHub, StreamKey, Viewer
from sightline.media.ports import RtpPortAllocator
from sightline.media.receiver import RtpReceiver, TcpActiveRtpReceiver

__all__ = ["RemoteCall", "RemoteLive"]

log = logging.getLogger(__name__)

_ACTIVE_PLACEHOLDER_PORT = 9  # RFC 4145: the active side's m= port means nothing


@dataclass(eq=False)
class RemoteCall:
    """A call the main process holds for this worker's stream."""

    device_id: str
    channel_id: str
    call_id: str
    ended_by_device: bool = False
    on_bye: Callable[[], None] | None = field(default=None, repr=False)
    hung_up: bool = False


class RemoteLive:
    """The worker's live streams; see the module docstring."""

    def __init__(
        self,
        *,
        send: Callable[[LiveMessage], None],
        hub: StreamHub,
        ports: RtpPortAllocator,
        settings: MediaSettings,
        media_host: str,
        platform_id: str,
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.media_host = media_host
        self.platform_id = platform_id
        self._send = send
        self._ports = ports
        self._requests = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._calls: dict[str, RemoteCall] = {}

    # -- what the routes use, as on LiveService ------------------------------------------------

    def opener(self, channel_id: str) -> Opener:
        """The hub opener for a channel's live stream."""

        async def open_live() -> LiveUpstream:
            return await self.open_upstream(channel_id)

        return open_live

    async def join(self, channel_id: str) -> Viewer:
        """Become a viewer of the channel's live stream (starting it if needed)."""
        return await self.hub.join(StreamKey(channel_id), self.opener(channel_id))

    def leave(self, viewer: Viewer) -> None:
        """Stop viewing; the upstream ends after the grace period."""
        self.hub.leave(viewer)

    @asynccontextmanager
    async def view(self, channel_id: str) -> AsyncIterator[Viewer]:
        """Be a viewer for the duration of the block."""
        async with self.hub.view(StreamKey(channel_id), self.opener(channel_id)) as viewer:
            yield viewer

    # -- messages from the main process -----------------------------------------------------

    def handle(self, message: LiveMessage) -> bool:
        """Take an answer or a device's BYE; False for a message that is not one of those."""
        if isinstance(message, Prepared | Invited):
            future = self._pending.pop(message.req, None)
            if future is not None and not future.done():
                future.set_result(message)
            elif message.failure is None:  # its asker gave up meanwhile: undo what it got
                if isinstance(message, Invited):  # nobody wants the call
                    self._send(HangUp(message.call_id))
                else:  # nor the SSRC booked for it
                    self._send(Release(message.ssrc))
            return True
        if isinstance(message, DeviceHungUp):
            call = self._calls.pop(message.call_id, None)
            if call is not None:
                call.ended_by_device = True
                if call.on_bye is not None:
                    call.on_bye()
            return True
        return False

    def channel_lost(self) -> None:
        """The main process went away: every pending question fails."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the main process went away"))
        self._pending.clear()

    # -- the upstream ---------------------------------------------------------------------

    async def _ask(self, make: Callable[[int], Prepare | Invite]) -> Any:
        req = next(self._requests)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[req] = future
        try:
            self._send(make(req))
            return await future
        finally:
            # cancelled: the entry stays out, so a late Invited is hung up (handle)
            self._pending.pop(req, None)

    async def open_upstream(self, channel_id: str) -> LiveUpstream:
        """Have the main process INVITE the channel's device to a receiver here."""
        prepared: Prepared = await self._ask(lambda req: Prepare(req, channel_id))
        if prepared.failure is not None:
            raise error_of_failure(prepared.failure)
        transport = media_transport(prepared.transport)
        ssrc = prepared.ssrc
        receiver: RtpReceiver | None = None
        call: RemoteCall | None = None
        invited = False
        try:
            receiver = await start_receiver(self._ports, self.settings, transport, ssrc)
            port = receiver.port or _ACTIVE_PLACEHOLDER_PORT
            offer = build_play_offer(
                platform_id=self.platform_id,
                channel_id=channel_id,
                ssrc=ssrc,
                media_ip=self.media_host,
                media_port=port,
                transport=transport,
            )
            invited = True
            answered: Invited = await self._ask(
                lambda req: Invite(
                    req, channel_id, prepared.device_id, ssrc, port, prepared.transport
                )
            )
            if answered.failure is not None:
                raise error_of_failure(answered.failure)
            call = RemoteCall(prepared.device_id, channel_id, answered.call_id)
            self._calls[call.call_id] = call
            answer = answer_of(call, answered.status, answered.body, offer)
            if answer.ssrc is not None and answer.ssrc != offer.ssrc:
                receiver.pipeline.expected_ssrc = int(answer.ssrc)  # the answer's SSRC rules
            if isinstance(receiver, TcpActiveRtpReceiver):
                await connect_active(receiver, call, answer, self.settings.invite_timeout_s)
            log.info(
                "channel %s of device %s: over %s, port %d, SSRC %s (call %s)",
                channel_id,
                prepared.device_id,
                receiver.transport_name,
                receiver.port,
                answer.ssrc or ssrc,
                call.call_id,
            )
            return LiveUpstream(
                call=call,
                calls=self,
                receiver=receiver,
                offer=offer,
                answer=answer,
                release_ssrc=lambda: None,  # the main process frees it with the call
            )
        except BaseException:
            if receiver is not None:
                await receiver.close()
            if not invited:
                self._send(Release(ssrc))  # an SSRC booked for a receiver that never started
            if call is not None:
                await asyncio.shield(self.hang_up(call))
            raise

    async def hang_up(self, call: Any) -> None:
        """Have the main process send BYE (once) and free the call's SSRC."""
        assert isinstance(call, RemoteCall)
        self._calls.pop(call.call_id, None)
        if call.hung_up or call.ended_by_device:
            return
        call.hung_up = True
        try:
            self._send(HangUp(call.call_id))
        except Exception as exc:  # the channel is gone: the main process hangs up its calls
            log.info("call %s: hang-up not sent: %s", call.call_id, exc)

    async def close(self) -> None:
        """End every stream (each hangs its call up)."""
        await self.hub.close()
