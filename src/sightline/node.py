"""One sightline node: settings → store → SIP endpoint and services → HTTP, in one event loop.

This is the only place that wires parts together; each part takes what it needs as
constructor arguments. The larger parts are wired next door: ``node_sip`` (endpoint,
registrar, device manager, REGISTER workers), ``node_media`` (live, playback, RTSP, recording,
media workers), ``node_access`` (grants, requests, webhooks), ``node_http`` (uvicorn in this
loop) and ``node_tuning`` (the collector and GIL settings while serving).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry

from sightline.access.audit import AuditLog
from sightline.access.model import AccessModel
from sightline.access.service import AuthService
from sightline.access.services import AccessServices
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import DeviceCollector, build_registry
from sightline.api.runtime_metrics import LoopLag, register_runtime
from sightline.config import Settings
from sightline.directory import DirectoryService
from sightline.events import EventBus
from sightline.keys import GeneratedSecrets, load_or_create_secrets
from sightline.media.hub import StreamSnapshot
from sightline.node_access import access_housekeeping, start_access
from sightline.node_http import WS_MAX_MESSAGE, EmbeddedHttp
from sightline.node_media import NodeMedia, build_media, device_of
from sightline.node_sip import NodeSip
from sightline.node_tuning import tune_gc_for_serving, tune_gil_for_serving
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.message import Response
from sightline.sip.stats import SipStats
from sightline.store.db import Database, migrate

__all__ = ["Listening", "Node"]

log = logging.getLogger(__name__)


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


class Node:
    """A whole sightline process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secrets: GeneratedSecrets | None = None
        self.stats = SipStats()
        self.database: Database | None = None
        self.bus = EventBus()
        self.auth: AuthService | None = None
        self.access: AccessServices | None = None
        self.audit: AuditLog | None = None
        self.directory: DirectoryService | None = None
        self.sip: NodeSip | None = None
        self.media: NodeMedia | None = None
        self.admin_created = False
        self.listening = Listening()
        self._http: EmbeddedHttp | None = None
        self._tasks: list[asyncio.Task[None]] = []
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
        await self._start_storage()
        await self._start_sip()
        assert self.media is not None and self.database is not None
        self.listening.rtsp = await self.media.start_rtsp(self.auth)
        await self.media.start_recording(self.database, self.audit, self.bus, self._spawn)
        self._start_access()
        await self._start_media_workers()
        await self._start_http()
        self._spawn(self._housekeeping())
        self._spawn(self.loop_lag.run())
        return self.listening

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` until the node stops."""
        self._tasks.append(asyncio.ensure_future(work))

    async def _start_storage(self) -> None:
        """Secrets, database, audit chain and the authorisation service with its snapshot."""
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

    async def _start_sip(self) -> None:
        assert self.secrets is not None and self.database is not None
        self.directory = DirectoryService(
            self.database, online=self._device_online, last_seen=self._device_last_seen
        )
        sip = NodeSip(
            self.settings,
            self.stats,
            server_key=self.secrets.server_key,
            device_password=self.device_password,
            database=self.database,
            bus=self.bus,
            directory=self.directory,
        )
        services = build_media(
            self.settings,
            server_key=self.secrets.server_key,
            database=self.database,
            endpoint=sip.endpoint,
            devices=sip.devices,
            locate=self._device_of,
        )
        self.media = NodeMedia(self.settings, services)
        sip.route(self._media_message)
        self.sip = sip
        await sip.start(self.listening.sip)

    def _media_message(self, incoming: IncomingRequest) -> Response | None:
        """The answer to a MESSAGE inside a playback or download call (MediaStatus)."""
        if self.media is None:
            return None
        return self.media.services.device_records.handle_message(incoming)

    async def _start_media_workers(self) -> None:
        assert self.media is not None and self.secrets is not None and self.auth is not None
        await self.media.start_workers(
            server_key=self.secrets.server_key,
            auth=self.auth,
            audit=self.audit,
            ws_max_message=WS_MAX_MESSAGE,
            spawn=self._spawn,
        )

    def _registry(self) -> CollectorRegistry:
        registry = build_registry(self.stats, self._stream_snapshots)
        register_runtime(registry, self.loop_lag)
        if self.sip is not None:
            registry.register(DeviceCollector(self.sip.devices))
        if self.media is not None:
            self.media.register_collectors(registry)
        return registry

    def _stream_snapshots(self) -> list[StreamSnapshot]:
        return self.media.snapshots() if self.media is not None else []

    async def _device_of(self, channel_id: str) -> str | None:
        places = self.auth.access.snapshot.places if self.auth is not None else {}
        return await device_of(channel_id, places, self.directory)

    def _device_online(self, device_id: str) -> bool:
        return self.sip is not None and self.sip.devices.is_online(device_id)

    def _device_last_seen(self, device_id: str) -> datetime | None:
        return None if self.sip is None else self.sip.devices.last_seen(device_id)

    def _start_access(self) -> None:
        assert self.database is not None and self.auth is not None and self.media is not None
        self.access = start_access(
            self.settings,
            self.database,
            self.auth,
            stream_tokens=self.media.services.stream_tokens,
            audit=self.audit,
        )
        warning_s = self.settings.access.grant_expiry_warning_s
        self._spawn(access_housekeeping(self.access, self.auth, grant_expiry_warning_s=warning_s))
        self._spawn(self.auth.access.follow_catalogs(self.bus))

    async def _start_http(self) -> None:
        http = EmbeddedHttp.for_settings(self.settings, create_app(self._api_context()))
        self.listening.https = http.https
        self._http = http
        self.listening.http = await http.start()

    def _api_context(self) -> ApiContext:
        media, sip = self.media, self.sip
        assert media is not None and sip is not None
        built, workers = media.services, media.workers
        return ApiContext(
            registry=self._registry(),
            auth=self.auth,
            directory=self.directory,
            devices=sip.devices,
            live=built.live,
            stream_tokens=built.stream_tokens,
            masked=built.masked,
            rtsp_port=media.rtsp.port if media.rtsp is not None else None,
            live_worker_port=workers.assign if workers else None,
            audit=self.audit,
            access=self.access,
            database=self.database,
            web=self.settings.web,
            recording=media.recording,
            record_sources=built.record_sources,
            playback=built.playback,
            downloads=built.downloads,
            max_record_days=self.settings.playback.max_search_days,
        )

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                if self.sip is not None:
                    self.sip.registrar.expire()
                if self.media is not None:
                    self.media.services.downloads.sweep()
            except Exception:
                log.exception("housekeeping failed")

    async def stop(self) -> None:
        """Shut down in reverse order; safe to call twice."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if self._http is not None:
            await self._http.stop()
            self._http = None
        if self.media is not None:
            await self.media.stop()
            self.media = None
        if self.sip is not None:
            await self.sip.stop()
            self.sip = None
        await self._stop_access_and_storage()

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
