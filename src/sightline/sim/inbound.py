"""Requests the platform sends to simulated devices: MESSAGE and SUBSCRIBE.

One handler per method for the whole fleet: the device is found from the Request-URI user (a
device ID, or a channel ID, which some platforms address directly). Every MESSAGE is answered
with a bodyless 200 at once; the MANSCDP Response goes out afterwards as a separate MESSAGE
(the standard's two-step answer), sent by the host. An INVITE handler for live video (issue 5)
plugs in the same way: ``endpoint.on("INVITE", ...)`` and :meth:`SimHost.find`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sightline.gb28181.manscdp import (
    AlarmQuery,
    CatalogEvent,
    CatalogQuery,
    ManscdpError,
    Message,
    decode,
)
from sightline.sim.answers import react
from sightline.sim.device import DeviceState, SimDevice, Subscription
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.errors import SipParseError
from sightline.sip.fields import NameAddr
from sightline.sip.message import Request, Response, build_response

__all__ = ["Inbound", "Outbox"]

log = logging.getLogger(__name__)

_DEFAULT_SUBSCRIBE_EXPIRES = 600  # the standard's default for catalog subscriptions


class Outbox(Protocol):
    """What the handlers need from the host."""

    def find(self, target_id: str) -> SimDevice | None:
        """The device that owns a device or channel ID."""

    def contact(self, device: SimDevice) -> str:
        """The Contact value of ``device``."""

    def send_replies(self, device: SimDevice, replies: tuple[Message, ...]) -> None:
        """Send Response bodies as MESSAGEs, one after another, in the background."""

    def send_catalog_notify(
        self, device: SimDevice, sub: Subscription, event: CatalogEvent, channels: list[int]
    ) -> None:
        """NOTIFY ``channels`` with ``event`` in subscription ``sub``, in the background."""

    def reboot(self, device: SimDevice) -> None:
        """Take the device away and bring it back (TeleBoot)."""


def request_user(uri: str) -> str:
    """The user part of a SIP URI: ``sip:3402...@3402000000`` -> ``3402...``."""
    rest = uri.split(":", 1)[-1]
    return rest.split("@", 1)[0].split(";", 1)[0] if "@" in rest else ""


class Inbound:
    """MESSAGE and SUBSCRIBE handlers for a fleet."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        clock: Callable[[], float],
        local_time: Callable[[], datetime],
    ) -> None:
        self._outbox = outbox
        self._clock = clock
        self._local_time = local_time
        self.answered = 0

    def _device(self, request: Request) -> SimDevice | None:
        device = self._outbox.find(request_user(request.uri))
        if device is None or device.state in (DeviceState.OFFLINE, DeviceState.STOPPED):
            return None
        # REGISTERING too: the platform may query right after its 200, and that MESSAGE can
        # be handled before the coroutine waiting for the 200 has run
        return device

    def on_message(self, incoming: IncomingRequest) -> Response:
        """Answer 200 at once and queue the MANSCDP Response, if the command has one."""
        request = incoming.request
        device = self._device(request)
        if device is None:
            return build_response(request, 404, to_tag=_tag())
        try:
            msg = decode(request.body)
        except ManscdpError as exc:
            log.info("device %s: undecodable MESSAGE body: %s", device.device_id, exc)
            return build_response(request, 400, f"Bad Request ({exc})"[:120], to_tag=_tag())
        reaction = react(device, msg, self._clock(), self._local_time())
        self.answered += 1
        if reaction.replies:
            self._outbox.send_replies(device, reaction.replies)
        if reaction.reboot:
            self._outbox.reboot(device)
        return build_response(request, 200, to_tag=_tag())

    def on_subscribe(self, incoming: IncomingRequest) -> Response:
        """Accept catalog and alarm subscriptions; NOTIFY the catalog after the 200."""
        request = incoming.request
        device = self._device(request)
        if device is None:
            return build_response(request, 404, to_tag=_tag())
        try:
            msg = decode(request.body)
            expires = _expires(request)
        except (ManscdpError, SipParseError) as exc:
            return build_response(request, 400, f"Bad Request ({exc})"[:120], to_tag=_tag())
        if isinstance(msg, CatalogQuery):
            return self._catalog(device, request, expires)
        if isinstance(msg, AlarmQuery):
            # alarms still go out as MESSAGEs, as most devices do; the subscription only counts
            device.extra().alarm_until = self._clock() + expires
            return build_response(
                request, 200, to_tag=request.to.tag or _tag(), headers=[("Expires", str(expires))]
            )
        return build_response(request, 489, to_tag=_tag())

    def _catalog(self, device: SimDevice, request: Request, expires: int) -> Response:
        extras = device.extra()
        sub = extras.catalog_sub
        in_dialog = request.to.tag
        if in_dialog is not None and (
            sub is None or sub.call_id != request.call_id or sub.local_tag != in_dialog
        ):
            return build_response(request, 481)
        if expires == 0:
            extras.catalog_sub = None
            return build_response(request, 200, to_tag=_tag(), headers=[("Expires", "0")])
        if sub is None or in_dialog is None:
            sub = Subscription(
                call_id=request.call_id,
                local_tag=_tag(),
                remote=request.headers.get("From", ""),
                target=_target(request),
                event=request.headers.get("Event") or "Catalog",
                expires_at=0.0,
            )
            extras.catalog_sub = sub
        sub.expires_at = self._clock() + expires
        response = build_response(
            request,
            200,
            to_tag=sub.local_tag,
            headers=[("Expires", str(expires)), ("Contact", self._outbox.contact(device))],
        )
        channels = list(range(device.channel_count))
        self._outbox.send_catalog_notify(device, sub, CatalogEvent.ADD, channels)
        return response


def _tag() -> str:
    return secrets.token_hex(4)


def _expires(request: Request) -> int:
    value = request.headers.get("Expires")
    if value is None:
        return _DEFAULT_SUBSCRIBE_EXPIRES
    value = value.strip()
    if not value.isdigit():
        raise SipParseError(f"bad Expires {value!r}")
    return int(value)


def _target(request: Request) -> str:
    contact = request.headers.get("Contact")
    if contact:
        try:
            return NameAddr.parse(contact).uri
        except SipParseError:
            pass
    return request.from_.uri
