"""Device sessions: who is online, keepalives, MESSAGE/NOTIFY handling, queries and controls.

:class:`DeviceManager` sits between the SIP endpoint and the services above it:

* the registrar's ``on_change`` calls :meth:`DeviceManager.on_registration`; a new device gets
  a :class:`DeviceSession`, is stored (write-behind, :mod:`.device_writer`), announced with
  ``DeviceOnline`` and queued for onboarding (DeviceInfo, Catalog, subscriptions), which a
  fixed pool of workers runs, paced and retried (:mod:`.onboarding`);
* ``MESSAGE`` and ``NOTIFY`` handlers answer synchronously (no task on the common path);
  keepalives cost a regex match and three dict stores (:mod:`.device_messages`), and the
  plain ones of devices at their known address are answered from the lite scan
  (:meth:`DeviceManager.keepalive_fast`), without the full parse or a transaction;
* queries send a MESSAGE and wait for the ``<Response>`` MESSAGEs, matched and reassembled by
  :mod:`.correlator`;
* one timer task drives keepalive deadlines (:mod:`.keepalive`), query deadlines and
  subscription refreshes (:mod:`.subscriptions`); one flush task writes the store.

Requests always go to ``session.peer``, the address the registration (or, after a NAT
rebinding, the latest MESSAGE) came from; never to an address written in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from sightline.config import Gb28181Settings
from sightline.events import (
    AlarmReceived,
    CatalogUpdated,
    DeviceOffline,
    DeviceOnline,
    EventBus,
)
from sightline.gb28181.commands import Addressing, new_tag
from sightline.gb28181.device_messages import (
    alarm_record,
    plain_keepalive,
    sender_id,
)
from sightline.gb28181.device_queries import DeviceQueries, DeviceSession
from sightline.gb28181.device_writer import DeviceInfoPatch, DeviceWriter, Registration
from sightline.gb28181.errors import (
    DeviceOfflineError,
    Gb28181Error,
    UnknownDeviceError,
)
from sightline.gb28181.keepalive import KeepaliveTracker
from sightline.gb28181.manscdp import (
    AlarmNotify,
    CatalogItem,
    CatalogNotify,
    CatalogResponse,
    CmdType,
    ConfigDownloadResponse,
    DeviceControl,
    DeviceInfoResponse,
    DeviceStatusResponse,
    Edition,
    Keepalive,
    ManscdpError,
    ManscdpMessage,
    MediaStatusNotify,
    Message,
    PresetItem,
    RecordItem,
    Result,
    ResultResponse,
    Root,
    SnCounter,
    UnknownMessage,
    decode,
)
from sightline.gb28181.onboarding import Onboarding
from sightline.gb28181.ptz import PtzCommand
from sightline.gb28181.registrar import Binding, Registrar
from sightline.gb28181.subscriptions import Subscriber, SubscriptionKind
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.lite import LiteAnswer, LiteRequest
from sightline.sip.message import Response, build_response
from sightline.sip.transport import Peer
from sightline.store import Database, DeviceRepository, GbVersion, StoreError

__all__ = ["CatalogSink", "DeviceManager", "DeviceSession", "MediaStatusHandler"]

log = logging.getLogger(__name__)

DEFAULT_CHARSET = "GB2312"
_LOAD_PAGE = 5000
_OK = LiteAnswer(200, [])
_M = TypeVar("_M", bound=Message)


class CatalogSink(Protocol):
    """Where catalogs go (the directory service implements it)."""

    async def import_catalog(
        self, device_id: str, items: Sequence[CatalogItem], *, complete: bool
    ) -> int:
        """Store a device's catalog; ``complete`` False means merge, never delete."""

    async def apply_catalog_events(self, device_id: str, items: Sequence[CatalogItem]) -> None:
        """Apply NOTIFY ADD/DEL/UPDATE/ON/OFF items."""


MediaStatusHandler = Callable[[str, MediaStatusNotify, IncomingRequest], None]


