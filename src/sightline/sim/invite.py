"""The device side of a live-video INVITE: read the platform's offer, write the answer (sans-IO).

The platform offers where it wants the media (``c=``/``m=``), how (``RTP/AVP`` over UDP or
``TCP/RTP/AVP`` with ``a=setup``), the SSRC (``y=``) and PS as payload 96. The device answers
with its own address, ``a=sendonly``, the same ``y=``, PS only, an ``f=`` line describing what
it sends and, for TCP, its own ``a=setup`` (the opposite role):

    offer a=setup:passive  (platform listens)  -> answer active,  the device connects
    offer a=setup:active   (platform connects) -> answer passive, the device listens
    offer a=setup:actpass or none over TCP     -> the device connects (the standard's default)

``s=Playback`` and ``s=Download`` are served from the simulated recording history
(:mod:`.history`): the offer's ``t=<start> <end>`` (Unix seconds) says what to send and
``a=downloadspeed`` how fast; ``u=<channel>:<type>`` is not checked (every file is ``time``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

from sightline.gb28181.invite import Setup, Transport
from sightline.gb28181.media_format import MediaFormat, RateType, VideoCodec
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
from sightline.sim.errors import SimError
from sightline.sim.video import VideoCodec as SimCodec
from sightline.sim.video import VideoSettings

__all__ = [
    "HistoryRange",
    "MediaFaults",
    "MediaOffer",
    "OfferRejected",
    "SendMode",
    "build_answer",
    "fallback_ssrc",
    "read_offer",
]

PS_PAYLOAD = 96
_SERVED = {
    n.value.lower(): n for n in (SessionName.PLAY, SessionName.PLAYBACK, SessionName.DOWNLOAD)
}
# f= resolution codes the 2016 edition knows; other sizes are written WxH (2022)
_RESOLUTION_CODES = {(176, 144): "1", (352, 288): "2", (704, 576): "4", (1280, 720): "5"}
_RESOLUTION_CODES[(1920, 1080)] = "6"


class OfferRejected(SimError):
    """The offer cannot be served; ``status`` is the SIP answer (488 unless said otherwise)."""

    def __init__(self, message: str, status: int = 488) -> None:
        super().__init__(message)
        self.status = status


class SendMode(Enum):
    """How the device sends: over UDP, or over TCP as client or server."""

    UDP = "udp"
    TCP_CONNECT = "tcp-connect"  # the device connects to the platform (answer a=setup:active)
    TCP_LISTEN = "tcp-listen"  # the platform connects to the device (answer a=setup:passive)

    @property
    def answer_setup(self) -> Setup | None:
        """The device's ``a=setup`` in its answer."""
        if self is SendMode.UDP:
            return None
        return Setup.ACTIVE if self is SendMode.TCP_CONNECT else Setup.PASSIVE


@dataclass(frozen=True, slots=True)
class HistoryRange:
    """What a Playback or Download INVITE asks for: [start, end) in Unix seconds."""

    start: int
    end: int
    speed: int = 1  # a=downloadspeed; 1 for playback


@dataclass(frozen=True, slots=True)
class MediaOffer:
    """What a device needs from a platform's INVITE offer."""

    session_name: str
    ip: str
    port: int
    mode: SendMode
    ssrc: str | None
    payload_type: int
    history: HistoryRange | None = None

    @property
    def ssrc_value(self) -> int | None:
        """The offered SSRC as the uint32 the RTP header carries."""
        return None if self.ssrc is None else ssrc_to_int(self.ssrc)


@dataclass(frozen=True, slots=True)
class MediaFaults:
    """Faults a channel or device can be told to show, for platform tests."""

    reject_status: int | None = None  # answer the INVITE with this (486, 488...) instead
    rtp_ssrc: int | None = None  # send this SSRC in RTP instead of the y= value
    no_media: bool = False  # answer 200 and then send nothing


def _ps_payload(media: Media) -> int:
    for pt, encoding in media.rtpmap().items():
        if encoding.upper().startswith("PS/"):
            return pt
    if str(PS_PAYLOAD) in media.formats and PS_PAYLOAD not in media.rtpmap():
        return PS_PAYLOAD  # a bare "96" with no rtpmap: the standard's static meaning
    raise OfferRejected("the offer has no PS payload type")


def _mode(media: Media, sdp: SessionDescription) -> SendMode:
    if "TCP" not in media.proto.upper():
        return SendMode.UDP
    setup = media.attribute("setup")
    if setup is None:
        setup = sdp.attribute("setup")
    return (
        SendMode.TCP_LISTEN if (setup or "").strip().lower() == "active" else SendMode.TCP_CONNECT
    )


