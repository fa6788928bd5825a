"""The SIP side of media sessions: INVITE with an offer, ACK the 2xx, BYE at the end.

:class:`MediaCalls` places calls to devices and keeps their dialogs, for live view now and
playback/download later. SIP outcomes become the device errors callers see, as in
:mod:`.commands`: no final answer → DeviceTimeoutError, 3xx-6xx → DeviceRejectedError (status
kept), transport gone → DeviceOfflineError.

Two RFC 3261 duties the INVITE client transaction leaves to its user are done here:

* the ACK for a 2xx goes out outside any transaction, and is sent again for each retransmitted
  2xx (they arrive after the transaction ended, through ``endpoint.on_stray_response``);
* a call whose caller gave up while the INVITE was pending (a viewer left, the node stops) is
  not forgotten: if its 2xx still comes, it is ACKed and hung up at once, so no device keeps
  streaming to a port nobody reads.

BYE and ACK go to the address the device registered from (``session.peer``), never to its
Contact, like every other request to devices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sightline.gb28181.commands import Addressing, new_call_id, new_tag
from sightline.gb28181.errors import DeviceOfflineError, DeviceRejectedError, DeviceTimeoutError
from sightline.gb28181.invite import InviteOffer
from sightline.sip.dialog import Dialog, DialogError, DialogId
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.errors import SipError, SipTimeoutError, SipTransportError
from sightline.sip.fields import Via
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response, build_response
from sightline.sip.transport import Peer

__all__ = ["MediaCall", "MediaCalls", "invite_request"]

log = logging.getLogger(__name__)


def invite_request(
    addressing: Addressing, channel_id: str, offer: InviteOffer, contact: str
) -> Request:
    """An INVITE to a channel carrying ``offer`` (§9.2.2: Subject, SDP body, Contact)."""
    headers = Headers(
        [
            ("From", f"<{addressing.uri(addressing.platform_id)}>;tag={new_tag()}"),
            ("To", f"<{addressing.uri(channel_id)}>"),
            ("Call-ID", new_call_id()),
            ("CSeq", "1 INVITE"),
            ("Contact", contact),
            ("Subject", offer.subject),
            ("Content-Type", offer.content_type),
        ]
    )
    return Request("INVITE", addressing.uri(channel_id), headers, offer.body)


@dataclass(eq=False)
class MediaCall:
    """An established call: its dialog, the device's answer and who ended it."""

    device_id: str
    channel_id: str
    peer: Peer
    dialog: Dialog
    invite: Request
    response: Response
    ended_by_device: bool = False
    hung_up: bool = False
    on_bye: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def call_id(self) -> str:
        """The call's Call-ID, for log lines."""
        return self.invite.call_id


