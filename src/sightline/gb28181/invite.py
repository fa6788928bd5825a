"""INVITE offers and answers for live play, playback and download (§9.2, §9.8, §9.9).

sightline INVITEs the device directly with its own receive address (offer in the INVITE, answer
in the 200 OK, bodyless ACK), as deployed platforms do. The functions here build the SDP body and
the ``Subject`` header value, and read the device's answer; SIP itself is the caller's business.

TCP roles: ``a=setup`` states what the *author of the SDP* does. Offering ``passive`` means
sightline listens on its m= port and the device connects (the standard's default); offering
``active`` means sightline connects to the address in the answer. Vendors' "主动/被动" settings
sometimes name the device's role instead, hence :func:`check_answer`.

Always take the SSRC from the answer's ``y=``: a device of another domain may choose its own.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum, StrEnum

from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.media_format import (
    AudioCodec,
    MediaFormat,
    MediaFormatError,
    RateType,
    VideoCodec,
)
from sightline.gb28181.sdp import (
    Attribute,
    Connection,
    Media,
    Origin,
    SdpError,
    SessionDescription,
    SessionName,
    Timing,
    parse,
)
from sightline.gb28181.ssrc import InvalidSsrc, ssrc_from_int, ssrc_to_int

__all__ = [
    "DEFAULT_PAYLOADS",
    "SENIOR_PAYLOADS",
    "AnswerIssue",
    "AudioCodec",
    "InviteError",
    "InviteOffer",
    "MediaAnswer",
    "MediaFormat",
    "MediaFormatError",
    "MediaTransport",
    "RateType",
    "RecordType",
    "Setup",
    "Transport",
    "UnusableAnswer",
    "VideoCodec",
    "build_download_offer",
    "build_play_offer",
    "build_playback_offer",
    "check_answer",
    "parse_answer",
    "subject",
]

logger = logging.getLogger(__name__)

_LIVE_TIMING = Timing(0, 0)
_NO_FORMAT = MediaFormat()  # an f= line with every field left empty

# The standard's examples offer PS plus the two elementary-stream fallbacks.
DEFAULT_PAYLOADS: tuple[tuple[int, str], ...] = (
    (96, "PS/90000"),
    (97, "MPEG4/90000"),
    (98, "H264/90000"),
)
# Some devices refuse the INVITE unless these are offered too (wvp "senior SDP").
SENIOR_PAYLOADS = (*DEFAULT_PAYLOADS, (99, "H265/90000"), (126, "H264/90000"), (125, "H264S/90000"))


class InviteError(Gb28181Error, ValueError):
    """An offer cannot be built from the given arguments."""


class UnusableAnswer(SdpError):
    """The device's SDP parses but says nothing we can receive from (no media or address)."""


class Transport(StrEnum):
    """RTP transport of an m= line."""

    UDP = "RTP/AVP"
    TCP = "TCP/RTP/AVP"


class Setup(StrEnum):
    """``a=setup`` (RFC 4145): the role of the SDP's author in the TCP connection."""

    ACTIVE = "active"
    PASSIVE = "passive"
    ACTPASS = "actpass"
    HOLDCONN = "holdconn"


class MediaTransport(Enum):
    """How sightline wants to receive: the device setting chosen per device."""

    UDP = (Transport.UDP, None)
    TCP_PASSIVE = (Transport.TCP, Setup.PASSIVE)  # sightline listens, the device connects
    TCP_ACTIVE = (Transport.TCP, Setup.ACTIVE)  # sightline connects to the device

    @property
    def transport(self) -> Transport:
        """The m= protocol."""
        return self.value[0]  # type: ignore[no-any-return]

    @property
    def setup(self) -> Setup | None:
        """sightline's ``a=setup`` (None for UDP)."""
        return self.value[1]  # type: ignore[no-any-return]


class RecordType(IntEnum):
    """The type after the channel in ``u=`` (defined by the 2022 edition)."""

    ALL = 0
    MANUAL = 1
    ALARM = 2
    TIME = 3


