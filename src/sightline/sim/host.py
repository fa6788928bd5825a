"""SimHost: thousands of simulated devices in one process, on one event loop.

Over UDP the whole fleet shares one :class:`~sightline.sip.endpoint.SipEndpoint` and one
socket; requests from the platform are routed to a device by the Request-URI user. Over TCP each
device keeps its own connection, as GB 2022 §9.1.1 f asks of devices behind NAT, and the
platform reaches the device over it. (Each TCP device gets its own small endpoint, sharing one
SipStats: an endpoint keys outgoing connections by the remote address, which is the same server
for every device.)

Timing: one task runs one :class:`~.schedule.TimerHeap` for every device's next keepalive,
refresh or retry, and one :class:`~.schedule.TokenBucket` paces REGISTER starts
(``register_rate`` per second). Keepalives go out in evenly spread slots. Only transactions in
flight have tasks of their own.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import ipaddress
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sightline.gb28181.ids import DeviceType
from sightline.gb28181.manscdp import CatalogEvent, Message
from sightline.sim.calls import MediaCalls
from sightline.sim.config import SimConfig, Transport
from sightline.sim.device import DeviceProfile, DeviceState, SimDevice, Subscription
from sightline.sim.identity import IdPlan
from sightline.sim.inbound import Inbound
from sightline.sim.invite import MediaFaults
from sightline.sim.links import TcpLink, source_address
from sightline.sim.outbox import Messenger
from sightline.sim.ptz_state import PtzPosition
from sightline.sim.registration import Registration, SimStats
from sightline.sim.schedule import TimerHeap, TokenBucket, spread_phase
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.errors import SipTransportError
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer

__all__ = ["SimHost", "SimStats", "run_simulator"]

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))
_BATCH = 2000  # timers handled per loop turn, so a storm cannot starve the socket
_MIN_SLEEP_S = 0.002


class SimHost:
    """A fleet of simulated devices sharing one event loop and one scheduler."""

    def __init__(
        self,
        config: SimConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.stats = SimStats()
        self.sip_stats = SipStats()
        self.devices: dict[str, SimDevice] = {}
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._plan = IdPlan(config.id_prefix + config.industry, config.network_flag)
        self._chan_bases: list[int] = []
        self._chan_owner: list[SimDevice] = []
        self._build_fleet()
        self._server = Peer(config.transport.value.upper(), config.server_host, config.server_port)
        self._timers: TimerHeap[SimDevice] = TimerHeap()
        self._queue: deque[SimDevice] = deque()
        self._bucket: TokenBucket | None = None
        self._in_flight = 0  # registrations started and not finished
        # REGISTER Call-IDs stay the same across refreshes and change when a device restarts
        # (this process, or a TeleBoot), as a real device's do: the platform's restart signal
        self._boot_id = secrets.token_hex(4)
        self._boots: dict[int, int] = {}  # device index → TeleBoots so far
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake: asyncio.Event | None = None
        self._sleeping_until = float("inf")
        self._runner: asyncio.Task[None] | None = None
        self._endpoint: SipEndpoint | None = None
        self._origin = 0.0
        self.local_address: tuple[str, int] = ("127.0.0.1", 0)
        self.inbound = Inbound(self, clock=clock, local_time=self.local_time)
        self._registration = Registration(self)
        self.messages = Messenger(self)
        self.calls = MediaCalls(
            self,
            config.video,
            connect_retry_s=config.media_connect_retry_s,
            accept_timeout_s=config.media_accept_timeout_s,
            loop_video=config.loop_video,
        )

    def _build_fleet(self) -> None:
        config = self.config
        serial = config.serial_start
        channel = (serial - 1) * config.groups[0].channels + 1
        index = 0
        for group in config.groups:
            nvr = group.channels > 1
            profile = DeviceProfile(
                config=config,
                plan=self._plan,
                device_type=DeviceType.NVR if nvr else DeviceType.IPC,
                channels=group.channels,
                model=config.nvr_model if nvr else config.ipc_model,
                audio=config.audio if group.audio is None else group.audio,
            )
            for _ in range(group.count):
                device = SimDevice(profile, index=index, serial=serial, channel_base=channel)
                self.devices[device.device_id] = device
                self._chan_bases.append(channel)
                self._chan_owner.append(device)
                serial += 1
                channel += group.channels
                index += 1

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the socket and start registering every device, paced by ``register_rate``."""
        config = self.config
        host = config.local_host or source_address(config.server_host, config.server_port)
        if config.transport is Transport.UDP:
            self._endpoint = self.new_endpoint()
            self.local_address = await self._endpoint.start_udp(host, config.local_port)
        else:
            self.local_address = (host, config.local_port or 5060)
        now = self._clock()
        self._origin = now
        self._wake = asyncio.Event()
        burst = max(1.0, min(config.register_rate, 50.0))
        self._bucket = TokenBucket(config.register_rate, burst, now)
        for device in self.devices.values():
            self.enqueue(device)
        self._runner = asyncio.ensure_future(self._run())

    async def stop(self, *, unregister: bool = True, timeout_s: float = 5.0) -> None:
        """Stop timers; unregister (Expires 0) what is registered, within ``timeout_s``."""
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        await self.calls.close()
        if unregister:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):  # not wait_for: see _timer_loop
                    await self._registration.unregister_all()
        for device in self.devices.values():
            device.state = DeviceState.STOPPED
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_links()
        if self._endpoint is not None:
            await self._endpoint.close()

    async def _close_links(self) -> None:
        for device in self.devices.values():
            link = device.link
            if isinstance(link, TcpLink):
                device.link = None
                await link.endpoint.close()

    async def wait_registered(self, count: int, timeout_s: float) -> bool:
        """Wait until at least ``count`` devices are registered; False on timeout."""
        if self.stats.registered >= count:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (count, future)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout_s):
                await future
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.remove(entry)

    def registered_changed(self) -> None:
        """Wake waiters whose target is reached."""
        for count, future in self._waiters:
            if self.stats.registered >= count and not future.done():
                future.set_result(None)

    # -- lookup -------------------------------------------------------------------------

    def find(self, target_id: str) -> SimDevice | None:
        """The device with this device ID or owning this channel ID."""
        device = self.devices.get(target_id)
        if device is not None:
            return device
        serial = self._plan.channel_serial(target_id)
        if serial is None:
            return None
        at = bisect.bisect_right(self._chan_bases, serial) - 1
        if at < 0:
            return None
        owner = self._chan_owner[at]
        return owner if owner.channel_index(target_id) is not None else None

    def ptz_position(self, channel_id: str) -> PtzPosition:
        """Where channel ``channel_id``'s head points now (KeyError for an unknown channel)."""
        device = self.find(channel_id)
        index = None if device is None else device.channel_index(channel_id)
        if device is None or index is None:
            raise KeyError(channel_id)
        return device.ptz(index, self._clock()).position(self._clock())

    def set_ptz(self, channel_id: str, pan: float, tilt: float, zoom: float) -> None:
        """Point channel ``channel_id``'s head at once (KeyError for an unknown channel)."""
        device = self.find(channel_id)
        index = None if device is None else device.channel_index(channel_id)
        if device is None or index is None:
            raise KeyError(channel_id)
        now = self._clock()
        device.ptz(index, now).go_to(pan, tilt, zoom, now)

    def set_media_faults(self, target_id: str, faults: MediaFaults | None) -> None:
        """Make a device or channel misbehave on later INVITEs (None: behave again)."""
        if self.find(target_id) is None:
            raise KeyError(target_id)
        self.calls.set_faults(target_id, faults)

    def media_address(self, toward: str) -> str:
        """The local IP media is sent from toward ``toward`` (the SIP address if it is set)."""
        host = self.local_address[0]
        with contextlib.suppress(ValueError):
            if not ipaddress.ip_address(host).is_unspecified:
                return host
        return source_address(toward, 9)

    def now(self) -> float:
        """The host's monotonic clock."""
        return self._clock()

    def local_time(self) -> datetime:
        """Device-local time as the standard writes it: Beijing time, no zone."""
        return self._wall_clock().astimezone(BEIJING).replace(tzinfo=None)

    def contact(self, device: SimDevice) -> str:
        """The Contact value of ``device``."""
        host, port = self.local_address
        suffix = ";transport=tcp" if self.config.transport is Transport.TCP else ""
        return f"<sip:{device.device_id}@{host}:{port}{suffix}>"

    # -- scheduling ---------------------------------------------------------------------

    def schedule(self, device: SimDevice, due: float) -> None:
        """Make ``due`` the device's next timer (earlier entries for it become stale)."""
        device.timer_due = due
        self._timers.push(due, device)
        if due < self._sleeping_until and self._wake is not None:
            self._wake.set()

    def enqueue(self, device: SimDevice) -> None:
        """Queue a (re-)registration for the next free token."""
        if device.state in (DeviceState.QUEUED, DeviceState.STOPPED):
            return
        device.state = DeviceState.QUEUED
        device.timer_due = -1.0
        self._queue.append(device)
        if self._wake is not None:
            self._wake.set()

    def keepalive_slot(self, device: SimDevice, after: float) -> float:
        """The device's next keepalive time in its evenly spread slot."""
        count = len(self.devices)
        return spread_phase(device.index, count, self.config.keepalive_s, self._origin, after)

    def retry_delay(self) -> float:
        """Seconds to wait after a failed registration."""
        return self.config.retry_s + self._rng.uniform(0.0, self.config.retry_jitter_s)

    async def _run(self) -> None:
        assert self._wake is not None and self._bucket is not None
        while True:
            now = self._clock()
            due = self._timers.pop_due(now, _BATCH)
            for when, device in due:
                if device.timer_due == when:
                    self._on_timer(device, now)
            self._start_registrations(now)
            wake_at = self._timers.next_deadline()
            if self._queue and self._in_flight < self.config.register_window:
                token_at = self._bucket.next_token_at(now)
                wake_at = token_at if wake_at is None else min(wake_at, token_at)
            if len(due) >= _BATCH:
                wake_at = now
            await self._sleep(now, wake_at)

    async def _sleep(self, now: float, wake_at: float | None) -> None:
        # call_later + Event rather than asyncio.wait_for: cheaper, and wait_for in 3.11 can
        # swallow a cancellation that races with the event, which would keep stop() waiting
        assert self._wake is not None
        self._wake.clear()
        if wake_at is not None and wake_at <= now:
            await asyncio.sleep(0)
            return
        handle = None
        if wake_at is not None:
            self._sleeping_until = wake_at
            delay = max(wake_at - now, _MIN_SLEEP_S)
            handle = asyncio.get_running_loop().call_later(delay, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            self._sleeping_until = float("inf")
            if handle is not None:
                handle.cancel()

    def _on_timer(self, device: SimDevice, now: float) -> None:
        if device.state is DeviceState.OFFLINE:
            self.enqueue(device)
        elif device.state is DeviceState.REGISTERED:
            if now >= device.refresh_at:
                self.enqueue(device)
                return
            self.spawn(self._registration.keepalive(device))
            self.schedule(device, min(now + self.config.keepalive_s, device.refresh_at))

    def _start_registrations(self, now: float) -> None:
        assert self._bucket is not None
        window = self.config.register_window
        while self._queue and self._in_flight < window and self._bucket.take(now):
            device = self._queue.popleft()
            if device.state is DeviceState.QUEUED:
                device.state = DeviceState.REGISTERING
                self._in_flight += 1
                self.spawn(self._register(device))

    async def _register(self, device: SimDevice) -> None:
        try:
            await self._registration.register(device)
        finally:
            self._in_flight -= 1
            if self._queue and self._runner is not None:
                # the freed slot goes to the next device now, not after a runner wake-up
                # (in a storm that wake-up per registration was ~10 % of the process)
                self._start_registrations(self._clock())
                if (
                    self._queue
                    and self._in_flight < self.config.register_window
                    and self._wake is not None
                ):
                    self._wake.set()  # no token yet: the runner waits for one

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a tracked background task; failures are logged, not raised."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task failed", exc_info=task.exception())

    # -- sending ------------------------------------------------------------------------

    def new_endpoint(self) -> SipEndpoint:
        """An endpoint with the fleet's handlers, timers and shared statistics."""
        endpoint = SipEndpoint(
            stats=self.sip_stats, timers=self.config.timers, user_agent=self.config.user_agent
        )
        endpoint.on("MESSAGE", self.inbound.on_message)
        endpoint.on("SUBSCRIBE", self.inbound.on_subscribe)
        endpoint.on("INVITE", self.calls.on_invite)
        endpoint.on("BYE", self.calls.on_bye)
        endpoint.on("INFO", self.calls.on_info)
        return endpoint

    async def route(self, device: SimDevice, *, connect: bool = False) -> tuple[SipEndpoint, Peer]:
        """The endpoint and peer that reach the platform for ``device``."""
        if self._endpoint is not None:
            return self._endpoint, self._server
        link = device.link
        if isinstance(link, TcpLink):
            return link.endpoint, link.peer
        if not connect:
            raise SipTransportError(f"device {device.device_id} has no TCP connection")
        endpoint = self.new_endpoint()
        try:
            peer = await endpoint.connect(self.config.server_host, self.config.server_port)
        except OSError:
            await endpoint.close()
            raise
        device.link = TcpLink(endpoint, peer)
        return endpoint, peer

    async def drop_link(self, device: SimDevice) -> None:
        """Close a TCP device's connection (reboot, or after a transport failure)."""
        link = device.link
        if isinstance(link, TcpLink):
            device.link = None
            await link.endpoint.close()

    def manscdp_body(self, msg: Message) -> bytes:
        """``msg`` encoded in the fleet's charset and edition."""
        return self.messages.encode(msg)

    def send_replies(self, device: SimDevice, replies: tuple[Message, ...]) -> None:
        """Send Response bodies one after another (each waits for the previous 200)."""
        self.messages.send_replies(device, replies)

    def send_catalog_notify(
        self, device: SimDevice, sub: Subscription, event: CatalogEvent, channels: list[int]
    ) -> None:
        """NOTIFY catalog items of ``channels`` with ``event`` in ``sub``, paged."""
        self.messages.send_catalog_notify(device, sub, event, channels)

    # -- operations for tests, the CLI and the demo ---------------------------------------

    def register_call_id(self, device: SimDevice) -> str:
        """The Call-ID of the device's REGISTERs: kept across refreshes, new after a restart."""
        boots = self._boots.get(device.index, 0)
        return f"{device.device_id}-{self._boot_id}.{boots}-{self.local_address[0]}"

    def reboot(self, device: SimDevice) -> None:
        """TeleBoot: vanish without unregistering, come back after ``reboot_s``."""
        self.stats.reboots += 1
        self._boots[device.index] = self._boots.get(device.index, 0) + 1
        self._registration.mark_unregistered(device)
        device.forget_session()
        self.calls.drop_device(device)
        device.state = DeviceState.OFFLINE
        self.spawn(self.drop_link(device))
        self.schedule(device, self._clock() + self.config.reboot_s)

    async def raise_alarm(
        self,
        target_id: str,
        *,
        priority: int = 1,
        method: int = 5,
        alarm_type: int | None = None,
        description: str | None = None,
    ) -> int:
        """Send an Alarm Notify MESSAGE from a channel (or an IPC); the platform's status."""
        device = self.find(target_id)
        index = None if device is None else device.channel_index(target_id)
        if device is None or index is None:
            raise KeyError(target_id)
        alarm = device.alarm(
            self.messages.next_sn(),
            index,
            priority=priority,
            method=method,
            alarm_type=alarm_type,
            description=description,
            at=self.local_time().replace(microsecond=0),
        )
        response = await self.messages.send_body(device, self.messages.encode(alarm))
        self.stats.alarms_sent += 1
        return response.status

    def set_channel_online(self, channel_id: str, online: bool) -> None:
        """Switch a channel ON/OFF; a catalog subscriber gets a NOTIFY with the event."""
        device = self.find(channel_id)
        index = None if device is None else device.channel_index(channel_id)
        if device is None or index is None:
            raise KeyError(channel_id)
        extras = device.extra()
        if online:
            extras.offline.discard(index)
        else:
            extras.offline.add(index)
        sub = extras.catalog_sub
        if sub is not None and sub.expires_at > self._clock():
            event = CatalogEvent.ON if online else CatalogEvent.OFF
            self.send_catalog_notify(device, sub, event, [index])

    @property
    def registered(self) -> int:
        """Devices registered now."""
        return self.stats.registered


async def run_simulator(config: SimConfig) -> SimHost:
    """Build and start a :class:`SimHost` on the running loop (``sightline demo`` uses this)."""
    host = SimHost(config)
    await host.start()
    return host
