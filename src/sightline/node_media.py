"""A node's media side: live streams, device recordings, playback, RTSP, recording and media
workers, from start-up to shutdown.

:func:`build_media` wires what ``Node`` starts once SIP is up: the live ``StreamHub`` and
``LiveService`` (INVITE, RTP receive, one upstream per channel), the stream tokens every
media URL carries, masked views, the device-side record source, the playback hub and
sessions, and the download store. :class:`NodeMedia` holds them with what starts later (the
RTSP server, platform recording, the media worker processes), counts their streams for the
metrics, and stops them all in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from sightline.access.audit import AuditLog
from sightline.access.service import AuthService
from sightline.access.stream_tokens import StreamTokens
from sightline.analytics.masked_stream import MaskedStreams
from sightline.analytics.masks import MaskService
from sightline.api.metrics import MediaWorkerCollector
from sightline.api.routers.recording_plans import audit_deletions
from sightline.config import Settings
from sightline.directory import DirectoryService
from sightline.events import AlarmReceived, EventBus
from sightline.gb28181.devices import DeviceManager
from sightline.gb28181.live import LiveService, advertised_media_host
from sightline.gb28181.live_dialog import MediaCalls
from sightline.gb28181.live_workers import MediaWorkers, split_ports
from sightline.gb28181.record_source import DeviceRecordSource
from sightline.gb28181.records import device_zone
from sightline.gb28181.ssrc import SsrcAllocator
from sightline.media.downloads import Downloads
from sightline.media.hub import StreamHub, StreamSnapshot
from sightline.media.playback import RecordSource, RecordSourceName
from sightline.media.playback_sessions import PlaybackSessions
from sightline.media.ports import RtpPortAllocator
from sightline.media.recording import (
    PlatformRecordSource,
    RecordingCollector,
    RecordingOptions,
    RecordingService,
)
from sightline.media.rtsp_server import RtspServer
from sightline.node_media_workers import start_media_workers
from sightline.node_rtsp import RtspGate
from sightline.sip.endpoint import SipEndpoint
from sightline.store.db import Database
from sightline.store.repositories.access import ChannelPlace
from sightline.store.repositories.recording import RecordingStore

__all__ = ["MediaServices", "NodeMedia", "build_media", "device_of"]

_MEDIA_SHUTDOWN_S = 2.0
_RECORDING_SHUTDOWN_S = 5.0


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


@dataclass(frozen=True, slots=True)
class MediaServices:
    """What :func:`build_media` made."""

    hub: StreamHub
    live: LiveService
    stream_tokens: StreamTokens
    masked: MaskedStreams
    device_records: DeviceRecordSource
    playback: PlaybackSessions
    downloads: Downloads
    # recordings of every source (issue 7): the device's here; the platform's registers
    # itself when recording starts (NodeMedia.start_recording)
    record_sources: dict[RecordSourceName, RecordSource]


def build_media(
    settings: Settings,
    *,
    server_key: bytes,
    database: Database,
    endpoint: SipEndpoint,
    devices: DeviceManager,
    locate: Callable[[str], Awaitable[str | None]],
) -> MediaServices:
    """Build the media services, nothing listening or running yet."""
    media, playback = settings.media, settings.playback
    calls = MediaCalls(endpoint, devices.addressing, timeout_s=media.invite_timeout_s)
    calls.attach()  # BYE from devices, and re-ACK of retransmitted 2xx
    hub = StreamHub(
        grace_s=media.grace_s,
        first_frame_timeout_s=media.first_frame_timeout_s,
        no_media_timeout_s=media.no_media_timeout_s,
    )
    live = LiveService(
        calls=calls,
        devices=devices,
        hub=hub,
        # with media workers, the first slice (playback, downloads, live while none runs)
        ports=RtpPortAllocator.from_range(split_ports(*media.rtp_port_range, media.workers)[0]),
        ssrc=SsrcAllocator(settings.sip.id),
        settings=media,
        media_host=advertised_media_host(settings),
        locate=locate,
    )
    tokens = StreamTokens(server_key, media.token_ttl_s, bind_client=media.token_bind_client)
    masked = MaskedStreams(hub, MaskService(database), live.opener)
    device_records = DeviceRecordSource(
        live=live,
        query=devices.query_record_info,
        zone=device_zone(playback.device_time_zone),
        download_speed=playback.download_speed,
        max_pause_s=playback.max_pause_s,
    )
    record_sources: dict[RecordSourceName, RecordSource] = {RecordSourceName.DEVICE: device_records}
    # a paused session sends nothing: its upstream watches for media loss itself
    playback_hub = StreamHub(
        grace_s=media.grace_s,
        first_frame_timeout_s=media.first_frame_timeout_s,
        no_media_timeout_s=playback.max_pause_s + media.no_media_timeout_s,
    )
    sessions = PlaybackSessions(
        playback_hub, record_sources, max_per_owner=playback.max_playback_sessions_per_user
    )
    downloads = Downloads(
        settings.data_dir / "downloads",
        retention_s=playback.download_retention_s,
        max_running_per_owner=playback.max_downloads_per_user,
    )
    downloads.prepare()
    return MediaServices(
        hub, live, tokens, masked, device_records, sessions, downloads, record_sources
    )


class NodeMedia:
    """The media side of one node, over what :func:`build_media` made; see the module docstring."""

    def __init__(self, settings: Settings, services: MediaServices) -> None:
        self.settings = settings
        self.services = services
        self.rtsp: RtspServer | None = None
        self.recording: RecordingService | None = None
        self.workers: MediaWorkers | None = None

    async def start_rtsp(self, auth: AuthService | None) -> tuple[str, int] | None:
        """The RTSP server if ``media.rtsp_port`` is set; the address it listens on."""
        media = self.settings.media
        if media.rtsp_port is None:
            return None
        built = self.services
        gate = RtspGate(built.live, built.masked, built.stream_tokens, auth)
        self.rtsp = RtspServer(
            authorize=gate.authorize,
            open_view=gate.view,
            host=media.bind_host,
            port=media.rtsp_port,
            first_frame_timeout_s=media.first_frame_timeout_s,
        )
        await self.rtsp.start()
        return media.bind_host, self.rtsp.port

    async def start_recording(
        self,
        database: Database,
        audit: AuditLog | None,
        bus: EventBus,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        """Platform recordings made searchable; recording itself if ``recording.enabled``."""
        options = RecordingOptions(**self.settings.recording.model_dump())
        store = RecordingStore(database)
        root = self.settings.data_dir / "recordings"
        # what was recorded stays searchable and playable even with recording switched off
        self.services.record_sources[RecordSourceName.PLATFORM] = PlatformRecordSource(root, store)
        if not options.enabled:
            return
        live = self.services.live
        self.recording = RecordingService(
            root,
            index=store,
            plans=store,
            join=live.join,
            leave=live.leave,
            options=options,
            on_delete=audit_deletions(audit) if audit is not None else None,
        )
        await self.recording.start()
        spawn(self.recording.follow_alarms(bus.subscribe(AlarmReceived)))

    async def start_workers(
        self,
        *,
        server_key: bytes,
        auth: AuthService,
        audit: AuditLog | None,
        ws_max_message: int,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        """``media.workers`` processes for live video (node_media_workers)."""
        if self.settings.media.workers == 0:
            return
        self.workers, views = await start_media_workers(
            self.settings,
            server_key=server_key,
            live=self.services.live,
            auth=auth,
            tokens=self.services.stream_tokens,
            masks=True,  # MaskedStreams always exists: the workers refuse a holder to mask
            audit=audit,
            ws_max_message=ws_max_message,
        )
        spawn(views.run())

    def register_collectors(self, registry: CollectorRegistry) -> None:
        """Metrics of platform recording and of the media workers, for those running."""
        if self.recording is not None:
            registry.register(RecordingCollector(self.recording.status))
        if self.workers is not None:
            registry.register(MediaWorkerCollector(self.workers.health))

    def snapshots(self) -> list[StreamSnapshot]:
        """Every stream: live (received here or in a media worker), then playback."""
        live = self.services.hub.snapshot()
        if self.workers is not None:
            # a stream relayed here is counted where it is received, in its worker
            workers = self.workers.snapshots()
            received = {s.key for s in workers}
            live = [s for s in live if s.key not in received] + workers
        return live + self.services.playback.hub.snapshot()

    async def stop(self) -> None:
        """RTSP, recording and workers, then every call; each step bounded where it can hang."""
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
        if self.workers is not None:
            await self.workers.stop()  # their streams end; the main process sends BYE
            self.workers = None
        await self._close_calls()

    async def _close_calls(self) -> None:
        # BYE to every device still streaming: best effort, a gone device must not hold the
        # shutdown for a whole SIP timeout
        built = self.services
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_MEDIA_SHUTDOWN_S):
                await built.downloads.close()
                await built.playback.hub.close()
                await built.hub.close()
                await built.live.calls.close()
