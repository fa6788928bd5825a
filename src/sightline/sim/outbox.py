"""MANSCDP bodies out of simulated devices: Response MESSAGEs, catalog NOTIFYs, SNs, Call-IDs.

Multi-message answers go out serially, each after the previous one's 200, as the standard's
Annex N/M asks; a failure or an error status stops the rest.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from sightline.gb28181.manscdp import CatalogEvent, CatalogNotify, Message, SnCounter, encode
from sightline.sim.device import SimDevice, Subscription
from sightline.sim.requests import message_request, notify_request
from sightline.sip.errors import SipError
from sightline.sip.message import Request, Response

if TYPE_CHECKING:
    from sightline.sim.host import SimHost

__all__ = ["Messenger"]

log = logging.getLogger(__name__)


class Messenger:
    """Sends what a host's devices originate."""

    def __init__(self, host: SimHost) -> None:
        self._host = host
        self._sn = SnCounter()
        self._token = secrets.token_hex(4)
        self._call_seq = 0

    def next_call_id(self) -> str:
        """A Call-ID for a new out-of-dialog request."""
        self._call_seq += 1
        return f"{self._token}{self._call_seq:x}@{self._host.local_address[0]}"

    def encode(self, msg: Message) -> bytes:
        """A MANSCDP body in the fleet's charset and edition."""
        return encode(msg, self._host.config.charset, edition=self._host.config.edition)

    def next_sn(self) -> int:
        """An SN for a message the device originates."""
        return self._sn.next()

    async def send_body(self, device: SimDevice, body: bytes) -> Response:
        """Send one MANSCDP body to the platform in a MESSAGE; its final response."""
        endpoint, peer = await self._host.route(device)
        config = self._host.config
        request = message_request(
            device_id=device.device_id,
            to_uri=f"sip:{config.server_id}@{config.realm}",
            domain=config.realm,
            call_id=self.next_call_id(),
            from_tag=secrets.token_hex(4),
            body=body,
        )
        return await endpoint.request(request, peer)

    def send_replies(self, device: SimDevice, replies: tuple[Message, ...]) -> None:
        """Send Response bodies one after another (each waits for the previous 200)."""
        self._host.spawn(self._send_serially(device, [self.encode(r) for r in replies]))

    async def _send_serially(self, device: SimDevice, bodies: list[bytes]) -> None:
        for body in bodies:
            try:
                response = await self.send_body(device, body)
            except SipError as exc:
                log.info("device %s: response MESSAGE failed: %s", device.device_id, exc)
                return
            if response.status >= 300:
                log.info("device %s: platform answered %d", device.device_id, response.status)
                return

    def send_catalog_notify(
        self, device: SimDevice, sub: Subscription, event: CatalogEvent, channels: list[int]
    ) -> None:
        """NOTIFY catalog items of ``channels`` with ``event`` in ``sub``, paged."""
        items = [device.catalog_item(k, event) for k in channels]
        size = self._host.config.catalog_page_size
        sn = self.next_sn()
        bodies = [
            self.encode(
                CatalogNotify(
                    sn=sn,
                    device_id=device.device_id,
                    sum_num=len(items),
                    items=tuple(items[i : i + size]),
                )
            )
            for i in range(0, len(items), size)
        ]
        self._host.spawn(self._notify_serially(device, sub, bodies))

    async def _notify_serially(
        self, device: SimDevice, sub: Subscription, bodies: list[bytes]
    ) -> None:
        for body in bodies:
            left = round(sub.expires_at - self._host.now())
            if left <= 0 or device.extra().catalog_sub is not sub:
                return
            request: Request = notify_request(
                sub,
                device_id=device.device_id,
                domain=self._host.config.realm,
                contact=self._host.contact(device),
                state=f"active;expires={left}",
                body=body,
            )
            try:
                endpoint, peer = await self._host.route(device)
                response = await endpoint.request(request, peer)
            except SipError as exc:
                log.info("device %s: catalog NOTIFY failed: %s", device.device_id, exc)
                return
            if response.status >= 300:
                return
