"""A node's SIP side, built from its settings: the endpoint with its flood policy, the digest
server and the registrar, the device manager, the REGISTER workers and their configuration,
and the TLS context. :class:`NodeSip` holds them from start-up to shutdown."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from sightline.config import Settings
from sightline.directory import DirectoryService
from sightline.errors import ConfigError
from sightline.events import EventBus
from sightline.gb28181.devices import DeviceManager
from sightline.gb28181.register_channel import WorkerConfig
from sightline.gb28181.register_workers import RegisterWorkers
from sightline.gb28181.registrar import Registrar
from sightline.sip.digest import DigestServer, NonceManager
from sightline.sip.endpoint import IncomingRequest, SipEndpoint
from sightline.sip.flood import AuthFailureTracker, FloodPolicy, RateLimiter
from sightline.sip.message import Response
from sightline.sip.parser import Limits
from sightline.sip.stats import SipStats
from sightline.sip.transport import make_server_ssl_context
from sightline.store.db import Database

__all__ = [
    "NodeSip",
    "digest_server",
    "registrar",
    "sip_endpoint",
    "tls_context",
    "worker_config",
]


def sip_endpoint(settings: Settings, stats: SipStats) -> tuple[SipEndpoint, FloodPolicy]:
    """The SIP endpoint (not yet listening) and the flood policy it enforces."""
    sip = settings.sip
    flood = FloodPolicy(
        RateLimiter(sip.rate_per_source, sip.rate_burst),
        AuthFailureTracker(sip.ban_after_failures, sip.ban_window_s, sip.ban_s),
        exempt=tuple(sip.flood_exempt),
    )
    endpoint = SipEndpoint(
        stats=stats,
        flood=flood,
        limits=Limits(max_message_bytes=sip.max_message_bytes),
        user_agent=f"sightline {sip.id}",
        tcp_idle_timeout_s=sip.tcp_idle_timeout_s,
    )
    return endpoint, flood


def digest_server(settings: Settings, server_key: bytes) -> DigestServer:
    """Digest authentication for REGISTER, realm ``sip.domain``, nonces signed with the key."""
    sip = settings.sip
    return DigestServer(sip.domain, NonceManager(server_key, lifetime_s=sip.nonce_lifetime_s))


def registrar(
    settings: Settings,
    *,
    server_key: bytes,
    device_password: str,
    devices: DeviceManager,
    stats: SipStats,
    flood: FloodPolicy,
) -> Registrar:
    """The registrar: ``device_password`` for every device without a password of its own."""
    sip = settings.sip
    return Registrar(
        digest=digest_server(settings, server_key),
        password_for=lambda _device_id: device_password,
        ha1_for=devices.ha1_for,
        stats=stats,
        failures=flood.failures,
        expires_min_s=sip.register_expires_min_s,
        expires_max_s=sip.register_expires_max_s,
        on_change=devices.on_registration,
        date_header=settings.gb28181.date_header,
    )


def worker_config(
    settings: Settings, *, server_key: bytes, device_password: str, host: str, port: int
) -> WorkerConfig:
    """What a REGISTER worker process needs to answer as the main process would."""
    sip = settings.sip
    return WorkerConfig(
        index=0,
        host=host,
        port=port,
        realm=sip.domain,
        nonce_key=server_key.hex(),
        nonce_lifetime_s=sip.nonce_lifetime_s,
        device_password=device_password,
        expires_min_s=sip.register_expires_min_s,
        expires_max_s=sip.register_expires_max_s,
        date_header=settings.gb28181.date_header,
        max_message_bytes=sip.max_message_bytes,
        user_agent=f"sightline {sip.id}",
        rate_per_source=sip.rate_per_source,
        rate_burst=sip.rate_burst,
        flood_exempt=list(sip.flood_exempt),
        ban_after_failures=sip.ban_after_failures,
        ban_window_s=sip.ban_window_s,
        ban_s=sip.ban_s,
        log_level=settings.log.level,
        log_json=settings.log.json_output,
    )


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The server TLS context for SIP over TLS (ConfigError without a certificate and key)."""
    sip = settings.sip
    if sip.tls_cert is None or sip.tls_key is None:
        raise ConfigError("sip.tls_port needs sip.tls_cert and sip.tls_key")
    return make_server_ssl_context(str(sip.tls_cert), str(sip.tls_key))


