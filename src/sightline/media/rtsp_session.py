"""The server side of an RTSP connection, sans-IO: request URLs, transports, session states.

Session states (RFC 2326 Appendix A.2, server)::

    state     SETUP      PLAY       PAUSE      TEARDOWN
    INIT      READY      455        455        INIT
    READY     READY      PLAYING    READY      INIT
    PLAYING   455        PLAYING    READY      INIT

OPTIONS, DESCRIBE and GET_PARAMETER are valid in every state. One connection holds at most
one session, for one channel, with RTP interleaved on the connection (RFC 2326 §10.12);
UDP transports are answered 461. A channel whose camera sends G.711 has a second track,
``trackID=1``, PCMA (payload 8) or PCMU (payload 0) at 8 kHz, sent as the camera sent it.
Any request or interleaved frame from the client keeps the session alive;
``next_deadline()``/``handle_timeout(now)`` close it after ``timeout_s``.

``RtspSession.receive`` answers what needs no I/O (OPTIONS, GET_PARAMETER, every error) and
returns a ``Step`` for the rest: the adapter authorises the channel if the step says so,
opens the stream, then calls the method's completion (``describe``, ``setup``, ...).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from sightline.media.ps_format import Codec
from sightline.media.ps_frames import StreamInfo
from sightline.media.rtp_h26x import sdp_attributes
from sightline.media.rtsp import (
    PUBLIC,
    REASONS,
    SUPPORTED,
    Method,
    RtspParseError,
    RtspRequest,
    RtspResponse,
)

__all__ = [
    "AUDIO_PAYLOAD_TYPES",
    "AUDIO_TRACK",
    "TRACK",
    "Phase",
    "RtspSession",
    "RtspTarget",
    "Step",
    "Transport",
    "build_sdp",
    "parse_target",
    "parse_transport",
]

_CHANNEL_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class RtspTarget:
    """What a request URI names: ``rtsp://host/live/{channel_id}[/{track}]?token=...``."""

    channel_id: str
    token: str | None
    track: str | None
    base: str  # the aggregate URL to hand back as Content-Base, without the token


def parse_target(uri: str) -> RtspTarget:
    """Read a live-channel URI; RtspParseError 400 when malformed, 404 for another path."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (validates the port: it is echoed back in Content-Base)
    except ValueError:
        raise RtspParseError(f"malformed URI {uri[:80]!r}") from None
    if parts.scheme not in ("rtsp", "rtsps", "") or parts.fragment:
        raise RtspParseError(f"not an RTSP URI: {uri[:80]!r}")
    path, query = parts.path, parts.query
    if "/" in query:
        # A client that did not use Content-Base appends the track after the query.
        query, _, extra = query.partition("/")
        path = f"{path.rstrip('/')}/{extra}"
    segments = [unquote(s) for s in path.split("/")]
    if len(segments) < 3 or segments[:2] != ["", "live"] or len(segments) > 4:
        raise RtspParseError(f"no such stream: {path[:80]!r}", status=404)
    channel = segments[2]
    if not _CHANNEL_ID.fullmatch(channel):
        raise RtspParseError(f"malformed channel id {channel[:80]!r}", status=404)
    tokens = parse_qs(query, max_num_fields=8).get("token") if query else None
    track = segments[3] if len(segments) == 4 and segments[3] else None
    base = f"rtsp://{parts.netloc}/live/{channel}/" if parts.netloc else f"/live/{channel}/"
    return RtspTarget(channel, tokens[0] if tokens else None, track, base)


@dataclass(frozen=True, slots=True)
class Transport:
    """One transport specification of a Transport header (RFC 2326 §12.39)."""

    protocol: str  # "RTP/AVP" (UDP), "RTP/AVP/UDP" or "RTP/AVP/TCP"
    params: tuple[tuple[str, str | None], ...] = ()

    def param(self, name: str) -> str | None:
        """A parameter's value ('' for a flag present without one); None when absent."""
        for key, value in self.params:
            if key.lower() == name:
                return "" if value is None else value
        return None

    @property
    def tcp(self) -> bool:
        """True for RTP interleaved on the RTSP connection."""
        return self.protocol.upper() == "RTP/AVP/TCP"

    def interleaved(self) -> tuple[int, int] | None:
        """The RTP and RTCP channel numbers asked for; None when not given or malformed."""
        value = self.param("interleaved")
        match = re.fullmatch(r"(\d{1,3})(?:-(\d{1,3}))?", value or "")
        if match is None:
            return None
        rtp = int(match.group(1))
        rtcp = int(match.group(2)) if match.group(2) else rtp + 1
        return (rtp, rtcp) if rtp <= 255 and rtcp <= 255 and rtp != rtcp else None


