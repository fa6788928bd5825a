"""One sightline node: settings → store → SIP endpoint and services → HTTP, in one event loop.

This is the only place that wires parts together; each part takes what it needs as
constructor arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import uvicorn
from prometheus_client import CollectorRegistry

from sightline.access.approvals import ApprovalPolicy
from sightline.access.audit import AuditLog
from sightline.access.model import AccessModel
from sightline.access.notify import WebhookSettings
from sightline.access.service import AuthService
from sightline.access.services import AccessServices, build_access_services
from sightline.access.stream_tokens import StreamTokens
from sightline.analytics.masked_stream import MaskedStreams
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import DeviceCollector, MediaWorkerCollector, build_registry
from sightline.api.routers.recording_plans import audit_deletions
from sightline.api.runtime_metrics import LoopLag, register_runtime
from sightline.config import Settings
from sightline.directory import DirectoryService
from sightline.events import AlarmReceived, EventBus
from sightline.gb28181.devices import DeviceManager
from sightline.gb28181.live import LiveService
from sightline.gb28181.live_workers import MediaWorkers
from sightline.gb28181.record_source import DeviceRecordSource
from sightline.gb28181.register_workers import RegisterWorkers
from sightline.gb28181.registrar import Registrar
from sightline.keys import GeneratedSecrets, load_or_create_secrets
from sightline.media.downloads import Downloads
from sightline.media.hub import StreamHub, StreamSnapshot
from sightline.media.playback import RecordSource, RecordSourceName
from sightline.media.playback_sessions import PlaybackSessions
from sightline.media.recording import (
    PlatformRecordSource,
    RecordingCollector,
    RecordingOptions,
    RecordingService,
)
from sightline.media.rtsp_server import RtspServer
from sightline.node_media import build_media
from sightline.node_media_workers import start_media_workers
from sightline.node_rtsp import RtspGate
from sightline.node_sip import digest_server, sip_endpoint, tls_context, worker_config
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.flood import FloodPolicy
from sightline.sip.message import Response
from sightline.sip.stats import SipStats
from sightline.store.db import Database, migrate
from sightline.store.repositories.access import ChannelPlace
from sightline.store.repositories.recording import RecordingStore

__all__ = [
    "GC_THRESHOLDS",
    "GIL_SWITCH_INTERVAL_S",
    "Listening",
    "Node",
    "device_of",
    "tune_gc_for_serving",
    "tune_gil_for_serving",
]

log = logging.getLogger(__name__)

_MEDIA_SHUTDOWN_S = 2.0
_RECORDING_SHUTDOWN_S = 5.0
# The database driver (aiosqlite: a thread per connection) and executor jobs run in threads.
# With the loop busy (hundreds of streams), a thread waiting for the GIL gets it only when the
# switch interval forces a hand-over, several times per query: at CPython's 5 ms a one-row
# read took seconds (12.8 s p50 against a loop of 0.3 ms callbacks, 28.7 ms at 1 ms:
# benchmarks/db_under_load.py), and live opens queued behind access and directory reads for
# up to a minute. Only a waiting thread triggers a switch, so an idle one costs nothing.
GIL_SWITCH_INTERVAL_S = 0.001
_WS_MAX_MESSAGE = 64 * 1024  # bytes a WebSocket client may send in one message

# Generation thresholds while serving, instead of CPython's (700, 10, 10). Measured at 2,000
# registrations/s for 40 s (docs/benchmarks.md): (700, 10, 10) ran 13 full collections (1.3 s
# of GC in all, pauses to 70 ms); (10_000, 10, 10) none (0.5 s in all, pauses under 25 ms);
# (50_000, 20, 10) young collections of 20-120 ms, a pause grows with the young generation.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc_for_serving() -> None:
    """Freeze what start-up built and collect the young generation less often.

    Full collections traverse every tracked object; after start-up most of them (modules,
    SQLAlchemy, FastAPI and pydantic machinery, settings) live as long as the process, so
    ``gc.freeze()`` takes them out of every later collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    log.info(
        "garbage collector: %d objects frozen, thresholds %s", gc.get_freeze_count(), GC_THRESHOLDS
    )


