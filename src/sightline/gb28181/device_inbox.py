"""What devices send: ``MESSAGE`` and ``NOTIFY`` requests, answered at once, then acted on.

Handlers answer synchronously (no task on the common path). Keepalives cost a regex match and
three dict stores (:mod:`.device_messages`), and the plain ones of devices at their known
address are answered from the lite scan (:meth:`DeviceInbox.keepalive_fast`), without the full
parse or a transaction. Any request from an online device shows it alive and, from a new
address (a NAT rebinding), moves it; unregistered senders get a 404.

Bodies are then dispatched: ``<Response>`` MESSAGEs to the pending queries (an unasked catalog
is merged into the directory), alarms to the store and the bus (a MESSAGE alarm gets the
Response the standard asks for), catalog changes to the directory, media status to
``on_media_status``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from sightline.events import AlarmReceived, EventBus
from sightline.gb28181.commands import new_tag
from sightline.gb28181.device_catalog import CatalogSync
from sightline.gb28181.device_messages import alarm_record, plain_keepalive, sender_id
from sightline.gb28181.device_queries import DeviceQueries, DeviceSession
from sightline.gb28181.device_writer import DeviceWriter
from sightline.gb28181.manscdp import (
    AlarmNotify,
    CatalogNotify,
    CatalogResponse,
    CmdType,
    Keepalive,
    ManscdpError,
    ManscdpMessage,
    MediaStatusNotify,
    Message,
    Result,
    ResultResponse,
    Root,
    UnknownMessage,
    decode,
)
from sightline.gb28181.online_devices import OnlineDevices
from sightline.gb28181.subscriptions import Subscriber
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.lite import LiteAnswer, LiteRequest
from sightline.sip.message import Response, build_response
from sightline.sip.transport import Peer

__all__ = ["DeviceInbox", "MediaStatusHandler"]

log = logging.getLogger(__name__)

_OK = LiteAnswer(200, [])

MediaStatusHandler = Callable[[str, MediaStatusNotify, IncomingRequest], None]
Spawn = Callable[[Coroutine[Any, Any, object]], None]


class DeviceInbox:
    """Answers and dispatches MESSAGE and NOTIFY requests from online devices."""

    def __init__(
        self,
        *,
        online: OnlineDevices,
        queries: DeviceQueries,
        catalog: CatalogSync,
        writer: DeviceWriter,
        bus: EventBus,
        spawn: Spawn,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
    ) -> None:
        self._online = online
        self._sessions = online.sessions
        self._queries = queries
        self._catalog = catalog
        self._writer = writer
        self._bus = bus
        self._spawn = spawn
        self._clock = clock
        self._wall_clock = wall_clock
        self.on_media_status: MediaStatusHandler | None = None

    def handle_message(self, incoming: IncomingRequest) -> Response:
        """Answer a MESSAGE at once; act on the body."""
        request = incoming.request
        device_id = sender_id(request)
        session = self._sessions.get(device_id) if device_id else None
        if session is None:
            log.debug("MESSAGE from unregistered %s at %s", device_id, incoming.peer)
            return build_response(request, 404, to_tag=new_tag())
        now = self._clock()
        if incoming.peer != session.peer:
            self._online.moved(session, incoming.peer)
        self._online.touch(session, now)
        if plain_keepalive(request.body):
            return build_response(request, 200, to_tag=new_tag())
        try:
            message = decode(request.body, session.charset)
        except ManscdpError as exc:
            log.info("device %s: bad MESSAGE body: %s", session.device_id, exc)
            return build_response(request, 400, f"Bad Request ({_short(exc)})", to_tag=new_tag())
        self._dispatch(session, message, incoming)
        return build_response(request, 200, to_tag=new_tag())

    def keepalive_fast(self, request: LiteRequest, peer: Peer) -> LiteAnswer | None:
        """A plain keepalive of an online device from its known address, answered from the
        lite scan; None (nothing changed) leaves anything else to :meth:`handle_message`."""
        session = self._sessions.get(request.from_user)
        if session is None or peer != session.peer or not plain_keepalive(request.body):
            return None
        self._online.touch(session, self._clock())
        return _OK

    def handle_notify(self, incoming: IncomingRequest, subscriber: Subscriber) -> Response:
        """Answer a NOTIFY through ``subscriber`` (which owns the subscriptions)."""
        # a parameter, not a field: the subscriber is built after the inbox, with our on_notify
        request = incoming.request
        device_id = sender_id(request)
        session = self._sessions.get(device_id) if device_id else None
        if session is None:
            return build_response(request, 404, to_tag=new_tag())
        if incoming.peer != session.peer:
            self._online.moved(session, incoming.peer)
        self._online.touch(session, self._clock())
        return subscriber.handle_notify(incoming, session.device_id, session.charset)

    def on_notify(self, device_id: str, message: ManscdpMessage, incoming: IncomingRequest) -> None:
        """The subscriber's ``on_notify``: the body of a NOTIFY in one of our subscriptions."""
        session = self._sessions.get(device_id)
        if session is None:
            return
        if isinstance(message, CatalogNotify):
            self._spawn(self._catalog.apply_events(device_id, message.items))
        elif isinstance(message, AlarmNotify):
            self._on_alarm(session, message, incoming.request.body, answer=False)
        else:
            self._dispatch(session, message, incoming)

    def _dispatch(
        self, session: DeviceSession, message: ManscdpMessage, incoming: IncomingRequest
    ) -> None:
        device_id = session.device_id
        if isinstance(message, UnknownMessage):
            log.debug("device %s: unhandled %s %s", device_id, message.root, message.cmd_type)
        elif message.ROOT is Root.RESPONSE:
            self._on_response(device_id, message)
        elif isinstance(message, Keepalive):
            if message.status is Result.ERROR:
                log.info("device %s reports faults: %s", device_id, message.fault_devices)
        elif isinstance(message, AlarmNotify):
            self._on_alarm(session, message, incoming.request.body, answer=True)
        elif isinstance(message, CatalogNotify):
            self._spawn(self._catalog.apply_events(device_id, message.items))
        elif isinstance(message, MediaStatusNotify):
            log.info("device %s: media status %s", device_id, message.notify_type)
            if self.on_media_status is not None:
                self.on_media_status(device_id, message, incoming)
        else:
            log.debug("device %s: ignored %s %s", device_id, message.ROOT, message.command)

    def _on_response(self, device_id: str, message: Message) -> None:
        if self._queries.on_response(device_id, message):
            return
        if isinstance(message, CatalogResponse) and message.items:
            # merged, never replacing: a lone SumNum=1 push must not wipe a channel list
            self._spawn(self._catalog.store(device_id, message.items, complete=False))
        else:
            log.debug("device %s: uncorrelated %s SN %d", device_id, message.command, message.sn)

    def _on_alarm(
        self, session: DeviceSession, alarm: AlarmNotify, body: bytes, *, answer: bool
    ) -> None:
        at = self._wall_clock()
        raw = body.decode("gb18030", errors="replace")
        record = alarm_record(session.device_id, alarm, raw, at)
        self._writer.alarm(record)
        self._bus.publish(
            AlarmReceived(
                device_id=session.device_id,
                channel_id=record.channel_id,
                priority=record.priority,
                method=record.method,
                alarm_type=record.alarm_type,
                description=record.description or None,
                at=at,
            )
        )
        if answer:  # the standard answers an alarm MESSAGE with a Response MESSAGE (A.2.5)
            receipt = ResultResponse(
                sn=alarm.sn, device_id=alarm.device_id, cmd_type=CmdType.ALARM, result=Result.OK
            )
            self._spawn(self._queries.send(session, alarm.device_id, receipt))


def _short(exc: Exception) -> str:
    return str(exc).replace("\r", " ").replace("\n", " ")[:80]
