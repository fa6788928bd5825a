"""Catalog and alarm subscriptions to devices (SUBSCRIBE/NOTIFY, RFC 3265/6665, §4.4 of the notes).

:class:`SubscriptionTable` is the sans-IO part: which subscriptions exist, which NOTIFY belongs
to which (by Call-ID, since the NOTIFY may overtake the 200 to the SUBSCRIBE), and when each
must be refreshed (``next_deadline``/``due``). :class:`Subscriber` sends the SUBSCRIBEs and
answers NOTIFYs; what a NOTIFY *means* (catalog changes, alarms) is handed to a callback.

Event packages: catalog subscriptions send ``Event: Catalog;id=<SN>`` (2016 P.4.1); alarm
subscriptions send ``Event: presence`` with an Alarm query (J.18). Received NOTIFYs are matched
by Call-ID, so any spelling of the event header is accepted. A subscription is refreshed in its
dialog (same Call-ID, the device's To tag, CSeq + 1) at 80% of the granted expiry; a refresh
refused with 481 (the device forgot it, e.g. after a reboot) starts a new one. Devices that do
not support subscriptions answer 4xx or nothing; that is logged once and not retried until
the device registers again. Route sets are not kept: requests always go to the registration's
address (see :mod:`.commands`).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sightline.gb28181.commands import (
    MANSCDP_CONTENT_TYPE,
    Addressing,
    SubscribeParams,
    new_call_id,
    new_tag,
    send,
    subscribe_request,
)
from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.manscdp import (
    AlarmQuery,
    CatalogQuery,
    CmdType,
    Edition,
    ManscdpError,
    ManscdpMessage,
    Message,
    Result,
    ResultResponse,
    SnCounter,
    UnknownMessage,
    decode,
)
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.errors import SipError
from sightline.sip.message import Request, Response, build_response
from sightline.sip.transport import Peer

__all__ = ["Subscriber", "Subscription", "SubscriptionKind", "SubscriptionTable", "Target"]

log = logging.getLogger(__name__)

_REFRESH_FRACTION = 0.8
_RECEIPTED = frozenset({CmdType.CATALOG.value, CmdType.ALARM.value})


class SubscriptionKind(Enum):
    """The two subscriptions the platform keeps per device."""

    CATALOG = "catalog"
    ALARM = "alarm"


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to reach a device."""

    peer: Peer
    charset: str
    edition: Edition


class Subscription:
    """One subscription dialog; ``from_tag`` is derived from the Call-ID to save memory."""

    __slots__ = ("call_id", "cseq", "device_id", "expires_s", "kind", "refresh_at", "to_tag")

    def __init__(
        self, device_id: str, kind: SubscriptionKind, call_id: str, expires_s: int
    ) -> None:
        self.device_id = device_id
        self.kind = kind
        self.call_id = call_id
        self.expires_s = expires_s
        self.cseq = 1
        self.to_tag: str | None = None
        self.refresh_at = 0.0

    @property
    def from_tag(self) -> str:
        """Our tag in this dialog."""
        return self.call_id[:10]


