"""A node's media services, built from its settings: live streams, device recordings, playback.

:func:`build_media` wires what ``Node`` starts once SIP is up: the live ``StreamHub`` and
``LiveService`` (INVITE, RTP receive, one upstream per channel), the stream tokens every
media URL carries, masked views, the device-side record source, the playback hub and
sessions, and the download store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sightline.access.stream_tokens import StreamTokens
from sightline.analytics.masked_stream import MaskedStreams
from sightline.analytics.masks import MaskService
from sightline.config import Settings
from sightline.gb28181.devices import DeviceManager
from sightline.gb28181.live import LiveService, advertised_media_host
from sightline.gb28181.live_dialog import MediaCalls
from sightline.gb28181.live_workers import split_ports
from sightline.gb28181.record_source import DeviceRecordSource
from sightline.gb28181.records import device_zone
from sightline.gb28181.ssrc import SsrcAllocator
from sightline.media.downloads import Downloads
from sightline.media.hub import StreamHub
from sightline.media.playback import RecordSource, RecordSourceName
from sightline.media.playback_sessions import PlaybackSessions
from sightline.media.ports import RtpPortAllocator
from sightline.sip.endpoint import SipEndpoint
from sightline.store.db import Database

__all__ = ["MediaServices", "build_media"]


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


def build_media(
    settings: Settings,
    *,
    server_key: bytes,
    database: Database,
    endpoint: SipEndpoint,
    devices: DeviceManager,
    locate: Callable[[str], Awaitable[str | None]],
    record_sources: dict[RecordSourceName, RecordSource],
) -> MediaServices:
    """Build the media services; the device record source is added to ``record_sources``."""
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
    record_sources[RecordSourceName.DEVICE] = device_records
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
    return MediaServices(hub, live, tokens, masked, device_records, sessions, downloads)