class NodeSip:
    """The SIP side of one node; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        stats: SipStats,
        *,
        server_key: bytes,
        device_password: str,
        database: Database,
        bus: EventBus,
        directory: DirectoryService,
    ) -> None:
        self._settings = settings
        self._stats = stats
        self._server_key = server_key
        self._device_password = device_password
        self.endpoint, self._flood = sip_endpoint(settings, stats)
        self.devices = DeviceManager(
            endpoint=self.endpoint,
            database=database,
            bus=bus,
            directory=directory,
            settings=settings.gb28181,
            platform_id=settings.sip.id,
            domain=settings.sip.domain,
        )
        self.registrar = registrar(
            settings,
            server_key=server_key,
            device_password=device_password,
            devices=self.devices,
            stats=stats,
            flood=self._flood,
        )
        self.devices.attach_registrar(self.registrar)
        self.register_workers: RegisterWorkers | None = None
        self._started = False

    def route(self, media_message: Callable[[IncomingRequest], Response | None]) -> None:
        """Which part answers which request. ``media_message`` sees every MESSAGE first: one
        inside a playback or download call (MediaStatus) is the media side's."""
        endpoint, devices = self.endpoint, self.devices
        endpoint.on("REGISTER", self.registrar.handle)
        # the plain 401 and 200 answered from the lite scan; the rest goes to handle()
        endpoint.on_fast("REGISTER", self.registrar.fast_path().answer)

        def message(incoming: IncomingRequest) -> Response:
            answer = media_message(incoming)
            return answer if answer is not None else devices.handle_message(incoming)

        endpoint.on("MESSAGE", message)
        # plain keepalives of online devices (a MediaStatus is never one) from the lite scan
        endpoint.on_fast("MESSAGE", devices.keepalive_fast, marker=b"Keepalive")
        endpoint.on("NOTIFY", devices.handle_notify)

    async def start(self, listening: dict[str, tuple[str, int]]) -> None:
        """Load the known devices, then listen; each address goes into ``listening`` (by
        transport) as soon as it is bound."""
        # loads known devices and per-device passwords before any device can register
        await self.devices.start()
        self._started = True
        sip = self._settings.sip
        workers = sip.register_worker_count()
        listening["UDP"] = await self.endpoint.start_udp(sip.host, sip.port, reuse_port=workers > 0)
        if workers > 0:
            await self._start_register_workers(workers, listening["UDP"])
        listening["TCP"] = await self.endpoint.start_stream(sip.host, sip.port)
        if sip.tls_port is not None:
            ctx = tls_context(self._settings)
            listening["TLS"] = await self.endpoint.start_stream(sip.host, sip.tls_port, ctx)

    async def _start_register_workers(self, count: int, udp: tuple[str, int]) -> None:
        """REGISTER worker processes on the main process's UDP port (register_workers.py)."""
        config = worker_config(
            self._settings,
            server_key=self._server_key,
            device_password=self._device_password,
            host=udp[0],
            port=udp[1],
        )
        self.register_workers = RegisterWorkers(
            count=count,
            config=config,
            endpoint=self.endpoint,
            registrar=self.registrar,
            flood=self._flood,
            stats=self._stats,
            ha1s=self.devices.ha1_snapshot,
        )
        self.devices.on_ha1_change = self.register_workers.set_ha1
        await self.register_workers.start()

    async def stop(self) -> None:
        """REGISTER workers, the endpoint, then the devices' last flush; safe to call twice."""
        if self.register_workers is not None:
            await self.register_workers.stop()
            self.register_workers = None
        if self._started:
            self._started = False
            await self.endpoint.close()
            await self.devices.stop()  # final flush of keepalive times and registrations
