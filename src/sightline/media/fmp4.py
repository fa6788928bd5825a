"""Fragmented MP4 (ISO/IEC 14496-12) for Media Source Extensions, written by hand.

    init segment   ftyp  moov ─ mvhd
                               ├ trak ─ tkhd, mdia ─ mdhd, hdlr, minf ─ vmhd, dinf, stbl
                               │                                 stsd ─ avc1(avcC) | hvc1(hvcC)
                               ├ [trak: AAC, see fmp4_audio]
                               └ mvex ─ trex [, trex]
    fragment       moof ─ mfhd, traf ─ tfhd, tfdt, trun      mdat ─ samples

One video track, 90 kHz timescale (the PS clock, so no rounding). Samples are the access
units rewritten from Annex-B to 4-byte length prefixes (ISO/IEC 14496-15); parameter sets
stay in-band too, which decoders accept and which keeps a mid-GOP SPS resend harmless.
``tfdt`` carries each fragment's own decode time, so an estimated duration for a fragment's
last sample (its successor has not arrived yet) never shifts the timeline. Composition
offsets are PTS − DTS (never negative: the demuxer guarantees PTS ≥ DTS), so B-frames play.

Audio: a packager made with ``audio=True`` also carries AAC units (ADTS, as cameras send AAC
and as ``media.audio`` makes it from G.711) as a second track, in fragments of their own. A
player cannot add a track later, so such a packager holds the units after its first key frame
until it knows: an AAC unit declares the track; a key frame whose PS stream map lists no audio
(``AccessUnit.audio_declared`` False) means none at once; no audio unit at all within
``AUDIO_PROBE_90K`` of the key frame means none too (G.711 seen but no AAC yet: it waits up
to ``AUDIO_WAIT_90K``). A packager without ``audio`` writes exactly what it wrote before audio
existed.

Latency: ``Fmp4Packager`` writes one fragment per frame; a new viewer's first fragment is a
key frame (the hub guarantees it) preceded by the init segment, and a new init segment is
emitted when the parameter sets change (a camera switching resolution).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from logging import getLogger

from sightline.media.errors import EsError, MediaError
from sightline.media.es import annexb_to_length_prefixed, iter_nal_units, nal_type
from sightline.media.es_sps import parse_sps
from sightline.media.fmp4_audio import (
    AAC_FRAME_SAMPLES,
    AacConfig,
    AdtsError,
    audio_moof,
    audio_trak,
    parse_adts,
)
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit, StreamInfo

__all__ = [
    "AUDIO_PROBE_90K",
    "AUDIO_WAIT_90K",
    "Fmp4Error",
    "Fmp4Packager",
    "Fmp4Segment",
    "Fmp4Writer",
    "stream_info_of",
]

log = getLogger(__name__)

TIMESCALE = 90000
_TRACK_ID = 1
_AUDIO_TRACK_ID = 2
AUDIO_PROBE_90K = 9000  # 100 ms after the key frame without any audio unit: a silent camera
AUDIO_WAIT_90K = 90000  # G.711 seen: wait this long for its first AAC frame
_MATRIX = struct.pack("!9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_KEY_FLAGS = 0x02000000  # sample_depends_on = 2 (independent)
_DELTA_FLAGS = 0x01010000  # sample_depends_on = 1, sample_is_non_sync_sample = 1
_TRUN_FLAGS = 0x000F01  # data offset, then per sample: duration, size, flags, cts offset
_PARAM_TYPES = {Codec.H264: (7, 8, -1), Codec.H265: (33, 34, 32)}
# a video fragment's boxes up to trun's sample table, with their sizes: one struct call
_MOOF_HEAD = struct.Struct("!I4s I4sII I4s I4sII I4sIQ I4sIIi")
_MDAT_HEAD = struct.Struct("!I4s")
_ENTRY = struct.Struct("!4I")  # trun sample: duration, size, flags, composition offset


class Fmp4Error(MediaError):
    """An fMP4 cannot be written for this stream (no SPS yet, unsupported codec)."""


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack("!I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack("!I", (version << 24) | flags), *parts)


def stream_info_of(unit: AccessUnit) -> StreamInfo | None:
    """The parameter sets carried in-band by an access unit, parsed; None when incomplete."""
    types = _PARAM_TYPES.get(unit.codec)
    if types is None:
        return None
    found: dict[int, dict[bytes, None]] = {}
    for nal in iter_nal_units(unit.data):
        found.setdefault(nal_type(unit.codec, nal), {})[nal] = None
    sps, pps, vps = (tuple(found.get(t, ())) for t in types)
    if not sps or not pps or (unit.codec is Codec.H265 and not vps):
        return None
    try:
        info = parse_sps(unit.codec, sps[0])
    except EsError:
        return None
    return StreamInfo(unit.stream_id, unit.codec, sps, pps, vps, info)


class Fmp4Writer:
    """Init segment and fragments for one video stream; see the module docstring."""

    def __init__(
        self,
        info: StreamInfo,
        *,
        base_dts_90k: int | None = None,
        default_duration_90k: int = 3600,
        audio: AacConfig | None = None,
    ) -> None:
        if info.sps_info is None or info.codec_string is None:
            raise Fmp4Error(f"stream 0x{info.stream_id:02X}: no SPS seen yet")
        if info.codec not in _PARAM_TYPES:
            raise Fmp4Error(f"{info.codec.value} cannot be written to fMP4 here")
        try:
            self._config = info.decoder_config()
        except EsError as exc:
            raise Fmp4Error(f"stream 0x{info.stream_id:02X}: {exc}") from exc
        self.info = info
        self.base_dts_90k = base_dts_90k
        self._duration = default_duration_90k
        self._last_dts: int | None = None
        self._sequence = 0
        self.audio = audio
        self._audio_time: int | None = None  # decode time of the next AAC frame, track units

    @property
    def codec_string(self) -> str:
        """RFC 6381 codec string, e.g. ``avc1.64001F``."""
        assert self.info.codec_string is not None
        return self.info.codec_string

    @property
    def mime_type(self) -> str:
        """The type for ``MediaSource.addSourceBuffer``."""
        if self.audio is not None:
            return f'video/mp4; codecs="{self.codec_string}, {self.audio.codec_string}"'
        return f'video/mp4; codecs="{self.codec_string}"'

    def init_segment(self) -> bytes:
        """ftyp + moov: what a player needs before the first fragment."""
        brand = b"avc1" if self.info.codec is Codec.H264 else b"hvc1"
        ftyp = _box(b"ftyp", b"isom", struct.pack("!I", 0x200), b"isomiso5iso6mp41", brand)
        mvhd = _full_box(
            b"mvhd", 0, 0,
            struct.pack("!IIIIIH", 0, 0, TIMESCALE, 0, 0x10000, 0x100),
            bytes(10), _MATRIX, bytes(24),
            struct.pack("!I", _TRACK_ID + 1 + (self.audio is not None)),
        )  # fmt: skip
        trex = _full_box(b"trex", 0, 0, struct.pack("!5I", _TRACK_ID, 1, 0, 0, 0))
        if self.audio is None:
            return ftyp + _box(b"moov", mvhd, self._trak(), _box(b"mvex", trex))
        audio_trex = _full_box(b"trex", 0, 0, struct.pack("!5I", _AUDIO_TRACK_ID, 1, 0, 0, 0))
        audio = audio_trak(self.audio, _AUDIO_TRACK_ID)
        return ftyp + _box(b"moov", mvhd, self._trak(), audio, _box(b"mvex", trex, audio_trex))

    def audio_fragment(self, unit: AccessUnit) -> bytes | None:
        """moof + mdat for one ADTS AAC unit; None if it cannot go in (not AAC of this track,
        or from before the video began)."""
        if self.audio is None or self.base_dts_90k is None or unit.codec is not Codec.AAC:
            return None
        if unit.pts_90k < self.base_dts_90k:
            return None
        try:
            config, raw = parse_adts(unit.data)
        except AdtsError as exc:
            log.debug("stream 0x%02X: AAC frame skipped: %s", unit.stream_id, exc)
            return None
        if config != self.audio or not raw:
            return None
        rate = self.audio.sample_rate
        at = (unit.pts_90k - self.base_dts_90k) * rate // TIMESCALE
        # frames back to back (the 90 kHz stamps round); follow the stamps only on a real jump
        if self._audio_time is not None and abs(at - self._audio_time) <= rate // 10:
            at = self._audio_time
        self._audio_time = at + AAC_FRAME_SAMPLES
        self._sequence += 1
        moof = audio_moof(self._sequence, _AUDIO_TRACK_ID, at, [len(raw)])
        return moof + struct.pack("!I4s", 8 + len(raw), b"mdat") + raw

    def fragment(self, units: Sequence[AccessUnit], *, next_dts_90k: int | None = None) -> bytes:
        """moof + mdat for video access units in decode order; non-video units are skipped."""
        samples = [u for u in units if u.codec is self.info.codec and u.stream_id >= 0xE0]
        if not samples:
            raise Fmp4Error("a fragment needs at least one video access unit")
        if self.base_dts_90k is None:
            self.base_dts_90k = samples[0].dts_90k
        if self._last_dts is not None and 0 < samples[0].dts_90k - self._last_dts <= TIMESCALE:
            self._duration = samples[0].dts_90k - self._last_dts
        if len(samples) == 1:  # one frame per fragment: what live viewers get, every frame
            unit = samples[0]
            data = annexb_to_length_prefixed(unit.data)
            duration = self._duration if next_dts_90k is None else next_dts_90k - unit.dts_90k
            flags = _KEY_FLAGS if unit.keyframe else _DELTA_FLAGS
            entries = _ENTRY.pack(
                max(0, duration), len(data), flags, max(0, unit.pts_90k - unit.dts_90k)
            )
            datas = [data]
        else:
            datas = [annexb_to_length_prefixed(u.data) for u in samples]
            table = bytearray()
            for i, (unit, data) in enumerate(zip(samples, datas, strict=True)):
                after = samples[i + 1].dts_90k if i + 1 < len(samples) else next_dts_90k
                duration = after - unit.dts_90k if after is not None else self._duration
                if i + 1 < len(samples) and 0 < duration <= TIMESCALE:
                    self._duration = duration
                flags = _KEY_FLAGS if unit.keyframe else _DELTA_FLAGS
                cts = max(0, unit.pts_90k - unit.dts_90k)
                table += _ENTRY.pack(max(0, duration), len(data), flags, cts)
            entries = bytes(table)
        self._last_dts = samples[-1].dts_90k
        self._sequence += 1
        mdat_size = 8 + sum(len(d) for d in datas)
        head = self._moof(samples[0].dts_90k, len(samples), entries, mdat_size)
        return b"".join((head, *datas))

    def _moof(self, first_dts: int, count: int, entries: bytes, mdat_size: int) -> bytes:
        """moof(mfhd, traf(tfhd, tfdt, trun)) and the mdat header, packed in one call."""
        assert self.base_dts_90k is not None
        # moof(8) mfhd(16) traf(8) tfhd(16) tfdt(20) trun(20 + entries); data after mdat(8)
        moof_size = 88 + len(entries)
        head = _MOOF_HEAD.pack(
            moof_size, b"moof",
            16, b"mfhd", 0, self._sequence,
            moof_size - 24, b"traf",
            16, b"tfhd", 0x020000, _TRACK_ID,
            20, b"tfdt", 1 << 24, max(0, first_dts - self.base_dts_90k),
            20 + len(entries), b"trun", _TRUN_FLAGS, count, moof_size + 8,
        )  # fmt: skip
        return head + entries + _MDAT_HEAD.pack(mdat_size, b"mdat")

    def _trak(self) -> bytes:
        sps = self.info.sps_info
        assert sps is not None
        tkhd = _full_box(
            b"tkhd", 0, 3,
            struct.pack("!5I", 0, 0, _TRACK_ID, 0, 0), bytes(8),
            struct.pack("!HHHH", 0, 0, 0, 0), _MATRIX,
            struct.pack("!II", sps.width << 16, sps.height << 16),
        )  # fmt: skip
        mdhd = _full_box(b"mdhd", 0, 0, struct.pack("!IIIIHH", 0, 0, TIMESCALE, 0, 0x55C4, 0))
        hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00")
        vmhd = _full_box(b"vmhd", 0, 1, bytes(8))
        dref = _full_box(b"dref", 0, 0, struct.pack("!I", 1), _full_box(b"url ", 0, 1))
        empty = struct.pack("!I", 0)
        stbl = _box(
            b"stbl",
            _full_box(b"stsd", 0, 0, struct.pack("!I", 1), self._sample_entry()),
            _full_box(b"stts", 0, 0, empty),
            _full_box(b"stsc", 0, 0, empty),
            _full_box(b"stsz", 0, 0, empty, empty),
            _full_box(b"stco", 0, 0, empty),
        )
        minf = _box(b"minf", vmhd, _box(b"dinf", dref), stbl)
        return _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))

    def _sample_entry(self) -> bytes:
        sps = self.info.sps_info
        assert sps is not None
        h264 = self.info.codec is Codec.H264
        return _box(
            b"avc1" if h264 else b"hvc1",
            bytes(6), struct.pack("!H", 1), bytes(16),
            struct.pack("!HHIII", sps.width, sps.height, 0x480000, 0x480000, 0),
            struct.pack("!H", 1), bytes(32), struct.pack("!Hh", 0x18, -1),
            _box(b"avcC" if h264 else b"hvcC", self._config),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Fmp4Segment:
    """A piece of the fMP4 byte stream; ``init`` segments must reach the player first."""

    data: bytes
    init: bool
    mime_type: str


class Fmp4Packager:
    """One viewer's access units in, fMP4 segments out: transport-neutral (WebSocket, HTTP).

    Nothing is written before a key frame whose parameter sets are known (in-band, or the
    ``info`` given); each later change of parameter sets starts a new init segment, with
    decode times continuing across it. With ``audio``, AAC goes in a second track; see the
    module docstring for how its presence is settled before the first init segment.
    """

    def __init__(self, info: StreamInfo | None = None, *, audio: bool = False) -> None:
        self._info = info
        self._writer: Fmp4Writer | None = None
        self._audio: AacConfig | None = None
        self._settled = not audio  # whether the stream has audio is known
        self._held: list[AccessUnit] = []  # from the first key frame until it is
        self._saw_audio = False

    @property
    def mime_type(self) -> str | None:
        """The current MSE type, once the first init segment was written."""
        return None if self._writer is None else self._writer.mime_type

    def push(self, unit: AccessUnit) -> list[Fmp4Segment]:
        """Add one access unit; return the segments to send, init segment first."""
        if not self._settled:
            return self._probe(unit)
        if self._audio is not None and unit.codec is Codec.AAC:
            writer = self._writer
            data = None if writer is None else writer.audio_fragment(unit)
            return (
                []
                if data is None or writer is None
                else [Fmp4Segment(data, False, writer.mime_type)]
            )
        if unit.stream_id < 0xE0 or unit.codec not in _PARAM_TYPES:
            return []
        out: list[Fmp4Segment] = []
        if unit.keyframe:
            info = stream_info_of(unit) or self._info
            if info is not None and self._changed(info):
                out += self._restart(info)
        if self._writer is None:
            return out
        data = self._writer.fragment([unit])
        out.append(Fmp4Segment(data, False, self._writer.mime_type))
        return out

    def _restart(self, info: StreamInfo) -> list[Fmp4Segment]:
        base = None if self._writer is None else self._writer.base_dts_90k
        try:
            writer = Fmp4Writer(info, base_dts_90k=base, audio=self._audio)
        except Fmp4Error as exc:
            log.warning("stream 0x%02X: cannot start fMP4: %s", info.stream_id, exc)
            return []
        self._writer = writer
        return [Fmp4Segment(writer.init_segment(), True, writer.mime_type)]

    def _changed(self, info: StreamInfo) -> bool:
        old = None if self._writer is None else self._writer.info
        return old is None or (old.codec, old.sps, old.pps, old.vps) != (
            info.codec,
            info.sps,
            info.pps,
            info.vps,
        )

    def _probe(self, unit: AccessUnit) -> list[Fmp4Segment]:
        """Hold units from the first key frame until the audio question is settled."""
        video = unit.stream_id >= 0xE0 and unit.codec in _PARAM_TYPES
        if not self._held:
            if video and unit.keyframe and (stream_info_of(unit) or self._info) is not None:
                self._held.append(unit)
                if unit.audio_declared is False:  # the PS stream map lists video only
                    return self._settle()
            return []
        self._held.append(unit)
        if unit.codec is Codec.AAC:
            try:
                self._audio = parse_adts(unit.data)[0]
            except AdtsError:
                return []
            return self._settle()
        if not video:
            self._saw_audio = self._saw_audio or 0xC0 <= unit.stream_id <= 0xDF
            return []
        waited = unit.dts_90k - self._held[0].dts_90k
        return self._settle() if waited >= self._patience() else []

    def _patience(self) -> int:
        return AUDIO_WAIT_90K if self._saw_audio else AUDIO_PROBE_90K

    def _settle(self) -> list[Fmp4Segment]:
        self._settled = True
        held, self._held = self._held, []
        if self._audio is None:
            log.debug("stream 0x%02X: no AAC audio; video only", held[0].stream_id)
        return [segment for unit in held for segment in self.push(unit)]