@dataclass(frozen=True, slots=True)
class InviteOffer:
    """What goes into the INVITE: the SDP and the ``Subject`` header value."""

    sdp: SessionDescription
    subject: str
    ssrc: str
    media_transport: MediaTransport

    content_type = "application/sdp"

    @property
    def body(self) -> bytes:
        """The SDP body bytes."""
        return bytes(self.sdp)


def _token(value: str, what: str) -> str:
    if not value or any(c.isspace() or c in ":,;<>@" for c in value):
        raise InviteError(f"{what} {value!r} cannot go into a Subject or SDP line")
    return value


def subject(channel_id: str, ssrc: str, platform_id: str) -> str:
    """``<channel>:<ssrc>,<platform>:0``: sender ID and serial, receiver ID and serial."""
    return f"{_token(channel_id, 'channel ID')}:{ssrc},{_token(platform_id, 'platform ID')}:0"


def _connection(ip: str) -> Connection:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError as exc:
        raise InviteError(f"media IP {ip!r} is not an IP address") from exc
    return Connection(str(address), addr_type="IP4" if address.version == 4 else "IP6")


def _unix_seconds(moment: datetime | int, what: str) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InviteError(f"{what} must carry a time zone: devices read Unix seconds")
        return int(moment.timestamp())
    if isinstance(moment, bool) or not isinstance(moment, int) or moment < 0:
        raise InviteError(f"{what} must be an aware datetime or non-negative Unix seconds")
    return moment


def _checked_ssrc(ssrc: str) -> str:
    try:
        return ssrc_from_int(ssrc_to_int(ssrc))
    except InvalidSsrc as exc:
        raise InviteError(str(exc)) from exc


def _offer(
    name: SessionName,
    *,
    platform_id: str,
    channel_id: str,
    ssrc: str,
    media_ip: str,
    media_port: int,
    transport: MediaTransport,
    payloads: tuple[tuple[int, str], ...],
    media_format: MediaFormat | None,
    uri: str | None = None,
    timing: Timing = _LIVE_TIMING,
    extra: tuple[Attribute, ...] = (),
) -> InviteOffer:
    if not 0 < media_port <= 65535:
        raise InviteError(f"media port {media_port} is outside 1..65535")
    if not payloads:
        raise InviteError("offer at least one payload type")
    ssrc = _checked_ssrc(ssrc)
    conn = _connection(media_ip)
    attrs = [Attribute("recvonly")]
    attrs += [Attribute("rtpmap", f"{pt} {encoding}") for pt, encoding in payloads]
    attrs += extra
    if transport.setup is not None:
        attrs += [Attribute("setup", transport.setup.value), Attribute("connection", "new")]
    media = Media(
        "video",
        media_port,
        transport.transport.value,
        tuple(str(pt) for pt, _ in payloads),
        attributes=tuple(attrs),
    )
    sdp = SessionDescription(
        origin=Origin(
            _token(platform_id, "platform ID"), "0", "0", conn.address, "IN", conn.addr_type
        ),
        session_name=name.value,
        uri=uri,
        connection=conn,
        timings=(timing,),
        media=(media,),
        ssrc=ssrc,
        media_format=None if media_format is None else str(media_format),
    )
    return InviteOffer(sdp, subject(channel_id, ssrc, platform_id), ssrc, transport)


def build_play_offer(
    *,
    platform_id: str,
    channel_id: str,
    ssrc: str,
    media_ip: str,
    media_port: int,
    transport: MediaTransport = MediaTransport.UDP,
    payloads: tuple[tuple[int, str], ...] = DEFAULT_PAYLOADS,
    media_format: MediaFormat | None = _NO_FORMAT,
    stream_number: int | None = None,
) -> InviteOffer:
    """A live (``s=Play``) offer; ``stream_number`` adds 2022's ``a=streamnumber`` (0 main)."""
    extra = () if stream_number is None else (Attribute("streamnumber", str(stream_number)),)
    return _offer(
        SessionName.PLAY,
        platform_id=platform_id,
        channel_id=channel_id,
        ssrc=ssrc,
        media_ip=media_ip,
        media_port=media_port,
        transport=transport,
        payloads=payloads,
        media_format=media_format,
        extra=extra,
    )