class DeviceManager:
    """Online devices and everything the platform says to them."""

    def __init__(
        self,
        *,
        endpoint: SipEndpoint,
        database: Database,
        bus: EventBus,
        directory: CatalogSink,
        settings: Gb28181Settings,
        platform_id: str,
        domain: str,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._endpoint = endpoint
        self._database = database
        self._bus = bus
        self._directory = directory
        self._settings = settings
        self._clock = clock
        self._wall_clock = wall_clock
        self.addressing = Addressing(platform_id, domain)
        self._sn = SnCounter()
        self._sessions: dict[str, DeviceSession] = {}
        self._known: set[str] = set()
        self._ha1: dict[str, str] = {}
        self._charsets: dict[str, str] = {}
        self._keepalive = KeepaliveTracker(
            settings.keepalive_interval_s * settings.keepalive_timeout_count
        )
        self._writer = DeviceWriter(database, clock, wall_clock)
        self._flush_lock = asyncio.Lock()
        self.subscriber = Subscriber(
            endpoint=endpoint,
            addressing=self.addressing,
            sn=self._sn,
            on_notify=self._on_notify,
            timeout_s=settings.query_timeout_s,
            clock=clock,
        )
        self._queries = DeviceQueries(
            endpoint=endpoint,
            addressing=self.addressing,
            settings=settings,
            sn=self._sn,
            require=self._require,
            clock=clock,
            wake_for=self._wake_for,
        )
        self._registrar: Registrar | None = None
        self.onboarding = Onboarding(self._onboard, self.is_online, clock=clock)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._scheduled: float | None = None
        self.on_media_status: MediaStatusHandler | None = None
        # told every per-device HA1 change (the REGISTER workers keep a copy)
        self.on_ha1_change: Callable[[str, str | None], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def attach_registrar(self, registrar: Registrar) -> None:
        """Drop bindings of devices that missed their keepalives; follow their refreshes."""
        self._registrar = registrar
        registrar.on_refresh = self.on_refresh

    async def start(self) -> None:
        """Load known devices (passwords, charsets), then start the timer and flush tasks."""
        await self._load_known()
        self._loops = [
            asyncio.ensure_future(self._timer_loop()),
            asyncio.ensure_future(self._flush_loop()),
            *self.onboarding.start(),
        ]

    async def stop(self) -> None:
        """Stop the tasks and write what is still queued."""
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops.clear()
        self._queries.fail_all(DeviceOfflineError("device manager stopped"))
        for session in self._sessions.values():  # the stored times lag: the exact ones
            if session.last_seen > session.seen_stored:
                self._writer.touch(session.device_id, session.last_seen)
        await self.flush()

    async def flush(self) -> None:
        """Write queued device state now (also done every ``store_flush_interval_s``)."""
        async with self._flush_lock:
            await self._writer.flush()

    async def _load_known(self) -> None:
        stale: list[str] = []
        offset = 0
        while True:
            async with self._database.session() as session:
                page = await DeviceRepository(session).list(limit=_LOAD_PAGE, offset=offset)
            for device in page:
                self._remember(device.id, device.password_ha1, device.realm, device.charset)
                if device.online and device.id not in self._sessions:
                    stale.append(device.id)
            if len(page) < _LOAD_PAGE:
                break
            offset += _LOAD_PAGE
        at = self._wall_clock()
        for device_id in stale:  # online in the store, but nothing here knows them any more
            self._writer.online_state(device_id, False, "restart", at)
        log.info("loaded %d known devices (%d marked offline)", len(self._known), len(stale))

    def _remember(self, device_id: str, ha1: str | None, realm: str | None, charset: str) -> None:
        self._known.add(device_id)
        if ha1 and realm and realm.lower() == self.addressing.domain.lower():
            self._ha1[device_id] = ha1
        if charset and charset.upper() != DEFAULT_CHARSET:
            self._charsets[device_id] = charset

    def ha1_for(self, device_id: str) -> str | None:
        """The device's own HA1 for this realm, if it has one (for ``Registrar(ha1_for=...)``)."""
        return self._ha1.get(device_id)

    def ha1_snapshot(self) -> dict[str, str]:
        """Every device's own HA1 for this realm (for REGISTER worker processes)."""
        return dict(self._ha1)

    def set_device_password_ha1(self, device_id: str, ha1: str | None) -> None:
        """Update the in-memory HA1 cache after the store changed a device's password."""
        if ha1 is None:
            self._ha1.pop(device_id, None)
        else:
            self._ha1[device_id] = ha1
        if self.on_ha1_change is not None:
            self.on_ha1_change(device_id, ha1)

    # -- registration and liveness -------------------------------------------------------

    def on_registration(self, binding: Binding, online: bool) -> None:
        """The registrar's ``on_change``: a device registered, or its registration ended."""
        now = self._clock()
        if not online:
            reason = "expired" if binding.expires_at <= now else "unregister"
            self._go_offline(binding.device_id, reason)
            return
        wall = self._wall_clock()
        charset = self._charsets.get(binding.device_id, DEFAULT_CHARSET)
        session = DeviceSession(binding, charset, wall, now)
        self._sessions[binding.device_id] = session
        self._known.add(binding.device_id)
        self._touch(session, now)
        self._writer.registered(
            Registration(
                device_id=binding.device_id,
                transport=binding.peer.transport,
                gb_version=_gb_version(session.edition),
                remote_host=binding.peer.host,
                remote_port=binding.peer.port,
                contact=binding.contact,
                expires_s=max(0, round(binding.expires_at - now)),
                at=wall,
            )
        )
        remote = f"{binding.peer.host}:{binding.peer.port}"
        self._bus.publish(DeviceOnline(binding.device_id, wall, binding.peer.transport, remote))
        self.onboarding.arrived()
        self.onboarding.put(binding.device_id)

    def on_refresh(self, was: Binding, binding: Binding) -> None:
        """The registrar's ``on_refresh``: an online device registered again.

        The cheap path of a re-registration storm: no queries. The REGISTER shows the device
        alive (its keepalive deadline moves, so a storm slower than the keepalive timeout
        loses nobody), requests follow it to a new address at once, and a new Call-ID (a
        restarted device: RFC 3261 §10.2.4 keeps it across refreshes) means the device has
        lost our subscriptions, so they alone are made again.
        """
        session = self._sessions.get(binding.device_id)
        if session is None:
            return
        now = self._clock()
        self._touch(session, now)
        session.expires_at = binding.expires_at
        session.contact = binding.contact
        if binding.peer != session.peer:
            self._moved(session, binding.peer)
        if binding.call_id != was.call_id:
            log.debug("device %s registered with a new Call-ID: restarted", binding.device_id)
            self.subscriber.drop_device(binding.device_id)
            self.onboarding.arrived()
            self.onboarding.resubscribe(binding.device_id)

    def _touch(self, session: DeviceSession, now: float) -> None:
        session.last_seen = now
        is_new = session.device_id not in self._keepalive
        self._keepalive.touch(session.device_id, now)
        if now - session.seen_stored >= self._settings.last_seen_store_s:
            # the stored time lags by up to last_seen_store_s: one row write per device per
            # interval instead of per keepalive (the API shows session.last_seen while online)
            session.seen_stored = now
            self._writer.touch(session.device_id, now)
        if is_new:
            self._wake_for(now + self._keepalive.timeout_s)

    def last_seen(self, device_id: str) -> datetime | None:
        """When an online device was last heard from (None when it is offline)."""
        session = self._sessions.get(device_id)
        if session is None:
            return None
        return self._wall_clock() - timedelta(seconds=self._clock() - session.last_seen)

    def _go_offline(self, device_id: str, reason: str) -> None:
        session = self._sessions.pop(device_id, None)
        self._keepalive.remove(device_id)
        self.subscriber.drop_device(device_id)
        if session is None:
            return
        self._writer.touch(device_id, session.last_seen)  # the store's last_seen may lag
        if reason == "keepalive-timeout" and self._registrar is not None:
            self._registrar.forget(device_id)
        at = self._wall_clock()
        self._writer.online_state(device_id, False, reason, at)
        self._bus.publish(DeviceOffline(device_id, at, reason))
        log.info("device %s offline (%s)", device_id, reason)

    def is_online(self, device_id: str) -> bool:
        """Whether the device is registered and keeping alive."""
        return device_id in self._sessions

    def session(self, device_id: str) -> DeviceSession | None:
        """The device's session while it is online."""
        return self._sessions.get(device_id)

    @property
    def online_count(self) -> int:
        """How many devices are online."""
        return len(self._sessions)

    # -- MESSAGE and NOTIFY --------------------------------------------------------------

    def handle_message(self, incoming: IncomingRequest) -> Response:
        """``endpoint.on("MESSAGE", ...)``: answer at once; act on the body."""
        request = incoming.request
        device_id = sender_id(request)
        session = self._sessions.get(device_id) if device_id else None
        if session is None:
            log.debug("MESSAGE from unregistered %s at %s", device_id, incoming.peer)
            return build_response(request, 404, to_tag=new_tag())
        now = self._clock()
        if incoming.peer != session.peer:
            self._moved(session, incoming.peer)
        self._touch(session, now)
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
        """``endpoint.on_fast("MESSAGE", ...)``: a plain keepalive of an online device from its
        known address, answered from the lite scan (most of what a fleet sends). Anything
        else (a 404, a moved device, a fault report, another MESSAGE) is left to
        :meth:`handle_message`, with nothing changed."""
        session = self._sessions.get(request.from_user)
        if session is None or peer != session.peer or not plain_keepalive(request.body):
            return None
        self._touch(session, self._clock())
        return _OK

    def handle_notify(self, incoming: IncomingRequest) -> Response:
        """``endpoint.on("NOTIFY", ...)``: subscription notifications (catalog, alarm)."""
        request = incoming.request
        device_id = sender_id(request)
        session = self._sessions.get(device_id) if device_id else None
        if session is None:
            return build_response(request, 404, to_tag=new_tag())
        if incoming.peer != session.peer:
            self._moved(session, incoming.peer)
        self._touch(session, self._clock())
        return self.subscriber.handle_notify(incoming, session.device_id, session.charset)

    def _moved(self, session: DeviceSession, peer: Peer) -> None:
        log.info("device %s moved from %s to %s", session.device_id, session.peer, peer)
        session.peer = peer
        self._writer.moved(session.device_id, peer.host, peer.port)

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
            self._spawn(self._apply_catalog_events(device_id, message.items))
        elif isinstance(message, MediaStatusNotify):
            log.info("device %s: media status %s", device_id, message.notify_type)
            if self.on_media_status is not None:
                self.on_media_status(device_id, message, incoming)
        else:
            log.debug("device %s: ignored %s %s", device_id, message.ROOT, message.command)

    def _on_notify(
        self, device_id: str, message: ManscdpMessage, incoming: IncomingRequest
    ) -> None:
        session = self._sessions.get(device_id)
        if session is None:
            return
        if isinstance(message, CatalogNotify):
            self._spawn(self._apply_catalog_events(device_id, message.items))
        elif isinstance(message, AlarmNotify):
            self._on_alarm(session, message, incoming.request.body, answer=False)
        else:
            self._dispatch(session, message, incoming)

    def _on_response(self, device_id: str, message: Message) -> None:
        if not self._queries.on_response(device_id, message):
            self._unsolicited(device_id, message)

    def _unsolicited(self, device_id: str, message: Message) -> None:
        if isinstance(message, CatalogResponse) and message.items:
            # merged, never replacing: a lone SumNum=1 push must not wipe a channel list
            self._spawn(self._import(device_id, message.items, complete=False))
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

    # -- timers, tasks -------------------------------------------------------------------

    def _wake_for(self, deadline: float) -> None:
        if self._scheduled is None or deadline < self._scheduled:
            self._wake.set()

    def _next_deadline(self) -> float | None:
        times = (
            self._keepalive.next_deadline(),
            self._queries.next_deadline(),
            self.subscriber.table.next_deadline(),
        )
        return min((t for t in times if t is not None), default=None)

    async def _timer_loop(self) -> None:
        while True:
            deadline = self._next_deadline()
            self._scheduled = deadline
            delay = None if deadline is None else max(0.0, deadline - self._clock())
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with the event being set (gh-86296), and stop() would then wait forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            try:
                self._handle_timeouts(self._clock())
            except Exception:
                log.exception("device timer processing failed")

    def _handle_timeouts(self, now: float) -> None:
        for device_id in self._keepalive.expired(now):
            self._go_offline(device_id, "keepalive-timeout")
        self._queries.handle_timeout(now)
        for sub in self.subscriber.table.due(now):
            session = self._sessions.get(sub.device_id)
            if session is not None:
                self._spawn(self.subscriber.refresh(sub, session.target))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.store_flush_interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("flushing device state failed")

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, Gb28181Error | StoreError):
                log.info("device task failed: %s", exc)
            else:
                log.error("device task failed", exc_info=exc)

    async def _onboard(self, device_id: str, full: bool) -> None:
        """After registration: DeviceInfo and Catalog (if ``full``), then the subscriptions."""
        if full:
            await self.query_device_info(device_id)
            await self.refresh_catalog(device_id)
        else:
            log.debug("device %s: onboarded recently, subscribing only", device_id)
        for kind, expires in (
            (SubscriptionKind.CATALOG, self._settings.catalog_subscribe_expires_s),
            (SubscriptionKind.ALARM, self._settings.alarm_subscribe_expires_s),
        ):
            session = self._sessions.get(device_id)
            if expires > 0 and session is not None:
                await self.subscriber.subscribe(device_id, kind, expires, session.target)
        self._wake.set()  # refresh deadlines may be earlier than the one scheduled

    # -- queries and controls ------------------------------------------------------------

    def _require(self, device_id: str) -> DeviceSession:
        session = self._sessions.get(device_id)
        if session is not None:
            return session
        if device_id in self._known:
            raise DeviceOfflineError(f"device {device_id} is offline")
        raise UnknownDeviceError(f"unknown device {device_id}")

    async def query_device_info(self, device_id: str) -> DeviceInfoResponse:
        """Ask for name, manufacturer, model, firmware and channel count; stores them."""
        answer = await self._queries.device_info(device_id)
        patch = DeviceInfoPatch(
            name=answer.device_name,
            manufacturer=answer.manufacturer,
            model=answer.model,
            firmware=answer.firmware,
            channel_count=answer.channel,
        )
        self._writer.device_info(device_id, patch)
        return answer

    async def query_device_status(self, device_id: str) -> DeviceStatusResponse:
        """Ask whether the device works, records, and its alarm inputs' states."""
        return await self._queries.device_status(device_id)

    async def query_catalog(self, device_id: str) -> list[CatalogItem]:
        """Ask for the catalog, reassemble it and hand it to the directory."""
        items, _ = await self._catalog(device_id)
        return items

    async def refresh_catalog(self, device_id: str) -> int:
        """Query the catalog; returns the channel count the directory reports."""
        _, count = await self._catalog(device_id)
        return count

    async def _catalog(self, device_id: str) -> tuple[list[CatalogItem], int]:
        items, complete = await self._queries.catalog(device_id)
        return items, await self._import(device_id, items, complete=complete)

    async def _import(self, device_id: str, items: Sequence[CatalogItem], *, complete: bool) -> int:
        await self._ensure_stored(device_id)
        count = await self._directory.import_catalog(device_id, items, complete=complete)
        self._bus.publish(CatalogUpdated(device_id, count))
        return count

    async def _ensure_stored(self, device_id: str) -> None:
        # The device row must exist before its channels.  Flushing the whole queue for every
        # device made onboarding of a fleet crawl (each flush also writes every keepalive
        # time), so flush only while this device's registration is still queued.
        if self._writer.has_pending_registration(device_id):
            await self.flush()

    async def _apply_catalog_events(self, device_id: str, items: Sequence[CatalogItem]) -> None:
        await self._ensure_stored(device_id)
        await self._directory.apply_catalog_events(device_id, items)
        self._bus.publish(CatalogUpdated(device_id, len(items)))

    async def query_record_info(
        self, device_id: str, channel_id: str, start: datetime, end: datetime
    ) -> list[RecordItem]:
        """Search a channel's recordings between ``start`` and ``end``."""
        return await self._queries.record_info(device_id, channel_id, start, end)

    async def query_presets(self, device_id: str, channel_id: str) -> list[PresetItem]:
        """List a channel's presets."""
        return await self._queries.presets(device_id, channel_id)

    async def query_config(self, device_id: str, config_type: str) -> ConfigDownloadResponse:
        """Read configuration; several ``/``-separated types are merged into one answer."""
        return await self._queries.config(device_id, config_type)

    async def ptz(self, device_id: str, channel_id: str, command: PtzCommand) -> None:
        """Send a PTZ command to a channel (no answer comes back but the SIP 200)."""
        await self._queries.ptz(device_id, channel_id, command)

    async def control(self, device_id: str, control: DeviceControl) -> ResultResponse | None:
        """Send a DeviceControl; returns its Result, or None for controls without one."""
        return await self._queries.control(device_id, control)


def _gb_version(edition: Edition) -> GbVersion:
    return GbVersion.V2022 if edition is Edition.V2022 else GbVersion.V2016


def _short(exc: Exception) -> str:
    return str(exc).replace("\r", " ").replace("\n", " ")[:80]
