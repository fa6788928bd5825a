"""G.711 → AAC for browsers: one transcode per stream, shared by all its browser viewers.

    hub[channel/live] ── viewer ── AacUpstream ── hub[channel/live+aac] ── browser viewers
                                   (G711ToAac, inline: ~0.4 % of a core per stream)

The hub publishes the variant in the same call as its source (``AacUpstream.attach``, a
forwarding viewer), so the hop costs no task switch per frame.

GB/T 28181 cameras send G.711 A-law or µ-law at 8 kHz inside the PS stream. Media Source
Extensions cannot play G.711 in MP4, but every browser plays AAC-LC, so browser viewers join
the ``+aac`` variant of a stream: video and G.711 pass through untouched, and each G.711 unit
is also decoded, resampled to 16 kHz and encoded with FFmpeg's native ``aac`` encoder (PyAV)
into ADTS frames (1024 samples, 64 ms), which ``Fmp4Packager(audio=True)`` puts in a second
track. The encoder is made at the first G.711 unit, so a stream without audio costs one hub hop
and no codec. RTSP sends G.711 as it came, from the source stream (recordings keep video only).

The encoder runs on the event loop rather than in a worker thread: a 40 ms unit takes ~130 µs
(CPU p99 0.5 ms, ``benchmarks/audio_transcode.py``), about what a thread hand-off would cost.

Timestamps: the first G.711 unit's PTS is sample 0; AAC packet times follow the encoder's sample
count from there, so AAC stays on the video's 90 kHz clock. A G.711 unit more than
``RESYNC_90K`` away from where the count expects it (camera clock jump, a long gap) restarts
the codecs on the new time; a shorter gap (lost packets) is filled with silence, and so is
audio that stops while the video goes on (a player stalls at a hole in either track).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from fractions import Fraction
from logging import getLogger

import av
import av.error

from sightline.media.errors import MediaError
from sightline.media.fmp4_audio import AacConfig, adts_frame
from sightline.media.hub import Opener, StreamHub, StreamKey, Viewer
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit

__all__ = [
    "AAC_KIND_SUFFIX",
    "AacUpstream",
    "AudioTranscodeError",
    "G711ToAac",
    "aac_key",
    "aac_opener",
]

log = getLogger(__name__)

AAC_KIND_SUFFIX = "+aac"
G711_RATE = 8000
RESYNC_90K = 45000
FILL_LAG_90K = 27000  # audio this far behind the video is filled with silence (see fill_until)
AAC_STREAM_ID = 0xC0
_DECODERS = {Codec.G711A: "pcm_alaw", Codec.G711U: "pcm_mulaw"}
_SILENCE = {Codec.G711A: b"\xd5", Codec.G711U: b"\xff"}  # the code for sample value 0


class AudioTranscodeError(MediaError):
    """The audio codecs could not be set up."""


class G711ToAac:
    """G.711 access units in, ADTS AAC access units out; blocking, one caller at a time."""

    def __init__(self, *, sample_rate: int = 16000, bitrate_bps: int = 32000) -> None:
        self.config = AacConfig(2, sample_rate, 1)
        self.bitrate_bps = bitrate_bps
        self.units_in = self.units_out = self.errors = 0
        self._codec: Codec | None = None
        self._decoder: av.AudioCodecContext | None = None
        self._resampler: av.AudioResampler | None = None
        self._encoder: av.AudioCodecContext | None = None
        self._origin_90k = 0
        self._samples = 0  # G.711 samples fed since the origin

    @property
    def next_pts_90k(self) -> int | None:
        """Where the next G.711 sample belongs on the 90 kHz clock; None before the first."""
        if self._codec is None:
            return None
        return self._origin_90k + self._samples * 90000 // G711_RATE

    def push(self, unit: AccessUnit) -> list[AccessUnit]:
        """Transcode one G.711 unit; the AAC units that come out (often none, sometimes one).

        A gap before it (a lost PES) is filled with silence, so the AAC track stays gapless:
        a Media Source Extensions player stalls the video at a hole in the audio.
        """
        if unit.codec not in _DECODERS or not unit.data:
            return []
        self.units_in += 1
        expected = self.next_pts_90k
        if (
            expected is None
            or unit.codec is not self._codec
            or abs(unit.pts_90k - expected) > RESYNC_90K
        ):
            self._open(unit.codec, unit.pts_90k)
            return self._feed(unit.data)
        gap = max(0, (unit.pts_90k - expected) * G711_RATE // 90000)
        return self._feed(_SILENCE[unit.codec] * gap + unit.data)

    def fill_until(self, pts_90k: int) -> list[AccessUnit]:
        """Silence up to ``FILL_LAG_90K`` before ``pts_90k`` (the video's time) when the audio
        has fallen further behind than that: a camera that stops sending audio mid-stream
        must not stall its video in the browser."""
        expected = self.next_pts_90k
        if expected is None or self._codec is None:
            return []
        missing = pts_90k - FILL_LAG_90K - expected
        if missing <= FILL_LAG_90K:
            return []
        if missing > 4 * RESYNC_90K:  # the video jumped: start the audio over behind it
            self._open(self._codec, pts_90k - FILL_LAG_90K)
            return []
        return self._feed(_SILENCE[self._codec] * (missing * G711_RATE // 90000))

    def _feed(self, data: bytes) -> list[AccessUnit]:
        assert self._decoder is not None and self._resampler is not None
        packet = av.Packet(data)
        packet.pts, packet.time_base = self._samples, Fraction(1, G711_RATE)
        self._samples += len(data)  # G.711: one byte per sample
        out: list[AccessUnit] = []
        try:
            for frame in self._decoder.decode(packet):
                for resampled in self._resampler.resample(frame):
                    out += self._encode(resampled)
        except av.error.FFmpegError as exc:
            self.errors += 1
            log.debug("G.711 at sample %d not transcoded: %s", self._samples, exc)
        return out

    def _encode(self, frame: av.AudioFrame | None) -> list[AccessUnit]:
        assert self._encoder is not None
        out = []
        rate = self.config.sample_rate
        for packet in self._encoder.encode(frame):
            pts = self._origin_90k + (packet.pts or 0) * 90000 // rate
            data = adts_frame(self.config, bytes(packet))
            out.append(AccessUnit(Codec.AAC, AAC_STREAM_ID, pts, pts, data, True))
        self.units_out += len(out)
        return out

    def _open(self, codec: Codec, pts_90k: int) -> None:
        if self._codec is not None:
            log.info("G.711 → AAC: restarting at %d (%s)", pts_90k, codec.value)
        try:
            decoder = av.CodecContext.create(_DECODERS[codec], "r")
            assert isinstance(decoder, av.AudioCodecContext)
            decoder.sample_rate, decoder.layout = G711_RATE, "mono"
            encoder = av.CodecContext.create("aac", "w")
            assert isinstance(encoder, av.AudioCodecContext)
            encoder.sample_rate, encoder.format, encoder.layout = (
                self.config.sample_rate,
                "fltp",
                "mono",
            )
            encoder.bit_rate = self.bitrate_bps
            encoder.time_base = Fraction(1, self.config.sample_rate)
            encoder.open()
        except av.error.FFmpegError as exc:
            raise AudioTranscodeError(f"cannot open the G.711/AAC codecs: {exc}") from exc
        self._decoder, self._encoder, self._codec = decoder, encoder, codec
        self._resampler = av.AudioResampler(
            format="fltp", layout="mono", rate=self.config.sample_rate
        )
        self._origin_90k, self._samples = pts_90k, 0


class AacUpstream:
    """An ``Upstream``: the joined source's units, plus AAC made from its G.711 units."""

    def __init__(self, hub: StreamHub, source: Viewer) -> None:
        self._hub = hub
        self._source = source
        self.transcoder = G711ToAac()

    async def frames(self) -> AsyncIterator[AccessUnit]:
        """Every source unit as it is; after each G.711 unit, the AAC it completed."""
        transcoder = self.transcoder
        async for unit in self._source:
            yield unit
            if unit.codec in _DECODERS:
                aacs = transcoder.push(unit)
            elif unit.stream_id >= 0xE0:
                aacs = transcoder.fill_until(unit.dts_90k)
            else:
                continue
            for aac in aacs:
                yield aac

    def attach(self, deliver: Callable[[AccessUnit], None]) -> Awaitable[None]:
        """What ``frames`` yields, pushed to ``deliver`` as the source publishes it (the hub
        uses this: no task switch per frame); ends with the source's error."""
        transcoder = self.transcoder

        def each(unit: AccessUnit) -> None:
            deliver(unit)
            if unit.codec in _DECODERS:
                aacs = transcoder.push(unit)
            elif unit.stream_id >= 0xE0:
                aacs = transcoder.fill_until(unit.dts_90k)
            else:
                return
            for aac in aacs:
                deliver(aac)

        return self._source.forward(each)

    async def close(self) -> None:
        """Leave the source; with no other viewer it closes at once (this variant has already
        waited out its grace, so the device is not kept twice as long)."""
        self._hub.leave(self._source, linger=False)


def aac_key(source: StreamKey) -> StreamKey:
    """The hub key of a stream's variant with AAC audio for browsers."""
    return StreamKey(source.channel_id, source.kind + AAC_KIND_SUFFIX)


def aac_opener(hub: StreamHub, source_key: StreamKey, source_opener: Opener) -> Opener:
    """The hub opener of the ``+aac`` variant of ``source_key`` (opened by ``source_opener``)."""

    async def open_aac() -> AacUpstream:
        viewer = await hub.join(source_key, source_opener)
        return AacUpstream(hub, viewer)

    return open_aac