def _history_range(start: datetime | int, end: datetime | int) -> Timing:
    begin, finish = _unix_seconds(start, "start"), _unix_seconds(end, "end")
    if finish <= begin:
        raise InviteError(f"end ({finish}) must be after start ({begin})")
    return Timing(begin, finish)


def build_playback_offer(
    start: datetime | int,
    end: datetime | int,
    *,
    platform_id: str,
    channel_id: str,
    ssrc: str,
    media_ip: str,
    media_port: int,
    transport: MediaTransport = MediaTransport.UDP,
    record_type: RecordType = RecordType.ALL,
    payloads: tuple[tuple[int, str], ...] = DEFAULT_PAYLOADS,
    media_format: MediaFormat | None = _NO_FORMAT,
) -> InviteOffer:
    """A ``s=Playback`` offer with ``u=<channel>:<type>`` and ``t=<start> <end>`` (Unix s)."""
    return _offer(
        SessionName.PLAYBACK,
        platform_id=platform_id,
        channel_id=channel_id,
        ssrc=ssrc,
        media_ip=media_ip,
        media_port=media_port,
        transport=transport,
        payloads=payloads,
        media_format=media_format,
        uri=f"{_token(channel_id, 'channel ID')}:{int(record_type)}",
        timing=_history_range(start, end),
    )


def build_download_offer(
    start: datetime | int,
    end: datetime | int,
    speed: int = 1,
    *,
    platform_id: str,
    channel_id: str,
    ssrc: str,
    media_ip: str,
    media_port: int,
    transport: MediaTransport = MediaTransport.UDP,
    record_type: RecordType = RecordType.ALL,
    payloads: tuple[tuple[int, str], ...] = DEFAULT_PAYLOADS,
    media_format: MediaFormat | None = _NO_FORMAT,
) -> InviteOffer:
    """A ``s=Download`` offer; ``speed`` goes into ``a=downloadspeed`` (devices list 1/2/4)."""
    if isinstance(speed, bool) or not isinstance(speed, int) or not 1 <= speed <= 256:
        raise InviteError(f"download speed must be an integer 1..256, got {speed!r}")
    return _offer(
        SessionName.DOWNLOAD,
        platform_id=platform_id,
        channel_id=channel_id,
        ssrc=ssrc,
        media_ip=media_ip,
        media_port=media_port,
        transport=transport,
        payloads=payloads,
        media_format=media_format,
        uri=f"{_token(channel_id, 'channel ID')}:{int(record_type)}",
        timing=_history_range(start, end),
        extra=(Attribute("downloadspeed", str(speed)),),
    )


# --- the answer --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    """Where and how the device sends, read from its 200 OK SDP."""

    ip: str
    port: int
    transport: Transport
    setup: Setup | None
    ssrc: str | None
    payload_types: tuple[int, ...]
    encodings: tuple[tuple[int, str], ...]
    media_format: MediaFormat | None
    file_size: int | None
    download_speed: int | None
    direction: str | None
    sdp: SessionDescription

    @property
    def ssrc_value(self) -> int | None:
        """The answered SSRC as the uint32 expected in RTP."""
        return None if self.ssrc is None else int(self.ssrc)

    def encoding(self, payload_type: int) -> str | None:
        """The ``a=rtpmap`` encoding for a payload type, e.g. ``PS/90000``."""
        return dict(self.encodings).get(payload_type)


_DIRECTIONS = ("sendonly", "recvonly", "sendrecv", "inactive")
_SETUPS = frozenset(s.value for s in Setup)