def parse_transport(value: str) -> list[Transport]:
    """The alternatives of a Transport header, in the client's order of preference."""
    out = []
    for spec in value.split(","):
        protocol, *params = (p.strip() for p in spec.strip().split(";"))
        if not protocol:
            continue
        pairs = []
        for param in params:
            key, eq, val = param.partition("=")
            pairs.append((key.strip(), val.strip() if eq else None))
        out.append(Transport(protocol, tuple(pairs)))
    return out


class Phase(enum.Enum):
    """RFC 2326 Appendix A.2 server states, plus CLOSED once timed out."""

    INIT = "init"
    READY = "ready"
    PLAYING = "playing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Step:
    """A valid request the adapter must act on before answering with the matching method."""

    method: Method
    target: RtspTarget
    authorized: bool  # the channel was already authorised on this connection


_ALLOWED_IN = {
    Method.SETUP: (Phase.INIT, Phase.READY),
    Method.PLAY: (Phase.READY, Phase.PLAYING),
    Method.PAUSE: (Phase.READY, Phase.PLAYING),
    Method.TEARDOWN: (Phase.INIT, Phase.READY, Phase.PLAYING),
    Method.DESCRIBE: (Phase.INIT, Phase.READY, Phase.PLAYING),
}
TRACK = "trackID=0"
AUDIO_TRACK = "trackID=1"
AUDIO_PAYLOAD_TYPES = {Codec.G711A: (8, "PCMA"), Codec.G711U: (0, "PCMU")}  # RFC 3551