class SubscriptionTable:
    """Subscriptions by Call-ID and by (device, kind), with their refresh times. Sans-IO."""

    def __init__(self) -> None:
        self._by_call: dict[str, Subscription] = {}
        self._by_key: dict[tuple[str, SubscriptionKind], Subscription] = {}
        self._heap: list[tuple[float, str]] = []
        self._per_kind = dict.fromkeys(SubscriptionKind, 0)

    def __len__(self) -> int:
        return len(self._by_call)

    def count(self, kind: SubscriptionKind) -> int:
        """How many devices have a subscription of ``kind`` (asked or established)."""
        return self._per_kind[kind]

    def add(self, sub: Subscription) -> None:
        """Track ``sub``, replacing the device's previous subscription of that kind."""
        old = self._by_key.get((sub.device_id, sub.kind))
        if old is not None:
            self._by_call.pop(old.call_id, None)
        else:
            self._per_kind[sub.kind] += 1
        self._by_call[sub.call_id] = sub
        self._by_key[(sub.device_id, sub.kind)] = sub

    def get(self, device_id: str, kind: SubscriptionKind) -> Subscription | None:
        """The device's subscription of ``kind``."""
        return self._by_key.get((device_id, kind))

    def by_call_id(self, call_id: str) -> Subscription | None:
        """The subscription a NOTIFY with this Call-ID belongs to."""
        return self._by_call.get(call_id)

    def remove(self, sub: Subscription) -> None:
        """Forget ``sub`` (its refresh entry is dropped lazily)."""
        if self._by_call.get(sub.call_id) is sub:
            del self._by_call[sub.call_id]
        if self._by_key.get((sub.device_id, sub.kind)) is sub:
            del self._by_key[(sub.device_id, sub.kind)]
            self._per_kind[sub.kind] -= 1

    def remove_device(self, device_id: str) -> list[Subscription]:
        """Forget every subscription of ``device_id``; returns them."""
        gone = [s for k in SubscriptionKind if (s := self._by_key.get((device_id, k))) is not None]
        for sub in gone:
            self.remove(sub)
        return gone

    def schedule(self, sub: Subscription, granted_s: int, now: float) -> None:
        """The device granted ``granted_s``; refresh at 80% of it."""
        sub.expires_s = granted_s
        sub.refresh_at = now + granted_s * _REFRESH_FRACTION
        heapq.heappush(self._heap, (sub.refresh_at, sub.call_id))

    def next_deadline(self) -> float | None:
        """When the next refresh is due."""
        while self._heap and not self._live(*self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> list[Subscription]:
        """Subscriptions to refresh now (each is returned once per schedule)."""
        out: list[Subscription] = []
        while self._heap and self._heap[0][0] <= now:
            at, call_id = heapq.heappop(self._heap)
            if self._live(at, call_id):
                out.append(self._by_call[call_id])
        return out

    def _live(self, at: float, call_id: str) -> bool:
        sub = self._by_call.get(call_id)
        return sub is not None and sub.refresh_at == at


NotifyHandler = Callable[[str, ManscdpMessage, IncomingRequest], None]


class Subscriber:
    """Sends SUBSCRIBEs and answers NOTIFYs for the device manager."""

    def __init__(
        self,
        *,
        endpoint: SipEndpoint,
        addressing: Addressing,
        sn: SnCounter,
        on_notify: NotifyHandler,
        timeout_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.table = SubscriptionTable()
        self._endpoint = endpoint
        self._addressing = addressing
        self._sn = sn
        self._on_notify = on_notify
        self._timeout_s = timeout_s
        self._clock = clock

    async def subscribe(
        self, device_id: str, kind: SubscriptionKind, expires_s: int, target: Target
    ) -> Subscription | None:
        """Start a subscription; None (logged) when the device refuses or does not answer."""
        sub = Subscription(device_id, kind, new_call_id(), expires_s)
        self.table.add(sub)  # before sending: the first NOTIFY may beat the 200
        try:
            await self._send(sub, target, expires_s)
        except Gb28181Error as exc:
            self.table.remove(sub)
            log.info("device %s: %s subscription not established: %s", device_id, kind.value, exc)
            return None
        return sub

    async def refresh(self, sub: Subscription, target: Target) -> None:
        """Refresh ``sub`` in its dialog; start over if the device lost it."""
        try:
            await self._send(sub, target, sub.expires_s)
        except Gb28181Error as exc:
            self.table.remove(sub)
            log.info(
                "device %s: %s subscription refresh failed (%s); subscribing again",
                sub.device_id,
                sub.kind.value,
                exc,
            )
            await self.subscribe(sub.device_id, sub.kind, sub.expires_s, target)

    def drop_device(self, device_id: str) -> None:
        """The device went offline: its subscriptions are void (no SUBSCRIBE 0 is sent)."""
        self.table.remove_device(device_id)

    async def _send(self, sub: Subscription, target: Target, expires_s: int) -> None:
        body = self._addressing.body(self._body(sub), target.charset, target.edition)
        params = SubscribeParams(
            event=self._event(sub),
            expires_s=expires_s,
            call_id=sub.call_id,
            from_tag=sub.from_tag,
            cseq=sub.cseq,
            contact=self._contact(target.peer),
            to_tag=sub.to_tag,
        )
        sub.cseq += 1
        request = subscribe_request(self._addressing, sub.device_id, body, params)
        response = await send(self._endpoint, request, target.peer, self._timeout_s)
        with contextlib.suppress(SipError):
            sub.to_tag = response.to.tag or sub.to_tag
        granted = _granted_expires(response, expires_s)
        if granted > 0 and self.table.by_call_id(sub.call_id) is sub:
            self.table.schedule(sub, granted, self._clock())

    def _body(self, sub: Subscription) -> Message:
        sn = self._sn.next()
        if sub.kind is SubscriptionKind.CATALOG:
            return CatalogQuery(sn=sn, device_id=sub.device_id)
        return AlarmQuery(
            sn=sn, device_id=sub.device_id, start_alarm_priority=0, end_alarm_priority=0
        )

    def _event(self, sub: Subscription) -> str:
        if sub.kind is SubscriptionKind.CATALOG:
            return f"Catalog;id={self._sn.peek()}"
        return "presence"

    def _contact(self, peer: Peer) -> str:
        host, port = self._endpoint.local_addresses.get(peer.transport, ("127.0.0.1", 5060))
        return f"<sip:{self._addressing.platform_id}@{host}:{port}>"

    def handle_notify(self, incoming: IncomingRequest, device_id: str, charset: str) -> Response:
        """Answer a NOTIFY from ``device_id`` and hand its body to the callback."""
        request = incoming.request
        sub = self.table.by_call_id(request.call_id)
        if sub is None or sub.device_id != device_id:
            return build_response(request, 481, to_tag=new_tag())
        state = (request.headers.get("Subscription-State") or "").strip().lower()
        if state.startswith("terminated"):
            self.table.remove(sub)
            log.info("device %s ended its %s subscription", device_id, sub.kind.value)
        if not request.body.strip():
            return build_response(request, 200)
        try:
            message = decode(request.body, charset)
        except ManscdpError as exc:
            log.info("device %s: bad NOTIFY body (Call-ID %s): %s", device_id, sub.call_id, exc)
            return build_response(request, 400, f"Bad Request ({str(exc)[:80]})")
        self._on_notify(device_id, message, incoming)
        return _notify_ok(request, message, charset, self._addressing)


def _notify_ok(
    request: Request, message: ManscdpMessage, charset: str, addressing: Addressing
) -> Response:
    """200 with the ``<Response>…<Result>OK</Result>`` receipt the standard shows for NOTIFY."""
    if isinstance(message, UnknownMessage) or message.command not in _RECEIPTED:
        return build_response(request, 200)
    receipt = ResultResponse(
        sn=message.sn,
        device_id=message.device_id,
        cmd_type=CmdType(message.command),
        result=Result.OK,
    )
    body = addressing.body(receipt, charset, Edition.V2016)
    return build_response(request, 200, headers=[("Content-Type", MANSCDP_CONTENT_TYPE)], body=body)


def _granted_expires(response: Response, asked_s: int) -> int:
    value = (response.headers.get("Expires") or "").strip()
    return int(value) if value.isdigit() else asked_s