def _pick_media(sdp: SessionDescription) -> Media:
    usable = [m for m in sdp.media if m.port != 0]
    for media in usable:
        if media.kind.lower() == "video":
            return media
    if usable:
        return usable[0]
    raise UnusableAnswer("the answer has no m= line with a port")


def _optional_int(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        # Tolerated: these are hints for progress bars, not needed to receive media.
        logger.debug("ignoring malformed %s %r in SDP answer", what, text)
        return None


def _answer_ssrc(sdp: SessionDescription) -> str | None:
    if not sdp.ssrc:
        return None
    try:
        return ssrc_from_int(ssrc_to_int(sdp.ssrc))
    except InvalidSsrc:
        logger.warning("ignoring malformed y=%r in SDP answer", sdp.ssrc[:40])
        return None


def _answer_format(sdp: SessionDescription) -> MediaFormat | None:
    if not sdp.media_format:
        return None
    try:
        return MediaFormat.parse(sdp.media_format)
    except MediaFormatError:
        logger.debug("ignoring malformed f=%r in SDP answer", sdp.media_format[:60])
        return None


def _lookup(media: Media, sdp: SessionDescription, name: str) -> str | None:
    value = media.attribute(name)
    return sdp.attribute(name) if value is None else value


def parse_answer(body: bytes | str | SessionDescription) -> MediaAnswer:
    """Read a device's answer; raises :class:`SdpError` (or its :class:`UnusableAnswer`)."""
    sdp = body if isinstance(body, SessionDescription) else parse(body)
    media = _pick_media(sdp)
    conn = media.connection or sdp.connection
    # Some devices leave out c= entirely; o= then carries the only address they give.
    address = conn.address if conn else (sdp.origin.address if sdp.origin else None)
    if not address:
        raise UnusableAnswer("the answer gives no c= or o= address")
    setup_text = (_lookup(media, sdp, "setup") or "").strip().lower()
    direction = next((d for d in _DIRECTIONS if _lookup(media, sdp, d) is not None), None)
    return MediaAnswer(
        ip=address.split("/")[0],
        port=media.port,
        transport=Transport.TCP if "TCP" in media.proto.upper() else Transport.UDP,
        setup=Setup(setup_text) if setup_text in _SETUPS else None,
        ssrc=_answer_ssrc(sdp),
        payload_types=tuple(int(f) for f in media.formats if f.isascii() and f.isdigit()),
        encodings=tuple(sorted(media.rtpmap().items())),
        media_format=_answer_format(sdp),
        file_size=_optional_int(_lookup(media, sdp, "filesize"), "a=filesize"),
        download_speed=_optional_int(_lookup(media, sdp, "downloadspeed"), "a=downloadspeed"),
        direction=direction,
        sdp=sdp,
    )


class AnswerIssue(Enum):
    """Ways a device's answer departs from the offer; the caller decides which to accept."""

    TRANSPORT_CHANGED = "the device answered another transport than offered"
    SETUP_CONFLICT = "both sides claim the same TCP role (active/passive confusion)"
    SETUP_MISSING = "TCP answer without a=setup"
    SSRC_MISSING = "the answer has no y= line"
    SSRC_CHANGED = "the device answered another SSRC than offered"


def check_answer(offer: InviteOffer, answer: MediaAnswer) -> tuple[AnswerIssue, ...]:
    """The issues between an offer and its answer (empty when they agree)."""
    issues: list[AnswerIssue] = []
    if answer.transport is not offer.media_transport.transport:
        issues.append(AnswerIssue.TRANSPORT_CHANGED)
    elif answer.transport is Transport.TCP:
        if answer.setup is None:
            issues.append(AnswerIssue.SETUP_MISSING)
        elif answer.setup is offer.media_transport.setup:
            issues.append(AnswerIssue.SETUP_CONFLICT)
    if answer.ssrc is None:
        issues.append(AnswerIssue.SSRC_MISSING)
    elif answer.ssrc != offer.ssrc:
        issues.append(AnswerIssue.SSRC_CHANGED)
    return tuple(issues)
