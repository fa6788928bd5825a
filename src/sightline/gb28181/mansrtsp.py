"""MANSRTSP (Annex B): playback control in the body of an in-dialog SIP INFO.

The body is a cut-down RTSP (RFC 2326) message, ``Content-Type: Application/MANSRTSP``::

    PLAY RTSP/1.0          PAUSE RTSP/1.0         PLAY RTSP/1.0        TEARDOWN RTSP/1.0
    CSeq: 5                CSeq: 6                CSeq: 7              CSeq: 8
    Range: npt=now-        PauseTime: now         Scale: 2.0

* resume: ``Range: npt=now-`` without ``Scale``; seek: ``Range: npt=<s>-`` (seconds from the
  start of the recording) without ``Scale``; speed: ``Scale`` only (0.25, 0.5, 1, 2, 4 required;
  negative = reverse, 2022); pause: ``PauseTime: now``; stop: ``TEARDOWN`` (or a SIP BYE).
* The CSeq here is its own counter, not the SIP CSeq.
* The 2016 J.14 example writes ``MANSRTSP/1.0`` where Annex B says ``RTSP/1.0``: both are read,
  ``RTSP/1.0`` is written. Header names are matched case-insensitively.
* 2022: the 200 to the INFO may carry ``RTSP/1.0 200 OK`` with ``RTP-Info: seq=..;rtptime=..``,
  marking the first packet after a seek.

End of file is not MANSRTSP: the device sends an in-dialog MESSAGE with a MANSCDP
``MediaStatus`` notify, ``NotifyType`` 121 (:func:`is_end_of_file`); answer 200, then BYE.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.manscdp.notify import MEDIA_STATUS_FILE_END, MediaStatusNotify

__all__ = [
    "CONTENT_TYPE",
    "MansrtspError",
    "MansrtspRequest",
    "MansrtspResponse",
    "Method",
    "NptRange",
    "PlaybackControl",
    "RtpInfo",
    "end_of_file_notify",
    "is_end_of_file",
    "parse",
]

CONTENT_TYPE = "Application/MANSRTSP"
MAX_BYTES = 4096
MAX_HEADERS = 32
_CSEQ_MAX = 2**32 - 1
_NPT_MAX = 10**9  # seconds; far beyond any recording
_SCALE_MIN, _SCALE_MAX = 1 / 64, 64.0


class MansrtspError(Gb28181Error, ValueError):
    """A MANSRTSP body cannot be parsed, or a request cannot be built."""


class Method(StrEnum):
    """The three Annex B request methods."""

    PLAY = "PLAY"
    PAUSE = "PAUSE"
    TEARDOWN = "TEARDOWN"


def _npt_text(value: float) -> str:
    # Milliseconds are finer than any device seeks; trailing zeros are dropped ("100", "12.5").
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _npt_value(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not math.isfinite(value) or not 0 <= value <= _NPT_MAX:
        raise MansrtspError(f"npt {what} {value!r} is outside 0..{_NPT_MAX} s")
    return round(float(value), 3)


@dataclass(frozen=True, slots=True)
class NptRange:
    """``Range: npt=<start>-[<end>]``; ``start`` None means ``now``. Kept to milliseconds."""

    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _npt_value(self.start, "start"))
        object.__setattr__(self, "end", _npt_value(self.end, "end"))

    def __str__(self) -> str:
        start = "now" if self.start is None else _npt_text(self.start)
        return f"npt={start}-{'' if self.end is None else _npt_text(self.end)}"

    @classmethod
    def parse(cls, text: str) -> NptRange:
        """Read ``npt=now-``, ``npt=100-``, ``npt=600-120``, ``npt=00:01:40-`` (and ``now-``)."""
        unit, sep, spec = text.strip().partition("=")
        if not sep:
            unit, spec = "npt", unit
        if unit.strip().lower() != "npt":
            raise MansrtspError(f"only npt ranges are supported, got {text[:40]!r}")
        start, _, end = spec.partition("-")
        return cls(_npt_time(start, allow_now=True), _npt_time(end, allow_now=False))


_NPT_SECONDS = re.compile(r"[0-9]{1,10}(?:\.[0-9]{0,9})?")
_NPT_CLOCK = re.compile(r"([0-9]{1,6}):([0-5]?[0-9]):([0-5]?[0-9](?:\.[0-9]{0,9})?)")


def _npt_time(text: str, *, allow_now: bool) -> float | None:
    value = text.strip()
    if not value or (allow_now and value.lower() == "now"):
        return None
    if _NPT_SECONDS.fullmatch(value):
        return float(value)
    clock = _NPT_CLOCK.fullmatch(value)
    if clock is None:
        raise MansrtspError(f"malformed npt time {text[:40]!r}")
    hours, minutes, seconds = clock.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True, slots=True)
class RtpInfo:
    """``RTP-Info: seq=<n>;rtptime=<n>`` (2022): the first RTP packet after a seek."""

    seq: int | None = None
    rtptime: int | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if self.seq is None and self.rtptime is None and self.url is None:
            raise MansrtspError("RTP-Info needs at least one of url, seq and rtptime")
        _check_cseq(self.seq)
        _check_cseq(self.rtptime)
        url = self.url
        if url is not None and (not _RTP_INFO_URL.fullmatch(url) or url != url.strip()):
            raise MansrtspError(f"RTP-Info url {url!r} cannot be written")

    def __str__(self) -> str:
        parts = [] if self.url is None else [f"url={self.url}"]
        parts += [] if self.seq is None else [f"seq={self.seq}"]
        parts += [] if self.rtptime is None else [f"rtptime={self.rtptime}"]
        return ";".join(parts)

    @classmethod
    def parse(cls, text: str) -> RtpInfo | None:
        """Read the first stream's parameters (None if it has none); unknown ones are ignored."""
        params: dict[str, str] = {}
        for part in text.partition(",")[0].split(";"):
            name, _, value = part.partition("=")
            params.setdefault(name.strip().lower(), value.strip())
        seq, rtptime = (
            _opt_int(params.get("seq"), "seq"),
            _opt_int(params.get("rtptime"), "rtptime"),
        )
        url = params.get("url") or None
        return None if seq is None and rtptime is None and url is None else cls(seq, rtptime, url)


