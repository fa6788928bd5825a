"""The masked view of a channel: one shared decode → mask → encode per channel, in the hub.

    hub[channel/masked] ── MaskedUpstream ── viewer of hub[channel/live] ── the device's stream
                           (MaskedVideo in a worker thread)

A viewer who must not see a channel unmasked joins ``masked_key(channel)`` with
:meth:`MaskedStreams.opener`; the hub shares that stream among all such viewers, so a channel
costs one masked encode however many masked viewers it has, and none while it has none: the
upstream starts with the first masked viewer and closes ``grace_s`` after the last one left
(then leaving the live stream, which closes after its own grace if nobody else watches).

While the channel has no masks the masked view passes the camera's units through untouched
(no decode, no encode: channels without masks are never re-encoded); when masks are set, the
very next picture is masked and re-encoded (:class:`~sightline.analytics.masked_video.
MaskedVideo`), so a viewer who started watching before the first mask was drawn is covered
too. :class:`~sightline.analytics.masks.MaskService` announces every change; the running view
applies it from the next picture. Audio units pass untouched. Video this package cannot
decode (MPEG-4, SVAC) fails closed: it passes only while the channel has no masks, and is
dropped (logged once per stream) while it has some, so a masked viewer never sees it unmasked.

The opener joins the live stream before it returns, so the live stream's failures (device
offline, INVITE refused, never arrived) reach masked viewers as the errors a live viewer gets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from logging import getLogger

from sightline.analytics.masked_video import MASKED_OPTIONS, MaskedVideo
from sightline.analytics.masking import PrivacyMask
from sightline.analytics.masks import MaskService
from sightline.media.hub import Opener, StreamHub, StreamKey, Viewer
from sightline.media.ps_format import AUDIO_CODECS, Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.transcode import TranscodeOptions

__all__ = ["MASKED_KIND", "MaskedStreams", "MaskedUpstream", "masked_key"]

log = getLogger(__name__)

MASKED_KIND = "masked"
_VIDEO = frozenset({Codec.H264, Codec.H265})


def masked_key(channel_id: str) -> StreamKey:
    """The hub key of a channel's masked view."""
    return StreamKey(channel_id, MASKED_KIND)


class MaskedUpstream:
    """An ``Upstream`` of masked H.264 units made from a joined viewer of the live stream."""

    def __init__(
        self,
        source: Viewer,
        video: MaskedVideo,
        release: Callable[[MaskedUpstream], None],
    ) -> None:
        self.source = source
        self.video = video
        self._release = release
        self._released = False

    async def frames(self) -> AsyncIterator[AccessUnit]:
        """The live stream's units with the video masked and re-encoded as H.264."""
        refused = False
        try:
            async for unit in self.source:
                if unit.codec in AUDIO_CODECS:
                    yield unit
                    continue
                if unit.codec not in _VIDEO:  # cannot be decoded here, so cannot be masked
                    if not self.video.mask:
                        yield unit
                    elif not refused:
                        refused = True
                        log.warning(
                            "masked view: %s video cannot be masked; withheld while masks exist",
                            unit.codec,
                        )
                    continue
                for out in await asyncio.to_thread(self.video.push, unit):
                    yield out
        finally:
            self._leave()

    async def close(self) -> None:
        """Stop encoding and leave the live stream (also when frames() never started)."""
        self._leave()

    def _leave(self) -> None:
        if not self._released:
            self._released = True
            self._release(self)


class MaskedStreams:
    """Opens, shares and updates the masked views of channels; see the module docstring."""

    def __init__(
        self,
        hub: StreamHub,
        masks: MaskService,
        live_opener: Callable[[str], Opener],
        options: TranscodeOptions = MASKED_OPTIONS,
    ) -> None:
        self.hub = hub
        self.masks = masks
        self.options = options
        self._live_opener = live_opener
        self._running: dict[str, set[MaskedUpstream]] = {}
        masks.subscribe(self._mask_changed)

    @property
    def encoders(self) -> int:
        """How many masked encodes run now (at most one per channel with masked viewers)."""
        return sum(up.video.encoding for ups in self._running.values() for up in ups)

    def encoders_of(self, channel_id: str) -> int:
        """How many masked encodes of one channel run now (0 or 1, but for a closing one)."""
        return sum(up.video.encoding for up in self._running.get(channel_id, ()))

    async def needs_mask(self, channel_id: str) -> bool:
        """Whether the channel has masks (a viewer without the unmasked right gets them)."""
        return bool(await self.masks.mask(channel_id))

    def opener(self, channel_id: str) -> Opener:
        """The hub opener of the channel's masked view."""

        async def open_masked() -> MaskedUpstream:
            await self.masks.mask(channel_id)  # loaded before the INVITE, cached from here on
            source = await self.hub.join(StreamKey(channel_id), self._live_opener(channel_id))
            # read again: a change made while the INVITE ran found no encode to update
            mask = await self.masks.mask(channel_id)
            upstream = MaskedUpstream(source, MaskedVideo(mask, self.options), self._release)
            self._running.setdefault(channel_id, set()).add(upstream)
            log.info(
                "channel %s: masked view started (%d polygons)", channel_id, len(mask.polygons)
            )
            return upstream

        return open_masked

    async def join(self, channel_id: str) -> Viewer:
        """Become a viewer of the channel's masked view (starting its encode if needed)."""
        return await self.hub.join(masked_key(channel_id), self.opener(channel_id))

    def leave(self, viewer: Viewer) -> None:
        """Stop viewing; the encode ends after the hub's grace period."""
        self.hub.leave(viewer)

    @contextlib.asynccontextmanager
    async def view(self, channel_id: str) -> AsyncIterator[Viewer]:
        """Be a masked viewer for the duration of the block."""
        async with self.hub.view(masked_key(channel_id), self.opener(channel_id)) as viewer:
            yield viewer

    def _release(self, upstream: MaskedUpstream) -> None:
        channel_id = upstream.source.key.channel_id
        self.hub.leave(upstream.source, linger=False)  # the masked view had its own grace
        running = self._running.get(channel_id)
        if running is not None:
            running.discard(upstream)
            if not running:
                del self._running[channel_id]
        log.info(
            "channel %s: masked view stopped (%d encodes started)",
            channel_id,
            upstream.video.encodes,
        )

    def _mask_changed(self, channel_id: str, mask: PrivacyMask) -> None:
        for upstream in self._running.get(channel_id, ()):
            upstream.video.set_mask(mask)
