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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import uvicorn

from sightline.access.service import AuthService
from sightline.access.stream_tokens import StreamAction, StreamTokens
from sightline.access.tokens import TokenError
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.config import Settings
from sightline.directory import DirectoryService
from sightline.events import EventBus
from sightline.gb28181.devices import DeviceManager
from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.live import LiveService, UnknownChannelError, advertised_media_host
from sightline.gb28181.live_dialog import MediaCalls
from sightline.gb28181.registrar import Registrar
from sightline.gb28181.ssrc import SsrcAllocator
from sightline.keys import GeneratedSecrets, load_or_create_secrets
from sightline.media.hub import StreamError, StreamHub, StreamSnapshot, Viewer
from sightline.media.ports import RtpPortAllocator
from sightline.media.rtsp_server import RtspServer
from sightline.sip.digest import DigestServer, NonceManager
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.flood import AuthFailureTracker, FloodPolicy, RateLimiter
from sightline.sip.parser import Limits
from sightline.sip.stats import SipStats
from sightline.sip.transport import make_server_ssl_context
from sightline.store.db import Database, migrate

__all__ = ["GC_THRESHOLDS", "Listening", "Node", "tune_gc_for_serving"]

log = logging.getLogger(__name__)

_MEDIA_SHUTDOWN_S = 2.0

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