class RtspSession:
    """The server side of one RTSP connection and its (single) session; see the module doc."""

    def __init__(
        self, session_id: str, now: float, *, timeout_s: float = 60.0, server: str = "sightline"
    ) -> None:
        self.session_id = session_id
        self.timeout_s = timeout_s
        self.server = server
        self.phase = Phase.INIT
        self.channel_id: str | None = None
        self.channels: tuple[int, int] = (0, 1)
        self.audio_channels: tuple[int, int] | None = None  # once the audio track is set up
        self._authorized: set[str] = set()
        self._last = now

    def next_deadline(self) -> float | None:
        """When the session times out without hearing from the client."""
        return None if self.phase is Phase.CLOSED else self._last + self.timeout_s

    def handle_timeout(self, now: float) -> bool:
        """Close the session if its deadline has passed; True when it is closed."""
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            self.phase = Phase.CLOSED
        return self.phase is Phase.CLOSED

    def touch(self, now: float) -> None:
        """The client sent something (an RTCP report): it is alive."""
        self._last = max(self._last, now)

    def reply(self, request: RtspRequest, status: int, *extra: tuple[str, str]) -> RtspResponse:
        """A response to ``request`` with the headers every response carries."""
        headers: list[tuple[str, str]] = []
        if request.cseq is not None:
            headers.append(("CSeq", str(request.cseq)))
        headers.append(("Server", self.server))
        if self.phase in (Phase.READY, Phase.PLAYING):
            headers.append(("Session", f"{self.session_id};timeout={int(self.timeout_s)}"))
        headers += extra
        return RtspResponse(status, REASONS.get(status, "Unknown"), tuple(headers))

    def receive(self, request: RtspRequest, now: float) -> RtspResponse | Step:
        """A final response, or the Step the adapter must complete for a valid request."""
        self.touch(now)
        if request.cseq is None:
            return self.reply(request, 400)
        if request.method not in Method.__members__:
            return self.reply(request, 501, ("Public", PUBLIC))
        method = Method(request.method)
        if method not in SUPPORTED:
            return self.reply(request, 405, ("Allow", PUBLIC))
        if self._wrong_session(method, request.header("Session")):
            return self.reply(request, 454)
        if method is Method.OPTIONS:
            return self.reply(request, 200, ("Public", PUBLIC))
        if method is Method.GET_PARAMETER:
            return self.reply(request, 200)
        return self._step(method, request)

    def _wrong_session(self, method: Method, header: str | None) -> bool:
        given = None if header is None else header.split(";")[0].strip()
        if self.phase is Phase.INIT:
            return given is not None and method is not Method.OPTIONS
        if method in (Method.PLAY, Method.PAUSE, Method.TEARDOWN):
            return given != self.session_id
        return given is not None and given != self.session_id

    def _step(self, method: Method, request: RtspRequest) -> RtspResponse | Step:
        try:
            target = parse_target(request.uri)
        except RtspParseError as exc:
            return self.reply(request, exc.status)
        if self.phase not in _ALLOWED_IN[method]:
            return self.reply(request, 455, ("Allow", PUBLIC))
        if self.channel_id is not None and target.channel_id != self.channel_id:
            return self.reply(request, 459)  # one session per connection, for one channel
        if method is Method.SETUP:
            if target.track not in (None, TRACK, AUDIO_TRACK):
                return self.reply(request, 404)
            if self._pick_transport(request) is None:
                return self.reply(request, 461)
        return Step(method, target, target.channel_id in self._authorized)

    def _pick_transport(self, request: RtspRequest) -> Transport | None:
        return next((t for t in parse_transport(request.header("Transport") or "") if t.tcp), None)

    def authorize(self, channel_id: str) -> None:
        """The adapter's authorisation accepted this channel for this connection."""
        self._authorized.add(channel_id)

    def describe(self, request: RtspRequest, target: RtspTarget, sdp: str) -> RtspResponse:
        """200 with the session description."""
        body = sdp.encode("utf-8")
        response = self.reply(
            request,
            200,
            ("Content-Base", target.base),
            ("Content-Type", "application/sdp"),
            ("Content-Length", str(len(body))),
        )
        return RtspResponse(response.status, response.reason, response.headers, body)

    def setup(self, request: RtspRequest, target: RtspTarget, ssrc: int) -> RtspResponse:
        """200 with the transport chosen: RTP and RTCP interleaved on this connection."""
        transport = self._pick_transport(request)
        assert transport is not None, "receive() checked the transport"
        if target.track == AUDIO_TRACK:
            self.audio_channels = transport.interleaved() or (2, 3)
            rtp, rtcp = self.audio_channels
        else:
            self.channels = transport.interleaved() or (0, 1)
            rtp, rtcp = self.channels
        self.channel_id = target.channel_id
        self.phase = Phase.READY
        value = f"RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp};ssrc={ssrc:08X}"
        return self.reply(request, 200, ("Transport", value))

    def play(
        self,
        request: RtspRequest,
        target: RtspTarget,
        sequence: int,
        rtptime: int | None,
        audio: tuple[int, int | None] | None = None,
    ) -> RtspResponse:
        """200; the adapter starts sending after writing it. ``audio``: (seq, rtptime)."""
        self.phase = Phase.PLAYING
        info = f"url={target.base}{TRACK};seq={sequence}"
        if rtptime is not None:
            info += f";rtptime={rtptime}"
        if audio is not None and self.audio_channels is not None:
            info += f",url={target.base}{AUDIO_TRACK};seq={audio[0]}"
            if audio[1] is not None:
                info += f";rtptime={audio[1]}"
        return self.reply(request, 200, ("Range", "npt=0.000-"), ("RTP-Info", info))

    def pause(self, request: RtspRequest) -> RtspResponse:
        """200; the adapter stops sending until the next PLAY."""
        self.phase = Phase.READY
        return self.reply(request, 200)

    def teardown(self, request: RtspRequest) -> RtspResponse:
        """200 (without a Session header); the adapter ends the view."""
        self.phase = Phase.INIT
        self.channel_id = None
        self.audio_channels = None
        return self.reply(request, 200)


def build_sdp(
    info: StreamInfo, *, session_id: int, address: str, name: str, audio: Codec | None = None
) -> str:
    """The session description of one live channel: H.264/H.265 video, maybe G.711 audio."""
    family = "IP6" if ":" in address else "IP4"
    lines = [
        "v=0",
        f"o=- {session_id} 1 IN {family} {address}",
        f"s={name}",
        f"c=IN {family} {'::' if family == 'IP6' else '0.0.0.0'}",
        "t=0 0",
        "a=tool:sightline",
        "a=control:*",
        "m=video 0 RTP/AVP 96",
        *(f"a={a}" for a in sdp_attributes(info, 96)),
        f"a=control:{TRACK}",
    ]
    if audio in AUDIO_PAYLOAD_TYPES:
        payload, encoding = AUDIO_PAYLOAD_TYPES[audio]
        lines += [
            f"m=audio 0 RTP/AVP {payload}",
            f"a=rtpmap:{payload} {encoding}/8000",
            f"a=control:{AUDIO_TRACK}",
        ]
    return "\r\n".join(lines) + "\r\n"