def _address(media: Media, sdp: SessionDescription) -> str:
    conn = media.connection or sdp.connection
    text = conn.address if conn else (sdp.origin.address if sdp.origin else "")
    try:
        return str(ipaddress.ip_address(text.split("/")[0]))
    except ValueError:
        raise OfferRejected(f"the offer's address {text[:40]!r} is not an IP address") from None


def _ssrc(sdp: SessionDescription) -> str | None:
    if not sdp.ssrc:
        return None
    try:
        return ssrc_from_int(ssrc_to_int(sdp.ssrc))
    except InvalidSsrc:
        raise OfferRejected(f"malformed y={sdp.ssrc[:20]!r}", 400) from None


def read_offer(body: bytes) -> MediaOffer:
    """Read a platform's INVITE offer; raises :class:`OfferRejected` (with the status to send)."""
    if not body:
        raise OfferRejected("INVITE without SDP (3PCC offerless INVITE is not supported)")
    try:
        sdp = parse(body)
    except SdpError as exc:
        raise OfferRejected(f"unreadable SDP: {exc}", 400) from None
    name = _SERVED.get((sdp.session_name or "").strip().lower())
    if name is None:
        raise OfferRejected(f"s={(sdp.session_name or '')[:20]} is not served")
    media = next((m for m in sdp.media if m.kind.lower() == "video" and m.port), None)
    if media is None:
        raise OfferRejected("the offer has no video m= line with a port")
    return MediaOffer(
        session_name=name.value,
        ip=_address(media, sdp),
        port=media.port,
        mode=_mode(media, sdp),
        ssrc=_ssrc(sdp),
        payload_type=_ps_payload(media),
        history=None if name is SessionName.PLAY else _history(sdp, media, name),
    )


def _history(sdp: SessionDescription, media: Media, name: SessionName) -> HistoryRange:
    timing = sdp.timing
    if timing is None or timing.start <= 0 or timing.stop <= timing.start:
        raise OfferRejected(f"{name.value} needs t=<start> <end> in Unix seconds, end > start")
    speed = 1
    if name is SessionName.DOWNLOAD:
        text = (media.attribute("downloadspeed") or sdp.attribute("downloadspeed") or "1").strip()
        if not text.isdigit() or not 1 <= int(text) <= 64:
            raise OfferRejected(f"a=downloadspeed:{text[:10]} is not 1..64")
        speed = int(text)
    return HistoryRange(timing.start, timing.stop, speed)


def fallback_ssrc(channel_id: str, serial: int) -> str:
    """An SSRC the device picks when the offer has none (a platform of another domain)."""
    return ssrc_from_int(int(f"0{channel_id[3:8]}{serial % 10_000:04d}"))


def media_format(settings: VideoSettings) -> MediaFormat:
    """The ``f=`` line describing what the simulator sends."""
    size = (settings.width, settings.height)
    return MediaFormat(
        video_codec=VideoCodec.H264 if settings.codec is SimCodec.H264 else VideoCodec.H265,
        resolution=_RESOLUTION_CODES.get(size, f"{size[0]}x{size[1]}"),
        frame_rate=settings.fps,
        rate_type=RateType.VBR,
        bitrate_kbps=settings.bitrate_kbps,
    )


def build_answer(
    offer: MediaOffer,
    *,
    channel_id: str,
    ip: str,
    port: int,
    ssrc: str,
    settings: VideoSettings,
) -> SessionDescription:
    """The device's answer SDP for ``offer``, sending from ``ip``:``port``."""
    address = ipaddress.ip_address(ip)
    conn = Connection(str(address), addr_type="IP4" if address.version == 4 else "IP6")
    mode = offer.mode
    attrs = [Attribute("sendonly"), Attribute("rtpmap", f"{offer.payload_type} PS/90000")]
    if mode.answer_setup is not None:
        attrs += [Attribute("setup", mode.answer_setup.value), Attribute("connection", "new")]
    proto = Transport.UDP if mode is SendMode.UDP else Transport.TCP
    media = Media("video", port, proto.value, (str(offer.payload_type),), attributes=tuple(attrs))
    return SessionDescription(
        origin=Origin(channel_id, "0", "0", conn.address, "IN", conn.addr_type),
        session_name=offer.session_name,
        connection=conn,
        timings=(
            Timing(0, 0)
            if offer.history is None
            else Timing(offer.history.start, offer.history.end),
        ),
        media=(media,),
        ssrc=ssrc,
        media_format=str(media_format(settings)),
    )