def tune_gil_for_serving() -> None:
    """Hand the GIL to a waiting thread after GIL_SWITCH_INTERVAL_S instead of 5 ms."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


async def device_of(
    channel_id: str, places: Mapping[str, ChannelPlace], directory: DirectoryService | None
) -> str | None:
    """The device serving ``channel_id``: from the access model's placements (kept current by
    catalog updates) without a database read, which a live open under load waited seconds
    for; from the directory for a channel the snapshot does not know yet."""
    place = places.get(channel_id)
    if place is not None:
        return place.device_id
    channel = await directory.get_channel(channel_id) if directory is not None else None
    return channel.device_id if channel is not None else None


@dataclass
class Listening:
    """What a started node listens on."""

    sip: dict[str, tuple[str, int]] = field(default_factory=dict)
    http: tuple[str, int] | None = None
    https: bool = False
    rtsp: tuple[str, int] | None = None

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"SIP {name:<3} {host}:{port}" for name, (host, port) in sorted(self.sip.items())]
        if self.http is not None:
            scheme = "https" if self.https else "http"
            out.append(f"HTTP     {scheme}://{self.http[0]}:{self.http[1]}/")
        if self.rtsp is not None:
            out.append(f"RTSP     rtsp://{self.rtsp[0]}:{self.rtsp[1]}/live/<channel>")
        return out


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the node owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Node:
    """A whole sightline process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secrets: GeneratedSecrets | None = None
        self.stats = SipStats()
        self.endpoint: SipEndpoint | None = None
        self.registrar: Registrar | None = None
        self.register_workers: RegisterWorkers | None = None
        self.database: Database | None = None
        self.bus = EventBus()
        self.auth: AuthService | None = None
        self.access: AccessServices | None = None
        self.audit: AuditLog | None = None
        self.directory: DirectoryService | None = None
        self.devices: DeviceManager | None = None
        self.hub: StreamHub | None = None
        self.live: LiveService | None = None
        self.stream_tokens: StreamTokens | None = None
        self.rtsp: RtspServer | None = None
        self.masked: MaskedStreams | None = None
        self.recording: RecordingService | None = None
        # recordings of every source (issue 7); the platform source registers itself here
        self.record_sources: dict[RecordSourceName, RecordSource] = {}
        self.device_records: DeviceRecordSource | None = None
        self.playback: PlaybackSessions | None = None
        self.downloads: Downloads | None = None
        self.media_workers: MediaWorkers | None = None
        self.admin_created = False
        self.listening = Listening()
        self._http: _EmbeddedServer | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._signalled: asyncio.Event | None = None
        self.loop_lag = LoopLag()

    @property
    def device_password(self) -> str:
        """The default device password (configured or generated)."""
        configured = self.settings.sip.device_password
        if configured is not None:
            return configured.get_secret_value()
        assert self.secrets is not None
        return self.secrets.device_password

    @property
    def admin_password(self) -> str:
        """The initial admin password (configured or generated)."""
        configured = self.settings.admin.password
        if configured is not None:
            return configured.get_secret_value()
        assert self.secrets is not None
        return self.secrets.admin_password

    async def start(self) -> Listening:
        """Bring everything up; raises on a port already in use or a bad database."""
        self.secrets = load_or_create_secrets(self.settings.data_dir)
        await migrate(self.settings.database_url)
        self.database = await Database.connect(self.settings.database_url)
        self.audit = AuditLog(
            self.database,
            self.secrets.server_key,
            self.settings.audit,
            spill_path=self.settings.data_dir / "audit-spill.jsonl",
        )
        await self.audit.start()
        self.auth = AuthService(
            self.database,
            self.secrets.server_key,
            self.settings.http.token_lifetime_s,
            access=AccessModel(self.database, ttl_s=self.settings.access.snapshot_ttl_s),
            audit=self.audit,
        )
        self.audit.departments = self.auth.access.department_name
        self.admin_created = await self.auth.ensure_admin(self.admin_password)
        await self.auth.access.refresh()
        await self._start_sip()
        await self._start_rtsp()
        await self._start_recording()
        self._start_access()
        await self._start_media_workers()
        await self._start_http()
        self._tasks.append(asyncio.ensure_future(self._housekeeping()))
        self._tasks.append(asyncio.ensure_future(self.loop_lag.run()))
        return self.listening

    async def _start_sip(self) -> None:
        sip = self.settings.sip
        assert self.secrets is not None
        endpoint, flood = sip_endpoint(self.settings, self.stats)
        digest = digest_server(self.settings, self.secrets.server_key)
        assert self.database is not None
        self.directory = DirectoryService(
            self.database, online=self._device_online, last_seen=self._device_last_seen
        )
        devices = DeviceManager(
            endpoint=endpoint,
            database=self.database,
            bus=self.bus,
            directory=self.directory,
            settings=self.settings.gb28181,
            platform_id=sip.id,
            domain=sip.domain,
        )
        password = self.device_password
        self.registrar = Registrar(
            digest=digest,
            password_for=lambda _device_id: password,
            ha1_for=devices.ha1_for,
            stats=self.stats,
            failures=flood.failures,
            expires_min_s=sip.register_expires_min_s,
            expires_max_s=sip.register_expires_max_s,
            on_change=devices.on_registration,
            date_header=self.settings.gb28181.date_header,
        )
        devices.attach_registrar(self.registrar)
        self._start_live(endpoint, devices)
        endpoint.on("REGISTER", self.registrar.handle)
        # the plain 401 and 200 answered from the lite scan; the rest goes to handle()
        endpoint.on_fast("REGISTER", self.registrar.fast_path().answer)
        endpoint.on("MESSAGE", self._message_router(devices))
        # plain keepalives of online devices (a MediaStatus is never one) from the lite scan
        endpoint.on_fast("MESSAGE", devices.keepalive_fast, marker=b"Keepalive")
        endpoint.on("NOTIFY", devices.handle_notify)
        # loads known devices and per-device passwords before any device can register
        await devices.start()
        self.devices = devices
        self.endpoint = endpoint
        workers = sip.register_worker_count()
        self.listening.sip["UDP"] = await endpoint.start_udp(
            sip.host, sip.port, reuse_port=workers > 0
        )
        if workers > 0:
            await self._start_register_workers(workers, endpoint, flood, devices)
        self.listening.sip["TCP"] = await endpoint.start_stream(sip.host, sip.port)
        if sip.tls_port is not None:
            ctx = tls_context(self.settings)
            self.listening.sip["TLS"] = await endpoint.start_stream(sip.host, sip.tls_port, ctx)

    async def _start_register_workers(
        self, count: int, endpoint: SipEndpoint, flood: FloodPolicy, devices: DeviceManager
    ) -> None:
        """REGISTER worker processes on the main process's UDP port (register_workers.py)."""
        assert self.secrets is not None and self.registrar is not None
        host, port = self.listening.sip["UDP"]
        config = worker_config(
            self.settings,
            server_key=self.secrets.server_key,
            device_password=self.device_password,
            host=host,
            port=port,
        )
        self.register_workers = RegisterWorkers(
            count=count,
            config=config,
            endpoint=endpoint,
            registrar=self.registrar,
            flood=flood,
            stats=self.stats,
            ha1s=devices.ha1_snapshot,
        )
        devices.on_ha1_change = self.register_workers.set_ha1
        await self.register_workers.start()

    def _start_live(self, endpoint: SipEndpoint, devices: DeviceManager) -> None:
        assert self.secrets is not None and self.database is not None
        built = build_media(
            self.settings,
            server_key=self.secrets.server_key,
            database=self.database,
            endpoint=endpoint,
            devices=devices,
            locate=self._device_of,
            record_sources=self.record_sources,
        )
        self.hub, self.live, self.stream_tokens = built.hub, built.live, built.stream_tokens
        self.masked, self.device_records = built.masked, built.device_records
        self.playback, self.downloads = built.playback, built.downloads

    def _message_router(self, devices: DeviceManager) -> Callable[[IncomingRequest], Response]:
        """MESSAGEs inside a playback or download call (MediaStatus) go to the device record
        source; every other MESSAGE to the device manager."""

        def route(incoming: IncomingRequest) -> Response:
            if self.device_records is not None:
                answer = self.device_records.handle_message(incoming)
                if answer is not None:
                    return answer
            return devices.handle_message(incoming)

        return route

    async def _start_rtsp(self) -> None:
        media = self.settings.media
        if media.rtsp_port is None:
            return
        gate = RtspGate(self.live, self.masked, self.stream_tokens, self.auth)
        self.rtsp = RtspServer(
            authorize=gate.authorize,
            open_view=gate.view,
            host=media.bind_host,
            port=media.rtsp_port,
            first_frame_timeout_s=media.first_frame_timeout_s,
        )
        await self.rtsp.start()
        self.listening.rtsp = (media.bind_host, self.rtsp.port)

    async def _start_recording(self) -> None:
        options = RecordingOptions(**self.settings.recording.model_dump())
        if self.live is None or self.database is None:
            return
        store = RecordingStore(self.database)
        root = self.settings.data_dir / "recordings"
        # what was recorded stays searchable and playable even with recording switched off
        self.record_sources[RecordSourceName.PLATFORM] = PlatformRecordSource(root, store)
        if not options.enabled:
            return
        audit = self.audit
        self.recording = RecordingService(
            root,
            index=store,
            plans=store,
            join=self.live.join,
            leave=self.live.leave,
            options=options,
            on_delete=audit_deletions(audit) if audit is not None else None,
        )
        await self.recording.start()
        alarms = self.bus.subscribe(AlarmReceived)
        self._tasks.append(asyncio.ensure_future(self.recording.follow_alarms(alarms)))

    async def _start_media_workers(self) -> None:
        """``media.workers`` processes for live video (node_media_workers)."""
        if self.settings.media.workers == 0:
            return
        assert self.secrets is not None and self.live is not None
        assert self.auth is not None and self.stream_tokens is not None
        self.media_workers, views = await start_media_workers(
            self.settings,
            server_key=self.secrets.server_key,
            live=self.live,
            auth=self.auth,
            tokens=self.stream_tokens,
            masks=self.masked is not None,
            audit=self.audit,
            ws_max_message=_WS_MAX_MESSAGE,
        )
        self._tasks.append(asyncio.ensure_future(views.run()))

    def _registry(self) -> CollectorRegistry:
        registry = build_registry(self.stats, self._stream_snapshots)
        register_runtime(registry, self.loop_lag)
        if self.devices is not None:
            registry.register(DeviceCollector(self.devices))
        if self.recording is not None:
            registry.register(RecordingCollector(self.recording.status))
        if self.media_workers is not None:
            registry.register(MediaWorkerCollector(self.media_workers.health))
        return registry

    def _stream_snapshots(self) -> list[StreamSnapshot]:
        live = self.hub.snapshot() if self.hub is not None else []
        if self.media_workers is not None:
            # a stream relayed here is counted where it is received, in its worker
            workers = self.media_workers.snapshots()
            received = {s.key for s in workers}
            live = [s for s in live if s.key not in received] + workers
        return live + (self.playback.hub.snapshot() if self.playback is not None else [])

    async def _device_of(self, channel_id: str) -> str | None:
        places = self.auth.access.snapshot.places if self.auth is not None else {}
        return await device_of(channel_id, places, self.directory)

    def _device_online(self, device_id: str) -> bool:
        return self.devices is not None and self.devices.is_online(device_id)

    def _device_last_seen(self, device_id: str) -> datetime | None:
        return None if self.devices is None else self.devices.last_seen(device_id)

    def _start_access(self) -> None:
        settings = self.settings.access
        assert self.database is not None and self.auth is not None
        secret = settings.webhook_secret
        self.access = build_access_services(
            self.database,
            self.auth,
            stream_tokens=self.stream_tokens,
            webhooks=WebhookSettings(
                urls=tuple(settings.webhook_urls),
                secret=secret.get_secret_value().encode() if secret is not None else b"",
                timeout_s=settings.webhook_timeout_s,
                retries=settings.webhook_retries,
            ),
            approvals=ApprovalPolicy(
                sensitive_approvals=settings.sensitive_approvals,
                pending_ttl_s=settings.request_pending_ttl_s,
            ),
            audit=self.audit,
        )
        self.access.notifier.start()
        self._tasks.append(asyncio.ensure_future(self._access_housekeeping()))
        self._tasks.append(asyncio.ensure_future(self.auth.access.follow_catalogs(self.bus)))

    async def _access_housekeeping(self) -> None:
        """Reload the snapshot when stale; expire requests; warn of and audit ending grants."""
        assert self.access is not None and self.auth is not None
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.auth.access.current()
                if ticks % 5 == 0:
                    await self.access.grants.record_expired()
                if ticks % 30 == 0:
                    await self.access.requests.expire_overdue()
                    await self.access.grants.warn_expiring(
                        self.settings.access.grant_expiry_warning_s
                    )
            except Exception:
                log.exception("access housekeeping failed")
            ticks += 1

    async def _start_http(self) -> None:
        http = self.settings.http
        app = create_app(
            ApiContext(
                registry=self._registry(),
                auth=self.auth,
                directory=self.directory,
                devices=self.devices,
                live=self.live,
                stream_tokens=self.stream_tokens,
                masked=self.masked,
                rtsp_port=self.rtsp.port if self.rtsp is not None else None,
                live_worker_port=self.media_workers.assign if self.media_workers else None,
                audit=self.audit,
                access=self.access,
                database=self.database,
                web=self.settings.web,
                recording=self.recording,
                record_sources=self.record_sources,
                playback=self.playback,
                downloads=self.downloads,
                max_record_days=self.settings.playback.max_search_days,
            )
        )
        config = uvicorn.Config(
            app,
            host=http.host,
            port=http.port,
            log_config=None,
            lifespan="off",
            access_log=False,
            # Video fragments do not compress: permessage-deflate (which browsers offer) would
            # spend ~30 us of zlib per fragment per viewer for nothing, and keep a compressor
            # per connection. Clients only ever send control frames: no 16 MiB messages either.
            ws_per_message_deflate=False,
            ws_max_size=_WS_MAX_MESSAGE,
            ssl_certfile=str(http.tls_cert) if http.tls_cert is not None else None,
            ssl_keyfile=str(http.tls_key) if http.tls_key is not None else None,
        )
        if (http.tls_cert is None) != (http.tls_key is None):
            from sightline.errors import ConfigError

            raise ConfigError("HTTPS needs both http.tls_cert and http.tls_key")
        self.listening.https = http.tls_cert is not None
        self._http = _EmbeddedServer(config)
        self._http_task = asyncio.ensure_future(self._http.serve())
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
                raise OSError(f"HTTP server failed to start on {http.host}:{http.port}")
            await asyncio.sleep(0.01)
        sock = self._http.servers[0].sockets[0].getsockname()
        self.listening.http = (str(sock[0]), int(sock[1]))

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                if self.registrar is not None:
                    self.registrar.expire()
                if self.downloads is not None:
                    self.downloads.sweep()
            except Exception:
                log.exception("housekeeping failed")

    async def stop(self) -> None:
        """Shut down in reverse order; safe to call twice."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if self._http is not None:
            self._http.should_exit = True
            if self._http_task is not None:
                with contextlib.suppress(Exception):
                    await self._http_task
            self._http = None
        if self.rtsp is not None:
            await self.rtsp.close()
            self.rtsp = None
        if self.recording is not None:
            # closes every open segment and indexes it; bounded: a stuck disk must not hold
            # the shutdown (what is unwritten is repaired at the next start)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_RECORDING_SHUTDOWN_S):
                    await self.recording.stop()
            self.recording = None
        if self.media_workers is not None:
            await self.media_workers.stop()  # their streams end; the main process sends BYE
            self.media_workers = None
        # BYE to every device still streaming: best effort, a gone device must not hold the
        # shutdown for a whole SIP timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_MEDIA_SHUTDOWN_S):
                if self.downloads is not None:
                    await self.downloads.close()
                if self.playback is not None:
                    await self.playback.hub.close()
                if self.hub is not None:
                    await self.hub.close()
                if self.live is not None:
                    await self.live.calls.close()
        self.hub = None
        self.live = None
        self.masked = None
        self.playback = self.downloads = self.device_records = None
        if self.register_workers is not None:
            await self.register_workers.stop()
            self.register_workers = None
        if self.endpoint is not None:
            await self.endpoint.close()
            self.endpoint = None
        if self.devices is not None:
            await self.devices.stop()  # final flush of keepalive times and registrations
            self.devices = None
        await self._stop_access_and_storage()
        self._stopped.set()

    async def _stop_access_and_storage(self) -> None:
        """Last in stop(): after everything that records (HTTP, media) or reads grants."""
        if self.access is not None:
            await self.access.notifier.close()
            self.access = None
        if self.auth is not None:
            await self.auth.access.close()  # a background snapshot reload, if one runs
        if self.audit is not None:
            await self.audit.close()  # before the database goes
            self.audit = None
        if self.database is not None:
            await self.database.close()
            self.database = None

    def catch_signals(self) -> asyncio.Event:
        """Take SIGINT and SIGTERM from now on (call it before ``start``, so a signal during
        start-up or just after the announcement still ends in a clean stop); idempotent."""
        if self._signalled is None:
            loop = asyncio.get_running_loop()
            self._signalled = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._signalled.set)
        return self._signalled

    async def run_until_signalled(
        self, before_stop: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Serve until SIGINT or SIGTERM, run ``before_stop`` (e.g. the demo's devices
        leaving while the server still answers), then stop cleanly."""
        stop = self.catch_signals()
        if not stop.is_set():
            tune_gc_for_serving()
            tune_gil_for_serving()
        loop = asyncio.get_running_loop()
        try:
            await stop.wait()
            log.info("signal received, shutting down")
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if before_stop is not None:
                try:
                    await before_stop()
                except Exception:
                    log.exception("shutdown step failed")
            await self.stop()