class MediaCalls:
    """Calls to devices and their dialogs; see the module docstring."""

    def __init__(
        self, endpoint: SipEndpoint, addressing: Addressing, *, timeout_s: float = 10.0
    ) -> None:
        self._endpoint = endpoint
        self.addressing = addressing
        self.timeout_s = timeout_s
        self._calls: dict[DialogId, MediaCall] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._calls)

    def attach(self) -> None:
        """Take the endpoint's BYE requests and stray responses (2xx retransmissions)."""
        self._endpoint.on("BYE", self.handle_bye)
        self._endpoint.on_stray_response = self.handle_stray_response

    def contact(self, peer: Peer) -> str:
        """The platform's Contact for requests to ``peer``."""
        host, port = self._endpoint.via_for(peer)
        host = f"[{host}]" if ":" in host else host
        return f"<sip:{self.addressing.platform_id}@{host}:{port}>"

    async def invite(
        self, device_id: str, channel_id: str, peer: Peer, offer: InviteOffer
    ) -> MediaCall:
        """Send the INVITE, ACK its 2xx and return the call; raises a device error."""
        request = invite_request(self.addressing, channel_id, offer, self.contact(peer))
        log.info("call %s to %s for channel %s: INVITE", request.call_id, device_id, channel_id)
        task = asyncio.ensure_future(self._endpoint.request(request, peer, self.timeout_s))
        try:
            response = await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(
                lambda t: self._abandoned(t, request, device_id, channel_id, peer)
            )
            raise
        except SipTimeoutError:
            raise DeviceTimeoutError(
                f"device {device_id} did not answer the INVITE for channel {channel_id} "
                f"within {self.timeout_s:g} s"
            ) from None
        except SipTransportError as exc:
            raise DeviceOfflineError(f"device {device_id} cannot be reached: {exc}") from None
        if response.status >= 300:
            log.info(
                "device %s refused live video of %s (Call-ID %s): %d %s",
                device_id,
                channel_id,
                request.call_id,
                response.status,
                response.reason,
            )
            raise DeviceRejectedError(
                f"device {device_id} refused video of channel {channel_id}: "
                f"{response.status} {response.reason}",
                status=response.status,
            )
        return self._established(device_id, channel_id, peer, request, response)

    def _established(
        self, device_id: str, channel_id: str, peer: Peer, invite: Request, response: Response
    ) -> MediaCall:
        try:
            dialog = Dialog.from_uac(invite, response)
        except (DialogError, SipError) as exc:
            # no To tag: the call cannot be ended by BYE, but the device is sending anyway
            raise DeviceRejectedError(
                f"device {device_id} answered the INVITE without a usable dialog: {exc}",
                status=response.status,
            ) from None
        call = MediaCall(device_id, channel_id, peer, dialog, invite, response)
        self._calls[dialog.id] = call
        self._ack(call.dialog, response, peer)
        log.info("call %s to %s for channel %s established", call.call_id, device_id, channel_id)
        return call

    def _via(self, peer: Peer) -> Via:
        host, port = self._endpoint.via_for(peer)
        return Via(peer.transport, host, port, (("rport", None),))

    def _ack(self, dialog: Dialog, response: Response, peer: Peer) -> None:
        ack = dialog.create_ack(response, via=self._via(peer))
        self._send_ack(ack, peer)

    def _send_ack(self, ack: Request, peer: Peer) -> None:
        try:
            self._endpoint.send_stateless(ack, peer)
        except SipTransportError as exc:
            log.info("ACK (Call-ID %s) to %s not sent: %s", ack.call_id, peer, exc)

    async def hang_up(self, call: MediaCall) -> None:
        """Send BYE (once) and forget the call; errors are logged, not raised."""
        self._calls.pop(call.dialog.id, None)
        if call.hung_up or call.ended_by_device:
            return
        call.hung_up = True
        try:
            bye = call.dialog.create_request("BYE", via=self._via(call.peer))
            bye.headers.remove("Via")  # the endpoint adds the Via of the new transaction
            response = await self._endpoint.request(bye, call.peer, self.timeout_s)
        except (SipError, OSError) as exc:
            log.info("BYE for call %s to %s failed: %s", call.call_id, call.device_id, exc)
            return
        log.info(
            "call %s to %s for channel %s ended by us (BYE answered %d)",
            call.call_id,
            call.device_id,
            call.channel_id,
            response.status,
        )

    def call_for(self, request: Request) -> MediaCall | None:
        """The call an in-dialog request from a device belongs to (None: not one of ours)."""
        try:
            local, remote = request.to.tag or "", request.from_.tag or ""
        except SipError:
            return None
        if not local:
            return None
        return self._calls.get(DialogId(request.call_id, local, remote))

    async def send_in_dialog(
        self, call: MediaCall, method: str, content_type: str, body: bytes
    ) -> Response:
        """Send an in-dialog request (INFO for MANSRTSP) and return the device's answer."""
        if call.hung_up or call.ended_by_device:
            raise DeviceOfflineError(f"call {call.call_id} to {call.device_id} has ended")
        request = call.dialog.create_request(
            method, via=self._via(call.peer), body=body, headers=[("Content-Type", content_type)]
        )
        request.headers.remove("Via")  # the endpoint adds the Via of the new transaction
        try:
            return await self._endpoint.request(request, call.peer, self.timeout_s)
        except SipTimeoutError:
            raise DeviceTimeoutError(
                f"device {call.device_id} did not answer {method} in call {call.call_id}"
            ) from None
        except (SipTransportError, OSError) as exc:
            raise DeviceOfflineError(f"device {call.device_id} cannot be reached: {exc}") from None

    def handle_bye(self, incoming: IncomingRequest) -> Response:
        """``endpoint.on("BYE", ...)``: a device ends a call."""
        request = incoming.request
        try:
            local, remote = request.to.tag or "", request.from_.tag or ""
        except SipError:
            return build_response(request, 400)
        call = self._calls.get(DialogId(request.call_id, local, remote))
        if call is None:
            return build_response(request, 481)
        dialog = call.dialog
        status = dialog.receive_request(request)
        if status is not None:
            return build_response(request, status)
        self._calls.pop(dialog.id, None)
        call.ended_by_device = True
        log.info(
            "device %s ended call %s for channel %s (BYE)",
            call.device_id,
            call.call_id,
            call.channel_id,
        )
        if call.on_bye is not None:
            call.on_bye()
        return build_response(request, 200)

    def handle_stray_response(self, response: Response) -> None:
        """Re-ACK a retransmitted 2xx to one of our INVITEs (our ACK was lost)."""
        try:
            if response.cseq.method != "INVITE" or response.status // 100 != 2:
                return
            dialog_id = DialogId(response.call_id, response.from_.tag or "", response.to.tag or "")
        except SipError:
            return
        call = self._calls.get(dialog_id)
        if call is None:
            return
        ack = call.dialog.ack_for_retransmission(response)
        if ack is not None:
            self._send_ack(ack, call.peer)

    def _abandoned(
        self,
        task: asyncio.Task[Response],
        invite: Request,
        device_id: str,
        channel_id: str,
        peer: Peer,
    ) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        response = task.result()
        if response.status // 100 != 2:
            return
        log.info(
            "call %s to %s answered after its caller left: hanging up", invite.call_id, device_id
        )
        try:
            call = self._established(device_id, channel_id, peer, invite, response)
        except DeviceRejectedError:
            return
        hang_up = asyncio.ensure_future(self.hang_up(call))
        self._tasks.add(hang_up)
        hang_up.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Hang up every call still up."""
        await asyncio.gather(*(self.hang_up(c) for c in list(self._calls.values())))
        await asyncio.gather(*self._tasks, return_exceptions=True)
