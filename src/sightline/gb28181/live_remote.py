"""Live streams of a media worker process: the receiver here, the call in the main process.

A worker (``media.workers``) owns a slice of the RTP ports, its own :class:`StreamHub` and its
viewers; SIP stays in the main process. :class:`RemoteLive` is the worker's stand-in for
:class:`~sightline.gb28181.live.LiveService` (``hub``, ``opener``, ``join``, ``leave``,
``view``), and its opener does what ``LiveService.open_call`` does, with the SIP step asked
of the main process over the control channel (:mod:`live_channel`), one round trip:

    start a receiver (media.transport) on a port of this worker's slice
    Invite(channel, port, transport) ─▶ the main process finds the device, books the SSRC
        (unique per platform), sends INVITE ─▶ Invited(Call-ID, SDP answer, device, SSRC)
    (a device with another transport: Invited names it; that receiver, and ask again)
    TCP active: connect now ─▶ LiveUpstream, as in-process
    stream ends ─▶ HangUp(Call-ID): the main process sends BYE and frees the SSRC
    DeviceHungUp(Call-ID) ◀─ the device's BYE: the receiver ends, viewers are told

The receiver starts before the device is known (a worker on a busy core then waits for one
answer, not two); the SSRC it expects is set from the answer, before the device can send.
An answer that comes after its asker gave up (the opening was cancelled) is not lost: a call
established for nobody is hung up at once.
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
from sightline.gb28181.invite import MediaTransport, build_play_offer
from sightline.gb28181.live import (
    LiveUpstream,
    answer_of,
    connect_active,
    media_transport,
    start_receiver,
    transport_name,
)
from sightline.gb28181.live_channel import (
    DeviceHungUp,
    HangUp,
    Invite,
    Invited,
    LiveMessage,
    error_of_failure,
)
from sightline.media.hub import Opener, StreamEndedError, StreamHub, StreamKey, Viewer
from sightline.media.ports import RtpPortAllocator
from sightline.media.receiver import RtpReceiver, TcpActiveRtpReceiver

__all__ = ["RemoteCall", "RemoteLive"]

log = logging.getLogger(__name__)

_ACTIVE_PLACEHOLDER_PORT = 9  # RFC 4145: the active side's m= port means nothing
_OTHER_TRANSPORT = "transport"  # Invited's failure kind: the device uses the one named


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
        self._pending: dict[int, asyncio.Future[Invited]] = {}
        self._transport = media_transport(settings.transport)
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
        if isinstance(message, Invited):
            future = self._pending.pop(message.req, None)
            if future is not None and not future.done():
                future.set_result(message)
            elif message.failure is None:  # its asker gave up meanwhile: nobody wants the call
                self._send(HangUp(message.call_id))
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

    async def _invite(self, channel_id: str, port: int, transport: str) -> Invited:
        req = next(self._requests)
        future: asyncio.Future[Invited] = asyncio.get_running_loop().create_future()
        self._pending[req] = future
        try:
            self._send(Invite(req, channel_id, port, transport))
            return await future
        finally:
            # cancelled: the entry stays out, so a late Invited is hung up (handle)
            self._pending.pop(req, None)

    async def open_upstream(self, channel_id: str) -> LiveUpstream:
        """Have the main process INVITE the channel's device to a receiver here."""
        transport = self._transport
        for _ in range(2):  # the second time with the transport the device is set to
            receiver = await start_receiver(self._ports, self.settings, transport, "0")
            try:
                port = receiver.port or _ACTIVE_PLACEHOLDER_PORT
                answered = await self._invite(channel_id, port, transport_name(transport))
                failure = answered.failure
                if failure is not None and failure.kind == _OTHER_TRANSPORT:
                    transport = media_transport(failure.text)
                    await receiver.close()
                    continue
                if failure is not None:
                    raise error_of_failure(failure)
                return await self._upstream(channel_id, receiver, transport, answered)
            except BaseException:
                await receiver.close()
                raise
        raise StreamEndedError(f"channel {channel_id}: no agreement on the media transport")

    async def _upstream(
        self, channel_id: str, receiver: RtpReceiver, transport: MediaTransport, answered: Invited
    ) -> LiveUpstream:
        """The stream of an established call (hung up again if it cannot be used)."""
        call = RemoteCall(answered.device_id, channel_id, answered.call_id)
        self._calls[call.call_id] = call
        try:
            # the offer the main process sent, for the SSRC check of the first packet
            offer = build_play_offer(
                platform_id=self.platform_id,
                channel_id=channel_id,
                ssrc=answered.ssrc,
                media_ip=self.media_host,
                media_port=receiver.port or _ACTIVE_PLACEHOLDER_PORT,
                transport=transport,
            )
            answer = answer_of(call, answered.status, answered.body, offer)
            receiver.pipeline.expected_ssrc = int(answer.ssrc or answered.ssrc)  # answer's rules
            if isinstance(receiver, TcpActiveRtpReceiver):
                await connect_active(receiver, call, answer, self.settings.invite_timeout_s)
        except BaseException:
            await asyncio.shield(self.hang_up(call))
            raise
        log.info(
            "channel %s of device %s: over %s, port %d, SSRC %s (call %s)",
            channel_id,
            answered.device_id,
            receiver.transport_name,
            receiver.port,
            answer.ssrc or answered.ssrc,
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