@dataclass
class Listening:
    """What a started node listens on."""

    sip: dict[str, tuple[str, int]] = field(default_factory=dict)
    http: tuple[str, int] | None = None
    rtsp: tuple[str, int] | None = None

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"SIP {name:<3} {host}:{port}" for name, (host, port) in sorted(self.sip.items())]
        if self.http is not None:
            out.append(f"HTTP     http://{self.http[0]}:{self.http[1]}/")
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
        self.database: Database | None = None
        self.bus = EventBus()
        self.auth: AuthService | None = None
        self.directory: DirectoryService | None = None
        self.devices: DeviceManager | None = None
        self.hub: StreamHub | None = None
        self.live: LiveService | None = None
        self.stream_tokens: StreamTokens | None = None
        self.rtsp: RtspServer | None = None
        self.admin_created = False
        self.listening = Listening()
        self._http: _EmbeddedServer | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()

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
        self.auth = AuthService(
            self.database, self.secrets.server_key, self.settings.http.token_lifetime_s
        )
        self.admin_created = await self.auth.ensure_admin(self.admin_password)
        await self._start_sip()
        await self._start_rtsp()
        await self._start_http()
        self._tasks.append(asyncio.ensure_future(self._housekeeping()))
        return self.listening

    async def _start_sip(self) -> None:
        sip = self.settings.sip
        assert self.secrets is not None
        flood = FloodPolicy(
            RateLimiter(sip.rate_per_source, sip.rate_burst),
            AuthFailureTracker(sip.ban_after_failures, sip.ban_window_s, sip.ban_s),
            exempt=tuple(sip.flood_exempt),
        )
        endpoint = SipEndpoint(
            stats=self.stats,
            flood=flood,
            limits=Limits(max_message_bytes=sip.max_message_bytes),
            user_agent=f"sightline {sip.id}",
            tcp_idle_timeout_s=sip.tcp_idle_timeout_s,
        )
        digest = DigestServer(
            sip.domain, NonceManager(self.secrets.server_key, lifetime_s=sip.nonce_lifetime_s)
        )
        assert self.database is not None
        self.directory = DirectoryService(self.database, online=self._device_online)
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
        endpoint.on("MESSAGE", devices.handle_message)
        endpoint.on("NOTIFY", devices.handle_notify)
        # loads known devices and per-device passwords before any device can register
        await devices.start()
        self.devices = devices
        self.endpoint = endpoint
        self.listening.sip["UDP"] = await endpoint.start_udp(sip.host, sip.port)
        self.listening.sip["TCP"] = await endpoint.start_stream(sip.host, sip.port)
        if sip.tls_port is not None:
            if sip.tls_cert is None or sip.tls_key is None:
                from sightline.errors import ConfigError

                raise ConfigError("sip.tls_port needs sip.tls_cert and sip.tls_key")
            ctx = make_server_ssl_context(str(sip.tls_cert), str(sip.tls_key))
            self.listening.sip["TLS"] = await endpoint.start_stream(sip.host, sip.tls_port, ctx)

    def _start_live(self, endpoint: SipEndpoint, devices: DeviceManager) -> None:
        media = self.settings.media
        assert self.secrets is not None
        calls = MediaCalls(endpoint, devices.addressing, timeout_s=media.invite_timeout_s)
        calls.attach()  # BYE from devices, and re-ACK of retransmitted 2xx
        self.hub = StreamHub(
            grace_s=media.grace_s,
            first_frame_timeout_s=media.first_frame_timeout_s,
            no_media_timeout_s=media.no_media_timeout_s,
        )
        self.live = LiveService(
            calls=calls,
            devices=devices,
            hub=self.hub,
            ports=RtpPortAllocator.from_range(media.rtp_port_range),
            ssrc=SsrcAllocator(self.settings.sip.id),
            settings=media,
            media_host=advertised_media_host(self.settings),
            locate=self._device_of,
        )
        self.stream_tokens = StreamTokens(
            self.secrets.server_key, media.token_ttl_s, bind_client=media.token_bind_client
        )

    async def _start_rtsp(self) -> None:
        media = self.settings.media
        if media.rtsp_port is None:
            return
        self.rtsp = RtspServer(
            authorize=self._rtsp_authorize,
            open_view=self._rtsp_view,
            host=media.bind_host,
            port=media.rtsp_port,
            first_frame_timeout_s=media.first_frame_timeout_s,
        )
        await self.rtsp.start()
        self.listening.rtsp = (media.bind_host, self.rtsp.port)

    def _rtsp_authorize(self, token: str, channel_id: str, client: str) -> bool:
        if self.stream_tokens is None:
            return False
        try:
            self.stream_tokens.verify(
                token, channel_id=channel_id, action=StreamAction.LIVE, client=client
            )
        except TokenError as exc:
            log.info("RTSP view of %s refused to %s: %s", channel_id, client, exc)
            return False
        return True

    @contextlib.asynccontextmanager
    async def _rtsp_view(self, channel_id: str) -> AsyncIterator[Viewer]:
        if self.live is None:
            raise LookupError(channel_id)
        try:
            async with self.live.view(channel_id) as viewer:
                yield viewer
        except UnknownChannelError as exc:
            raise LookupError(str(exc)) from exc
        except Gb28181Error as exc:  # offline, rejected, timed out: "503" to the RTSP client
            raise StreamError(str(exc)) from exc

    def _stream_snapshots(self) -> list[StreamSnapshot]:
        return self.hub.snapshot() if self.hub is not None else []

    async def _device_of(self, channel_id: str) -> str | None:
        channel = await self.directory.get_channel(channel_id) if self.directory else None
        return channel.device_id if channel else None

    def _device_online(self, device_id: str) -> bool:
        return self.devices is not None and self.devices.is_online(device_id)

    async def _start_http(self) -> None:
        http = self.settings.http
        app = create_app(
            ApiContext(
                registry=build_registry(self.stats, self._stream_snapshots),
                auth=self.auth,
                directory=self.directory,
                devices=self.devices,
                live=self.live,
                stream_tokens=self.stream_tokens,
                rtsp_port=self.rtsp.port if self.rtsp is not None else None,
            )
        )
        config = uvicorn.Config(
            app,
            host=http.host,
            port=http.port,
            log_config=None,
            lifespan="off",
            access_log=False,
        )
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
        # BYE to every device still streaming: best effort, a gone device must not hold the
        # shutdown for a whole SIP timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_MEDIA_SHUTDOWN_S):
                if self.hub is not None:
                    await self.hub.close()
                if self.live is not None:
                    await self.live.calls.close()
        self.hub = None
        self.live = None
        if self.endpoint is not None:
            await self.endpoint.close()
            self.endpoint = None
        if self.devices is not None:
            await self.devices.stop()  # final flush of keepalive times and registrations
            self.devices = None
        if self.database is not None:
            await self.database.close()
            self.database = None
        self._stopped.set()

    async def run_until_signalled(
        self, before_stop: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Serve until SIGINT or SIGTERM, run ``before_stop`` (e.g. the demo's devices
        leaving while the server still answers), then stop cleanly."""
        tune_gc_for_serving()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
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
