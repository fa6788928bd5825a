"""Stream variants: the H.264 version of a live stream, for browsers that cannot play H.265.

    hub[channel/h264] ── H264Upstream ── viewer of hub[channel/live] ── the device's stream
                         (TranscodedUpstream: H.265 → H.264 in a worker thread)

A browser whose Media Source Extensions answer no to ``hvc1`` asks for ``?codec=h264``; the
media route then joins ``h264_key(channel)`` with ``h264_opener(...)``. The variant is one
more stream in the same hub, so every such viewer of a channel shares one transcode, which
starts only when the first of them arrives and stops ``grace_s`` after the last one left.
H.264 sources pass through untouched (the variant costs one extra hop, no encode).

The opener joins the source stream before it returns, so the source's failures (device
offline, INVITE refused, stream never arrived) reach the variant's viewers as the same
errors a viewer of the source gets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sightline.media.hub import Opener, StreamHub, StreamKey, Viewer
from sightline.media.ps_frames import AccessUnit
from sightline.media.transcode import TranscodedUpstream, TranscodeOptions

__all__ = ["H264_KIND", "H264Upstream", "h264_key", "h264_opener"]

H264_KIND = "h264"


def h264_key(channel_id: str) -> StreamKey:
    """The hub key of a channel's H.264 variant."""
    return StreamKey(channel_id, H264_KIND)


class H264Upstream:
    """An ``Upstream`` of H.264 units made from an already joined viewer of the source."""

    def __init__(
        self, hub: StreamHub, source: Viewer, options: TranscodeOptions | None = None
    ) -> None:
        self._hub = hub
        self._source = source
        self.transcoded = TranscodedUpstream(self._joined(), options)

    @asynccontextmanager
    async def _joined(self) -> AsyncIterator[Viewer]:
        try:
            yield self._source
        finally:
            self._hub.leave(self._source, linger=False)

    def frames(self) -> AsyncIterator[AccessUnit]:
        """The source's units with H.265 video re-encoded as H.264."""
        return self.transcoded.frames()

    async def close(self) -> None:
        """Stop transcoding and leave the source; with no other viewer it closes at once (this
        variant has already waited out its own grace, so the device is not kept twice as long)."""
        await self.transcoded.close()
        # also when frames() never started; leave is idempotent
        self._hub.leave(self._source, linger=False)


def h264_opener(
    hub: StreamHub,
    source_key: StreamKey,
    source_opener: Opener,
    options: TranscodeOptions | None = None,
) -> Opener:
    """The hub opener of an H.264 variant of ``source_key`` (opened by ``source_opener``)."""

    async def open_h264() -> H264Upstream:
        viewer = await hub.join(source_key, source_opener)
        return H264Upstream(hub, viewer, options)

    return open_h264
