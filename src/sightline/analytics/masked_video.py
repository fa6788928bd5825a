"""Decode, black out the privacy mask, encode H.264: the picture a masked viewer gets.

``MaskingTranscoder`` is :class:`~sightline.media.transcode.Transcoder` (the libx264
``ultrafast``/``zerolatency`` encoder, GOP of ``gop_s``, input timestamps kept, SPS/PPS before
every IDR) with two differences: it decodes H.264 as well as H.265, and every decoded picture
is copied and masked before it is encoded. The copy matters: a decoded frame shares its buffer
with the decoder's reference pictures, and blacking that out in place would smear the mask
into later frames by motion compensation.

The mask can be swapped at any time (:meth:`MaskingTranscoder.set_mask`, e.g. from the event
loop while a worker thread transcodes): the next picture is masked with the new polygons.
``MaskedVideo`` puts a masked view's video together: the source untouched while the mask is
empty, the transcoder while it is not, switching without a gap. Both are blocking, one thread
at a time, like the transcoder they extend.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from logging import getLogger

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.video.plane import VideoPlane

from sightline.analytics.masking import PrivacyMask
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.transcode import TranscodeOptions, Transcoder

__all__ = ["MASKED_OPTIONS", "MaskedVideo", "MaskingTranscoder"]

log = getLogger(__name__)

# A key frame every second so a masked viewer who joins waits at most that long.
MASKED_OPTIONS = TranscodeOptions(gop_s=1.0, preset="ultrafast", crf=23)

CLOCK_90K = Fraction(1, 90000)
_DECODERS = {Codec.H264: "h264", Codec.H265: "hevc"}


class MaskingTranscoder(Transcoder):
    """H.264 or H.265 access units in, masked H.264 access units out."""

    def __init__(self, mask: PrivacyMask, options: TranscodeOptions | None = None) -> None:
        super().__init__(options or MASKED_OPTIONS)
        self.mask = mask
        self._codec: Codec | None = None

    def set_mask(self, mask: PrivacyMask) -> None:
        """Mask the next pictures with ``mask``."""
        self.mask = mask

    def push(self, unit: AccessUnit) -> list[AccessUnit]:
        """Decode one video access unit, mask it, encode; the H.264 units ready."""
        self.frames_in += 1
        return [out for frame in self._decode(unit) for out in self._encode(self.masked(frame))]

    def prime(self, units: Sequence[AccessUnit]) -> None:
        """Decode ``units`` without encoding them: the decoder state to continue a GOP from."""
        for unit in units:
            self._decode(unit)

    def _decode(self, unit: AccessUnit) -> list[av.VideoFrame]:
        decoder_name = _DECODERS.get(unit.codec)
        if decoder_name is None:
            raise ValueError(f"cannot mask {unit.codec} video")
        if unit.codec is not self._codec:
            if self._codec is not None:
                log.info(
                    "masked 0x%02X: source codec %s → %s", unit.stream_id, self._codec, unit.codec
                )
            decoder = av.CodecContext.create(decoder_name, "r")
            assert isinstance(decoder, av.VideoCodecContext)
            self._decoder = decoder
            self._codec = unit.codec
        self._stream_id = unit.stream_id
        packet = av.Packet(unit.data)
        packet.pts, packet.dts, packet.time_base = unit.pts_90k, unit.dts_90k, CLOCK_90K
        try:
            return self._decoder.decode(packet)
        except av.error.FFmpegError as exc:
            self.decode_errors += 1
            log.warning("masked 0x%02X: undecodable access unit: %s", unit.stream_id, exc)
            return []

    def masked(self, frame: av.VideoFrame) -> av.VideoFrame:
        """A masked copy of a decoded picture (the decoder's own is left alone)."""
        width, height = frame.width - frame.width % 2, frame.height - frame.height % 2
        if (width, height) != (frame.width, frame.height) or frame.format.name != "yuv420p":
            frame = frame.reformat(width=width, height=height, format="yuv420p")
        out = av.VideoFrame(width, height, "yuv420p")
        y, u, v = (_plane(p) for p in out.planes)
        for source, copy in zip(frame.planes, (y, u, v), strict=True):
            copy[:] = _plane(source)
        self.mask.for_size(width, height).apply(y, u, v)
        out.pts, out.time_base = frame.pts, frame.time_base or CLOCK_90K
        return out


def _plane(plane: VideoPlane) -> npt.NDArray[np.uint8]:
    """A numpy view of one picture plane, without its row padding."""
    rows = np.frombuffer(memoryview(plane), np.uint8, count=plane.line_size * plane.height)
    return rows.reshape(plane.height, plane.line_size)[:, : plane.width]


class MaskedVideo:
    """The masked view's video: the source's units untouched while the mask is empty, masked
    and re-encoded while it is not; blocking, one thread at a time.

    The mask may change at any time (:meth:`set_mask`). When one appears, the very next unit is
    already masked: the units of the current GOP, kept by reference while passing through,
    prime a decoder first, and the encode starts with a key frame (new parameter sets, which
    fMP4 players and decoders take in band). When the mask is emptied, encoding goes on until
    the source's next key frame and passing through resumes from it, so a decoder never gets a
    picture whose references it lacks. Once a mask is set, no source picture is passed on.
    """

    def __init__(
        self,
        mask: PrivacyMask,
        options: TranscodeOptions | None = None,
        *,
        gop_max_units: int = 600,
    ) -> None:
        self.mask = mask
        self.options = options or MASKED_OPTIONS
        self.transcoder: MaskingTranscoder | None = None
        self.encodes = 0  # how many times encoding started
        self._gop: list[AccessUnit] | None = None  # None: no usable GOP start seen yet
        self._gop_max_units = gop_max_units
        self._last_dts: int | None = None

    @property
    def encoding(self) -> bool:
        """Whether units are being decoded, masked and re-encoded now."""
        return self.transcoder is not None

    def set_mask(self, mask: PrivacyMask) -> None:
        """Use ``mask`` from the next unit on."""
        self.mask = mask
        if self.transcoder is not None:
            self.transcoder.set_mask(mask)

    def push(self, unit: AccessUnit) -> list[AccessUnit]:
        """One source video unit in; the units of the masked view out (zero or more)."""
        self._keep(unit)
        if self.mask:
            if self.transcoder is None:
                self.transcoder = self._start()
            return self._monotonic(self.transcoder.push(unit))
        if self.transcoder is not None and not unit.keyframe:
            return self._monotonic(self.transcoder.push(unit))  # until the source's key frame
        self.transcoder = None
        return self._monotonic([unit])

    def _keep(self, unit: AccessUnit) -> None:
        if unit.keyframe:
            self._gop = []
        if self._gop is not None:
            self._gop.append(unit)
            if len(self._gop) > self._gop_max_units:
                self._gop = None  # too long to keep: masking starts at the next key frame

    def _start(self) -> MaskingTranscoder:
        transcoder = MaskingTranscoder(self.mask, self.options)
        self.encodes += 1
        if self._gop is not None:
            transcoder.prime(self._gop[:-1])  # the unit being pushed is the last one
        return transcoder

    def _monotonic(self, units: list[AccessUnit]) -> list[AccessUnit]:
        # Across a switch, decoder delay could repeat a time already sent: drop such units.
        out = [u for u in units if self._last_dts is None or u.dts_90k > self._last_dts]
        if out:
            self._last_dts = out[-1].dts_90k
        return out
