"""H.265 → H.264 for viewers that cannot decode H.265 (most browsers): one transcode per stream.

    hub[channel/live] ── viewer ── TranscodedUpstream ── hub[channel/live-h264] ── viewers
                                   (Transcoder in a worker thread)

``Transcoder`` is synchronous: HEVC decode (FFmpeg) and libx264 encode with ``ultrafast`` /
``zerolatency`` (no B-frames, no lookahead, so a frame leaves as soon as it is encoded), a
GOP of ``gop_s`` and the input timestamps kept. SPS/PPS travel in-band before every IDR,
so fMP4 and RTSP viewers that join later can start. ``TranscodedUpstream`` runs it in a
worker thread (FFmpeg releases the GIL while decoding and encoding), so the event loop
keeps serving while a frame is being transcoded; it is an ``Upstream`` the hub opens only
when an H.264 viewer asks, and closes ``grace_s`` after the last one leaves. H.264 input is
passed through untouched, as are audio units.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from fractions import Fraction
from logging import getLogger
from typing import Any

import av
import av.error

from sightline.media.fmp4 import stream_info_of
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit, StreamInfo

__all__ = ["TranscodeOptions", "TranscodedUpstream", "Transcoder"]

log = getLogger(__name__)

_CLOCK = Fraction(1, 90000)


@dataclass(frozen=True, slots=True)
class TranscodeOptions:
    """How to encode: ``bitrate_bps`` None means constant quality (``crf``)."""

    bitrate_bps: int | None = None
    crf: int = 23
    max_height: int | None = None  # scale down (keeping the aspect) above this height
    gop_s: float = 1.0
    fps: float = 25.0  # for rate control and the GOP length; timestamps come from the input
    preset: str = "ultrafast"
    threads: int = 0  # 0: FFmpeg decides


class Transcoder:
    """H.265 access units in, H.264 access units out; blocking, one thread at a time."""

    def __init__(self, options: TranscodeOptions | None = None) -> None:
        self.options = options or TranscodeOptions()
        self.info: StreamInfo | None = None
        self.frames_in = self.frames_out = self.decode_errors = 0
        self._decoder = av.CodecContext.create("hevc", "r")
        self._encoder: av.VideoCodecContext | None = None
        self._size: tuple[int, int] | None = None
        self._stream_id = 0xE0
        self._last_pts: int | None = None

    def push(self, unit: AccessUnit) -> list[AccessUnit]:
        """Transcode one H.265 access unit; returns the H.264 units ready (zero or more)."""
        self.frames_in += 1
        self._stream_id = unit.stream_id
        packet = av.Packet(unit.data)
        packet.pts, packet.dts, packet.time_base = unit.pts_90k, unit.dts_90k, _CLOCK
        try:
            frames = self._decoder.decode(packet)
        except av.error.FFmpegError as exc:
            self.decode_errors += 1
            log.warning("transcode 0x%02X: undecodable access unit: %s", unit.stream_id, exc)
            return []
        return [out for frame in frames for out in self._encode(frame)]

    def flush(self) -> list[AccessUnit]:
        """Drain the decoder and encoder at the end of the stream."""
        out = [u for frame in self._decoder.decode(None) for u in self._encode(frame)]
        if self._encoder is not None:
            out += self._units(self._encoder.encode(None))
        return out

    def _encode(self, frame: av.VideoFrame) -> list[AccessUnit]:
        size = self._target_size(frame.width, frame.height)
        out: list[AccessUnit] = []
        if self._encoder is None or size != self._size:
            if self._encoder is not None:
                out += self._units(self._encoder.encode(None))  # resolution changed
            self._encoder, self._size = self._open_encoder(*size), size
        pts = frame.pts
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            step = round(90000 / self.options.fps)
            pts = step if self._last_pts is None else self._last_pts + step
        self._last_pts = pts
        picture = frame.reformat(width=size[0], height=size[1], format="yuv420p")
        picture.pts, picture.time_base = pts, _CLOCK
        return out + self._units(self._encoder.encode(picture))

    def _target_size(self, width: int, height: int) -> tuple[int, int]:
        limit = self.options.max_height
        if limit is None or height <= limit:
            return width, height
        scaled = round(width * limit / height / 2) * 2  # 4:2:0 needs even sizes
        return scaled, limit - limit % 2

    def _open_encoder(self, width: int, height: int) -> av.VideoCodecContext:
        o = self.options
        ctx = av.CodecContext.create("libx264", "w")
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = _CLOCK
        ctx.framerate = Fraction(o.fps).limit_denominator(1001)
        ctx.gop_size = max(1, round(o.gop_s * o.fps))
        ctx.thread_count = o.threads
        options = {"preset": o.preset, "tune": "zerolatency", "bf": "0"}
        if o.bitrate_bps is None:
            options["crf"] = str(o.crf)
        else:
            ctx.bit_rate = o.bitrate_bps
            options |= {"maxrate": str(o.bitrate_bps), "bufsize": str(o.bitrate_bps)}
        ctx.options = options
        ctx.open()
        log.info("transcode 0x%02X: H.264 encoder %dx%d", self._stream_id, width, height)
        return ctx

    def _units(self, packets: Sequence[av.Packet[Any]]) -> list[AccessUnit]:
        out = []
        for p in packets:
            assert p.pts is not None
            dts = p.pts if p.dts is None else p.dts
            unit = AccessUnit(Codec.H264, self._stream_id, p.pts, dts, bytes(p), p.is_keyframe)
            if unit.keyframe:
                self.info = stream_info_of(unit) or self.info
            out.append(unit)
        self.frames_out += len(out)
        return out


class TranscodedUpstream:
    """An ``Upstream`` for the hub: the H.264 version of another view's H.265 stream.

    ``source_view`` is entered when the hub starts reading ``frames()`` and left when the
    hub closes this upstream, e.g. ``hub.view(StreamKey(channel), live_opener)``.
    """

    def __init__(
        self,
        source_view: AbstractAsyncContextManager[AsyncIterator[AccessUnit]],
        options: TranscodeOptions | None = None,
    ) -> None:
        self._source = source_view
        self.transcoder = Transcoder(options)
        self._stack = AsyncExitStack()

    async def frames(self) -> AsyncIterator[AccessUnit]:
        """H.264 access units (and the source's other units), in decode order."""
        try:
            units = await self._stack.enter_async_context(self._source)
            async for unit in units:
                if unit.codec is not Codec.H265:
                    yield unit
                    continue
                for out in await asyncio.to_thread(self.transcoder.push, unit):
                    yield out
        finally:
            await self._stack.aclose()

    async def close(self) -> None:
        """Leave the source view (if ``frames()`` has not unwound already)."""
        await self._stack.aclose()
