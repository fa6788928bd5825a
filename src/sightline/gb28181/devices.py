"""Device sessions: who is online, keepalives, MESSAGE/NOTIFY handling, queries and controls.

:class:`DeviceManager` sits between the SIP endpoint and the services above it, and wires the
parts together:

* the registrar's ``on_change`` calls :meth:`DeviceManager.on_registration`; a new device gets
  a session (:mod:`.online_devices`), is stored (write-behind, :mod:`.device_writer`) and
  queued for onboarding (DeviceInfo, Catalog, subscriptions: :mod:`.onboarding`); passwords
  and charsets of every stored device are kept in memory (:mod:`.known_devices`);
* ``MESSAGE`` and ``NOTIFY`` handlers answer synchronously (:mod:`.device_inbox`);
* queries wait for ``<Response>`` MESSAGEs (:mod:`.device_queries`), catalogs go to the
  directory (:mod:`.device_catalog`);
* one timer task drives keepalive, query and subscription-refresh deadlines, one task flushes
  the store (:mod:`.device_tasks`).

Requests always go to ``session.peer``, the address the registration (or, after a NAT
rebinding, the latest MESSAGE) came from; never to an address written in a message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sightline.config import Gb28181Settings
from sightline.events import EventBus
from sightline.gb28181.commands import Addressing
from sightline.gb28181.device_catalog import CatalogSink, CatalogSync
from sightline.gb28181.device_inbox import DeviceInbox, MediaStatusHandler
from sightline.gb28181.device_queries import DeviceQueries, DeviceSession
from sightline.gb28181.device_tasks import BackgroundTasks, TimerLoop, repeat
from sightline.gb28181.device_writer import DeviceInfoPatch, DeviceWriter
from sightline.gb28181.errors import DeviceOfflineError
from sightline.gb28181.known_devices import KnownDevices
from sightline.gb28181.manscdp import (
    CatalogItem,
    ConfigDownloadResponse,
    DeviceControl,
    DeviceInfoResponse,
    DeviceStatusResponse,
    PresetItem,
    RecordItem,
    ResultResponse,
    SnCounter,
)
from sightline.gb28181.onboarding import Onboarding
from sightline.gb28181.online_devices import OnlineDevices
from sightline.gb28181.ptz import PtzCommand
from sightline.gb28181.registrar import Binding, Registrar
from sightline.gb28181.subscriptions import Subscriber, SubscriptionKind
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.lite import LiteAnswer, LiteRequest
from sightline.sip.message import Response
from sightline.sip.transport import Peer
from sightline.store import Database

__all__ = ["CatalogSink", "DeviceManager", "DeviceSession", "MediaStatusHandler"]

log = logging.getLogger(__name__)


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
        self._database = database
        self._settings = settings
        self._clock = clock
        self._wall_clock = wall_clock
        self.addressing = Addressing(platform_id, domain)
        sn = SnCounter()
        self._known = KnownDevices(domain)
        self._writer = DeviceWriter(database, clock, wall_clock)
        self._flush_lock = asyncio.Lock()
        self._tasks = BackgroundTasks()
        self._timer = TimerLoop(self._next_deadline, self._handle_timeouts, clock)
        self._online = OnlineDevices(
            known=self._known,
            writer=self._writer,
            bus=bus,
            keepalive_timeout_s=settings.keepalive_interval_s * settings.keepalive_timeout_count,
            last_seen_store_s=settings.last_seen_store_s,
            clock=clock,
            wall_clock=wall_clock,
            wake_for=self._timer.wake_for,
        )
        self._queries = DeviceQueries(
            endpoint=endpoint,
            addressing=self.addressing,
            settings=settings,
            sn=sn,
            require=self._online.require,
            clock=clock,
            wake_for=self._timer.wake_for,
        )
        self._catalog = CatalogSync(
            directory=directory,
            bus=bus,
            query=self._queries.catalog,
            registration_pending=self._writer.has_pending_registration,
            flush=self.flush,
        )
        self._inbox = DeviceInbox(
            online=self._online,
            queries=self._queries,
            catalog=self._catalog,
            writer=self._writer,
            bus=bus,
            spawn=self._tasks.spawn,
            clock=clock,
            wall_clock=wall_clock,
        )
        self.subscriber = Subscriber(
            endpoint=endpoint,
            addressing=self.addressing,
            sn=sn,
            on_notify=self._inbox.on_notify,
            timeout_s=settings.query_timeout_s,
            clock=clock,
        )
        self._registrar: Registrar | None = None
        self.onboarding = Onboarding(self._onboard, self.is_online, clock=clock)
        self._loops: list[asyncio.Task[None]] = []
        # told every per-device HA1 change (the REGISTER workers keep a copy)
        self.on_ha1_change: Callable[[str, str | None], None] | None = None

    @property
    def on_media_status(self) -> MediaStatusHandler | None:
        """Told of every MediaStatus notification (121: a playback or download reached its end)."""
        return self._inbox.on_media_status

    @on_media_status.setter
    def on_media_status(self, handler: MediaStatusHandler | None) -> None:
        self._inbox.on_media_status = handler

    # -- lifecycle -----------------------------------------------------------------------

    def attach_registrar(self, registrar: Registrar) -> None:
        """Drop bindings of devices that missed their keepalives; follow their refreshes."""
        self._registrar = registrar
        registrar.on_refresh = self.on_refresh

    async def start(self) -> None:
        """Load known devices (passwords, charsets), then start the timer and flush tasks."""
        await self._load_known()
        self._loops = [
            asyncio.ensure_future(self._timer.run()),
            asyncio.ensure_future(
                repeat(self._settings.store_flush_interval_s, self.flush, "flushing device state")
            ),
            *self.onboarding.start(),
        ]

    async def stop(self) -> None:
        """Stop the tasks and write what is still queued."""
        await self._tasks.cancel(*self._loops)
        self._loops.clear()
        self._queries.fail_all(DeviceOfflineError("device manager stopped"))
        self._online.store_last_seen()  # the stored times lag: the exact ones
        await self.flush()

    async def flush(self) -> None:
        """Write queued device state now (also done every ``store_flush_interval_s``)."""
        async with self._flush_lock:
            await self._writer.flush()

    async def _load_known(self) -> None:
        stale = await self._known.load(self._database, self.is_online)
        at = self._wall_clock()
        for device_id in stale:  # online in the store, but nothing here knows them any more
            self._writer.online_state(device_id, False, "restart", at)
        log.info("loaded %d known devices (%d marked offline)", len(self._known), len(stale))

    def ha1_for(self, device_id: str) -> str | None:
        """The device's own HA1 for this realm, if it has one (for ``Registrar(ha1_for=...)``)."""
        return self._known.ha1_for(device_id)

    def ha1_snapshot(self) -> dict[str, str]:
        """Every device's own HA1 for this realm (for REGISTER worker processes)."""
        return self._known.ha1_snapshot()

    def set_device_password_ha1(self, device_id: str, ha1: str | None) -> None:
        """Update the in-memory HA1 cache after the store changed a device's password."""
        self._known.set_ha1(device_id, ha1)
        if self.on_ha1_change is not None:
            self.on_ha1_change(device_id, ha1)

    # -- registration and liveness -------------------------------------------------------

    def on_registration(self, binding: Binding, online: bool) -> None:
        """The registrar's ``on_change``: a device registered, or its registration ended."""
        if not online:
            reason = "expired" if binding.expires_at <= self._clock() else "unregister"
            self._go_offline(binding.device_id, reason)
            return
        self._known.add(binding.device_id)
        self._online.registered(binding, self._known.charset(binding.device_id))
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
        if self._online.refreshed(was, binding):
            self.subscriber.drop_device(binding.device_id)
            self.onboarding.arrived()
            self.onboarding.resubscribe(binding.device_id)

    def _go_offline(self, device_id: str, reason: str) -> None:
        self.subscriber.drop_device(device_id)
        gone = self._online.remove(device_id, reason)
        if gone and reason == "keepalive-timeout" and self._registrar is not None:
            self._registrar.forget(device_id)

    def last_seen(self, device_id: str) -> datetime | None:
        """When an online device was last heard from (None when it is offline)."""
        return self._online.last_seen(device_id)

    def is_online(self, device_id: str) -> bool:
        """Whether the device is registered and keeping alive."""
        return device_id in self._online

    def session(self, device_id: str) -> DeviceSession | None:
        """The device's session while it is online."""
        return self._online.sessions.get(device_id)

    @property
    def online_count(self) -> int:
        """How many devices are online."""
        return len(self._online)

    # -- MESSAGE and NOTIFY --------------------------------------------------------------

    def handle_message(self, incoming: IncomingRequest) -> Response:
        """``endpoint.on("MESSAGE", ...)``: answer at once; act on the body."""
        return self._inbox.handle_message(incoming)

    @property
    def keepalive_fast(self) -> Callable[[LiteRequest, Peer], LiteAnswer | None]:
        """``endpoint.on_fast("MESSAGE", ...)``: a plain keepalive of an online device from its
        known address, answered from the lite scan (most of what a fleet sends). Anything
        else (a 404, a moved device, a fault report, another MESSAGE) is left to
        :meth:`handle_message`, with nothing changed. The inbox's own method, so the
        endpoint calls it with no call in between (it runs for every keepalive)."""
        return self._inbox.keepalive_fast

    def handle_notify(self, incoming: IncomingRequest) -> Response:
        """``endpoint.on("NOTIFY", ...)``: subscription notifications (catalog, alarm)."""
        return self._inbox.handle_notify(incoming, self.subscriber)

    # -- timers and onboarding -----------------------------------------------------------

    def _next_deadline(self) -> float | None:
        times = (
            self._online.next_deadline(),
            self._queries.next_deadline(),
            self.subscriber.table.next_deadline(),
        )
        return min((t for t in times if t is not None), default=None)

    def _handle_timeouts(self, now: float) -> None:
        for device_id in self._online.expired(now):
            self._go_offline(device_id, "keepalive-timeout")
        self._queries.handle_timeout(now)
        for sub in self.subscriber.table.due(now):
            session = self._online.sessions.get(sub.device_id)
            if session is not None:
                self._tasks.spawn(self.subscriber.refresh(sub, session.target))

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
            session = self._online.sessions.get(device_id)
            if expires > 0 and session is not None:
                await self.subscriber.subscribe(device_id, kind, expires, session.target)
        self._timer.wake()  # refresh deadlines may be earlier than the one scheduled

    # -- queries and controls ------------------------------------------------------------

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
        items, _ = await self._catalog.refresh(device_id)
        return items

    async def refresh_catalog(self, device_id: str) -> int:
        """Query the catalog; returns the channel count the directory reports."""
        _, count = await self._catalog.refresh(device_id)
        return count

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
