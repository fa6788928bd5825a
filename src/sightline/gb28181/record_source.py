"""The device's own recordings as a :class:`~sightline.media.playback.RecordSource`.

* ``search``: RecordInfo to the channel's device (split answers reassembled by SN and SumNum;
  when the deadline passes, what arrived is kept), local times converted with the device's
  zone (:mod:`.records`).
* ``open_playback``: an ``s=Playback`` INVITE (``u=<channel>:0``, ``t=<start> <end>`` in Unix
  seconds, a history SSRC starting with 1) through the live-view machinery, as a
  :class:`~.playback.DevicePlayback` with MANSRTSP controls.
* ``export``: an ``s=Download`` INVITE with ``a=downloadspeed``, remuxed into an MP4 file;
  progress is the media time received over the asked length.

The device ends both with the in-dialog MESSAGE ``MediaStatus`` 121: :meth:`handle_message`
takes in-dialog MESSAGEs before the device manager sees them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from pathlib import Path

from sightline.gb28181.invite import (
    InviteOffer,
    MediaTransport,
    build_download_offer,
    build_playback_offer,
)
from sightline.gb28181.live import LiveService, OfferMaker
from sightline.gb28181.manscdp import ManscdpError, RecordItem, decode
from sightline.gb28181.mansrtsp import is_end_of_file
from sightline.gb28181.playback import DevicePlayback
from sightline.gb28181.records import segments_from_items, to_device_local
from sightline.gb28181.ssrc import StreamKind
from sightline.media.mp4_writer import Mp4Writer
from sightline.media.playback import RecordSegment, RecordSourceName
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.message import Response, build_response

__all__ = ["DeviceRecordSource", "RecordQuery"]

log = logging.getLogger(__name__)

RecordQuery = Callable[[str, str, datetime, datetime], Awaitable[list[RecordItem]]]
"""(device ID, channel ID, local start, local end) → the RecordInfo items (DeviceManager)."""

_OVERRUN_S = 1.0  # an export stops this far past the asked length even without MediaStatus


class DeviceRecordSource:
    """Search, play and download recordings kept on devices (see the module docstring)."""

    name = RecordSourceName.DEVICE

    def __init__(
        self,
        *,
        live: LiveService,
        query: RecordQuery,
        zone: tzinfo,
        download_speed: int = 4,
        max_pause_s: float = 600.0,
        zone_for: Callable[[str], tzinfo | None] | None = None,
    ) -> None:
        self._live = live
        self._query = query
        self._zone = zone
        self._zone_for = zone_for
        self._speed = download_speed
        self._max_pause_s = max_pause_s
        self._sessions: dict[str, DevicePlayback] = {}  # by Call-ID

    def zone_of(self, device_id: str) -> tzinfo:
        """The zone of the device's local times: its own setting, else the platform's."""
        chosen = self._zone_for(device_id) if self._zone_for is not None else None
        return chosen or self._zone

    # -- search -----------------------------------------------------------------------------

    async def search(self, channel_id: str, start: datetime, end: datetime) -> list[RecordSegment]:
        """RecordInfo for [start, end); the segments overlapping it, oldest first."""
        session = await self._live.device_for(channel_id)
        zone = self.zone_of(session.device_id)
        items = await self._query(
            session.device_id,
            channel_id,
            to_device_local(start, zone),
            to_device_local(end, zone),
        )
        segments = segments_from_items(channel_id, items, zone, start, end)
        log.info(
            "channel %s of device %s: %d recordings between %s and %s (%d items)",
            channel_id,
            session.device_id,
            len(segments),
            start.isoformat(),
            end.isoformat(),
            len(items),
        )
        return segments

    # -- playback and download --------------------------------------------------------------

    async def open_playback(
        self, channel_id: str, start: datetime, end: datetime
    ) -> DevicePlayback:
        """INVITE ``s=Playback`` for [start, end); the session with its VCR controls."""

        def offer(ssrc: str, port: int, transport: MediaTransport) -> InviteOffer:
            return build_playback_offer(
                start,
                end,
                platform_id=self._live.addressing.platform_id,
                channel_id=channel_id,
                ssrc=ssrc,
                media_ip=self._live.media_host,
                media_port=port,
                transport=transport,
            )

        return await self._open(channel_id, start, end, offer)

    async def _open(
        self,
        channel_id: str,
        start: datetime,
        end: datetime,
        offer: OfferMaker,
    ) -> DevicePlayback:
        upstream = await self._live.open_call(channel_id, StreamKind.HISTORY, offer)
        playback = DevicePlayback(
            upstream,
            self._live.calls,
            start=start,
            end=end,
            no_media_timeout_s=self._live.settings.no_media_timeout_s,
            max_pause_s=self._max_pause_s,
        )
        call_id = upstream.call.call_id
        self._sessions[call_id] = playback
        playback.on_close = lambda: self._sessions.pop(call_id, None)
        return playback

    async def export(
        self,
        channel_id: str,
        start: datetime,
        end: datetime,
        destination: Path,
        progress: Callable[[float], None],
    ) -> Path:
        """INVITE ``s=Download`` and remux what comes into an MP4 file at ``destination``."""

        def offer(ssrc: str, port: int, transport: MediaTransport) -> InviteOffer:
            return build_download_offer(
                start,
                end,
                self._speed,
                platform_id=self._live.addressing.platform_id,
                channel_id=channel_id,
                ssrc=ssrc,
                media_ip=self._live.media_host,
                media_port=port,
                transport=transport,
            )

        length_s = (end - start).total_seconds()
        writer = Mp4Writer(destination)
        download = await self._open(channel_id, start, end, offer)
        try:
            async for unit in download.frames():
                writer.write(unit)
                progress(min(1.0, writer.duration_s / length_s))
                if writer.duration_s >= length_s + _OVERRUN_S:
                    break  # the device did not say "end of file": we have what we asked for
            path = writer.close()
        except BaseException:
            writer.discard()
            raise
        finally:
            await asyncio.shield(download.close())
        if not download.ended_by_eof:
            log.info("%s: download ended without MediaStatus 121", download.label)
        progress(1.0)
        return path

    # -- the device's in-dialog MESSAGE -----------------------------------------------------

    def handle_message(self, incoming: IncomingRequest) -> Response | None:
        """Answer an in-dialog MESSAGE of a history call (MediaStatus); None if not ours."""
        request = incoming.request
        call = self._live.calls.call_for(request)
        if call is None:
            return None
        status = call.dialog.receive_request(request)
        if status is not None:
            return build_response(request, status)
        try:
            message = decode(request.body)
        except ManscdpError as exc:
            log.info("call %s: bad in-dialog MESSAGE: %s", call.call_id, exc)
            return build_response(request, 400)
        playback = self._sessions.get(call.call_id)
        if is_end_of_file(message) and playback is not None:
            playback.end_of_file()
        else:
            log.info("call %s: in-dialog %s ignored", call.call_id, type(message).__name__)
        return build_response(request, 200)