def _opt_int(text: str | None, what: str) -> int | None:
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > _CSEQ_MAX:
        raise MansrtspError(f"{what} {text[:20]!r} is not a 32-bit unsigned integer")
    return int(text)


def _scale_text(value: float) -> str:
    return repr(float(value))  # exact and never in exponent form inside the allowed range


def _check_scale(value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not math.isfinite(value):
        raise MansrtspError(f"Scale {value!r} is not a finite number")
    if not _SCALE_MIN <= abs(value) <= _SCALE_MAX:
        raise MansrtspError(f"Scale {value!r} is outside ±{_SCALE_MIN}..{_SCALE_MAX}")


def _check_cseq(value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not 0 <= value <= _CSEQ_MAX):
        raise MansrtspError(f"CSeq {value!r} is outside 0..{_CSEQ_MAX}")


def _header_lines(headers: tuple[tuple[str, str], ...]) -> list[str]:
    lines = []
    for name, value in headers:
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _KNOWN or _BAD.search(value):
            raise MansrtspError(f"header {name!r} cannot be written as an extra header")
        if value != value.strip():
            raise MansrtspError(f"header {name!r} value has surrounding whitespace")
        lines.append(f"{name}: {value}")
    return lines


@dataclass(frozen=True, slots=True)
class MansrtspRequest:
    """PLAY, PAUSE or TEARDOWN with its CSeq and the headers Annex B uses."""

    method: Method
    cseq: int
    range: NptRange | None = None
    scale: float | None = None
    pause_time: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    version: str = "RTSP/1.0"

    def __post_init__(self) -> None:
        _check_cseq(self.cseq)
        _check_scale(self.scale)
        if not _VERSION.fullmatch(self.version):
            raise MansrtspError(f"version {self.version!r} is not RTSP/x.y or MANSRTSP/x.y")
        if self.pause_time is not None and not _TOKEN.fullmatch(self.pause_time):
            raise MansrtspError(f"PauseTime {self.pause_time!r} is not a token")

    def __bytes__(self) -> bytes:
        lines = [f"{self.method.value} {self.version}", f"CSeq: {self.cseq}"]
        lines += _common_lines(self.range, self.scale)
        if self.pause_time is not None:
            lines.append(f"PauseTime: {self.pause_time}")
        return _join([*lines, *_header_lines(self.headers)])


@dataclass(frozen=True, slots=True)
class MansrtspResponse:
    """A status line and the headers a device may answer with (2022 adds RTP-Info)."""

    status: int
    reason: str = "OK"
    cseq: int | None = None
    range: NptRange | None = None
    scale: float | None = None
    rtp_info: RtpInfo | None = None
    headers: tuple[tuple[str, str], ...] = ()
    version: str = "RTSP/1.0"

    def __post_init__(self) -> None:
        _check_cseq(self.cseq)
        _check_scale(self.scale)
        if isinstance(self.status, bool) or not 100 <= self.status <= 999:
            raise MansrtspError(f"status {self.status!r} is not a 3-digit code")
        if _BAD.search(self.reason) or self.reason != self.reason.strip():
            raise MansrtspError(f"reason {self.reason!r} cannot be written")
        if not _VERSION.fullmatch(self.version):
            raise MansrtspError(f"version {self.version!r} is not RTSP/x.y or MANSRTSP/x.y")

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    def __bytes__(self) -> bytes:
        lines = [f"{self.version} {self.status} {self.reason}".rstrip()]
        lines += [] if self.cseq is None else [f"CSeq: {self.cseq}"]
        lines += _common_lines(self.range, self.scale)
        lines += [] if self.rtp_info is None else [f"RTP-Info: {self.rtp_info}"]
        return _join([*lines, *_header_lines(self.headers)])


def _common_lines(npt: NptRange | None, scale: float | None) -> list[str]:
    lines = [] if npt is None else [f"Range: {npt}"]
    return lines + ([] if scale is None else [f"Scale: {_scale_text(scale)}"])


def _join(lines: list[str]) -> bytes:
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MansrtspError("a header holds a lone surrogate and cannot be encoded") from exc


# --- parsing -----------------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_VERSION = re.compile(r"(?:MANS)?RTSP/[0-9]\.[0-9]")
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TOKEN = re.compile(r"[!-~]{1,64}")
_BAD = re.compile(r"[\x00-\x1f\x7f]")
_SCALE = re.compile(r"[+-]?(?:[0-9]{1,6}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})")
_RTP_INFO_URL = re.compile(r"[^;,\x00-\x1f\x7f]+")
_KNOWN = frozenset({"cseq", "range", "scale", "pausetime", "rtp-info"})


def _scale(text: str) -> float:
    if not _SCALE.fullmatch(text):
        raise MansrtspError(f"malformed Scale {text[:20]!r}")
    value = float(text)
    _check_scale(value)
    return value


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    # Annex B text is ASCII; a vendor's reason phrase may be Chinese in either encoding.
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise MansrtspError("body is neither UTF-8 nor GB 18030 text")


def _split(data: bytes | str) -> tuple[str, dict[str, str], tuple[tuple[str, str], ...]]:
    if len(data) > MAX_BYTES:
        raise MansrtspError(f"body of {len(data)} bytes is over the {MAX_BYTES}-byte limit")
    text = _decode(data)
    lines = _LINE_BREAK.split(text.strip("\x00 \t\r\n"))
    start = lines[0].strip()
    known: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    for raw in lines[1:]:
        if not raw.strip():
            break  # end of headers; Annex B messages carry no body
        if len(known) + len(extra) >= MAX_HEADERS:
            raise MansrtspError(f"more than {MAX_HEADERS} headers")
        name, sep, value = raw.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not _HEADER_NAME.fullmatch(name) or _BAD.search(value):
            raise MansrtspError(f"malformed header line {raw[:40]!r}")
        if name.lower() in _KNOWN:
            known.setdefault(name.lower(), value)
        else:
            extra.append((name, value))
    return start, known, tuple(extra)


def _version(text: str) -> str:
    version = text.upper()
    if not _VERSION.fullmatch(version):
        raise MansrtspError(f"unknown protocol version {text[:20]!r}")
    return version


def parse(data: bytes | str) -> MansrtspRequest | MansrtspResponse:
    """Parse a MANSRTSP request or response; raises only :class:`MansrtspError`."""
    start, known, extra = _split(data)
    words = start.split(None, 2)
    if len(words) >= 2 and _VERSION.fullmatch(words[0].upper()):
        return _response(words, known, extra)
    if len(words) != 2:
        raise MansrtspError(f"malformed start line {start[:40]!r}")
    try:
        method = Method(words[0].upper())
    except ValueError:
        raise MansrtspError(f"unsupported MANSRTSP method {words[0][:20]!r}") from None
    cseq = _opt_int(known.get("cseq"), "CSeq")
    if cseq is None:
        raise MansrtspError("request without CSeq")
    pause_time = known.get("pausetime") or None
    return MansrtspRequest(
        method,
        cseq,
        range=NptRange.parse(known["range"]) if known.get("range") else None,
        scale=_scale(known["scale"]) if known.get("scale") else None,
        pause_time=None if pause_time is None else _pause_time(pause_time),
        headers=extra,
        version=_version(words[1]),
    )


def _pause_time(text: str) -> str:
    value = "now" if text.lower() == "now" else text
    if not _TOKEN.fullmatch(value):
        raise MansrtspError(f"malformed PauseTime {text[:20]!r}")
    return value


def _response(
    words: list[str], known: dict[str, str], extra: tuple[tuple[str, str], ...]
) -> MansrtspResponse:
    status = words[1]
    if len(status) != 3 or not (status.isascii() and status.isdigit()) or status[0] == "0":
        raise MansrtspError(f"malformed status code {status[:20]!r}")
    return MansrtspResponse(
        int(status),
        words[2].strip() if len(words) > 2 else "",
        cseq=_opt_int(known.get("cseq"), "CSeq"),
        range=NptRange.parse(known["range"]) if known.get("range") else None,
        scale=_scale(known["scale"]) if known.get("scale") else None,
        rtp_info=RtpInfo.parse(known.get("rtp-info", "")),
        headers=extra,
        version=_version(words[0]),
    )


# --- building requests for one playback session ------------------------------------------------


class PlaybackControl:
    """Builds the requests of one playback dialog, numbering them with its own CSeq."""

    def __init__(self, start_cseq: int = 1) -> None:
        _check_cseq(start_cseq)
        self._cseq = start_cseq

    def _next(self) -> int:
        value = self._cseq
        self._cseq = 1 if value >= _CSEQ_MAX else value + 1
        return value

    def resume(self) -> MansrtspRequest:
        """Resume from the pause point at the previous speed: ``Range: npt=now-``."""
        return MansrtspRequest(Method.PLAY, self._next(), range=NptRange())

    def seek(self, seconds: float) -> MansrtspRequest:
        """Jump to ``seconds`` after the start of the recording (``Range: npt=<s>-``)."""
        return MansrtspRequest(Method.PLAY, self._next(), range=NptRange(seconds))

    def speed(self, scale: float) -> MansrtspRequest:
        """Play at ``scale`` times normal speed from here; negative plays backwards (2022)."""
        _check_scale(scale)
        return MansrtspRequest(Method.PLAY, self._next(), scale=float(scale))

    def pause(self) -> MansrtspRequest:
        """Pause at the current position, keeping the session (``PauseTime: now``)."""
        return MansrtspRequest(Method.PAUSE, self._next(), pause_time="now")

    def teardown(self) -> MansrtspRequest:
        """Stop and release the stream."""
        return MansrtspRequest(Method.TEARDOWN, self._next())


def end_of_file_notify(device_id: str, sn: int) -> MediaStatusNotify:
    """The MediaStatus notify (NotifyType 121) a device sends when a file has been sent."""
    return MediaStatusNotify(sn=sn, device_id=device_id, notify_type=MEDIA_STATUS_FILE_END)


def is_end_of_file(message: object) -> bool:
    """Whether a decoded MANSCDP message reports the end of a playback/download file."""
    return isinstance(message, MediaStatusNotify) and message.is_file_end
