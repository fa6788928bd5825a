"""The ``f=`` line of GB/T 28181 SDP (§F): video and audio codec, resolution, rate and bit rate.

``v/codec/resolution/fps/ratetype/kbps a/codec/bitrate/samplerate``; every field may be left
empty, and devices leave out whole halves (``a///`` means no audio). Used by offers and answers
(``invite``) and by the simulator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from sightline.gb28181.sdp import SdpError

__all__ = ["RESOLUTIONS", "AudioCodec", "MediaFormat", "MediaFormatError", "RateType", "VideoCodec"]


class MediaFormatError(SdpError):
    """An ``f=`` value does not follow ``v/codec/res/fps/ratetype/kbps a/codec/rate/samplerate``."""


class VideoCodec(IntEnum):
    """``f=`` video codec codes (5 = H.265 from 2022)."""

    MPEG4 = 1
    H264 = 2
    SVAC = 3
    GP3 = 4  # 3GP
    H265 = 5


class AudioCodec(IntEnum):
    """``f=`` audio codec codes (5 SVAC and 6 AAC from 2022)."""

    G711 = 1
    G723_1 = 2
    G729 = 3
    G722_1 = 4
    SVAC = 5
    AAC = 6


class RateType(IntEnum):
    """``f=`` bit-rate type."""

    CBR = 1
    VBR = 2


# Resolution codes; 2022 also allows "<width>x<height>".
RESOLUTIONS = {"1": "QCIF", "2": "CIF", "3": "4CIF", "4": "D1", "5": "720P", "6": "1080P/I"}
_DECIMAL_MAX = 4_294_967_296  # "十进制整数字符串": 0 to 4294967296
_RESOLUTION = re.compile(r"[0-9]{1,5}|[0-9]{1,5}[xX*][0-9]{1,5}")
_FIELD = r"\s*([^/\s]*)\s*"
_F_LINE = re.compile(
    rf"(?:[vV]/{_FIELD}/{_FIELD}/{_FIELD}/{_FIELD}/{_FIELD})?\s*/?\s*"
    rf"(?:[aA]/{_FIELD}/{_FIELD}/{_FIELD})?"
)
_INT_FIELDS = ("frame_rate", "rate_type", "bitrate_kbps", "audio_bitrate", "sample_rate")


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """The ``f=`` line; None means the field was left empty (``a///`` = no audio)."""

    video_codec: int | None = None
    resolution: str | None = None
    frame_rate: int | None = None
    rate_type: int | None = None
    bitrate_kbps: int | None = None
    audio_codec: int | None = None
    audio_bitrate: int | None = None  # a code: 8 = 64 kbit/s (G.711)
    sample_rate: int | None = None  # a code: 1 = 8 kHz

    def __post_init__(self) -> None:
        for name in ("video_codec", "audio_codec", *_INT_FIELDS):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not 0 <= value <= _DECIMAL_MAX):
                raise MediaFormatError(f"f= {name} {value!r} is outside 0..{_DECIMAL_MAX}")
        if self.resolution is not None and not _RESOLUTION.fullmatch(self.resolution):
            raise MediaFormatError(f"f= resolution {self.resolution!r} is not a code or WxH")

    @classmethod
    def parse(cls, text: str) -> MediaFormat:
        """Read an ``f=`` value; tolerates spaces, a missing half and an empty line."""
        match = _F_LINE.fullmatch(text.strip())
        if match is None:
            raise MediaFormatError(f"malformed f= value {text[:60]!r}")
        v_codec, res, fps, rate_type, kbps, a_codec, a_rate, s_rate = match.groups()
        return cls(
            video_codec=_f_int(v_codec, "video codec"),
            resolution=res or None,
            frame_rate=_f_int(fps, "frame rate"),
            rate_type=_f_int(rate_type, "rate type"),
            bitrate_kbps=_f_int(kbps, "bit rate"),
            audio_codec=_f_int(a_codec, "audio codec"),
            audio_bitrate=_f_int(a_rate, "audio bit rate"),
            sample_rate=_f_int(s_rate, "sample rate"),
        )

    def __str__(self) -> str:
        def text(value: object) -> str:
            return "" if value is None else str(int(value) if isinstance(value, int) else value)

        video = (self.video_codec, self.resolution, self.frame_rate, self.rate_type)
        audio = (self.audio_codec, self.audio_bitrate, self.sample_rate)
        return "v/{}/{}a/{}".format(
            "/".join(text(v) for v in video),
            text(self.bitrate_kbps),
            "/".join(text(a) for a in audio),
        )

    @property
    def resolution_name(self) -> str | None:
        """``1080P/I`` for code 6, ``1920x1080`` as written, None when unknown."""
        if self.resolution is None:
            return None
        return RESOLUTIONS.get(
            self.resolution, self.resolution if not self.resolution.isdigit() else None
        )


def _f_int(text: str | None, what: str) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise MediaFormatError(f"f= {what} {text!r} is not a decimal integer")
    value = int(text)
    if value > _DECIMAL_MAX:
        raise MediaFormatError(f"f= {what} {value} is over {_DECIMAL_MAX}")
    return value
