"""What the main process and its media worker processes say to each other (control only).

Sans-IO like :mod:`register_channel`: ``encode`` turns a message into one packet (a tag byte
and JSON), ``decode`` a packet back (:class:`ChannelError` for anything malformed); a
:class:`~sightline.gb28181.packet_channel.PacketChannel` carries them. Frames never travel
here: a worker receives, packages and delivers its streams itself; the few frames the main
process needs (recording, RTSP, masked views) come over the relay socket
(:mod:`sightline.media.unit_wire`).

Main → worker: :class:`MediaWorkerConfig` (first), :class:`Invited`,
:class:`DeviceHungUp`, :class:`Admitted`, :class:`Revoked`, :class:`RelayOpen`,
:class:`RelayClose`.
Worker → main: :class:`WorkerReady`, :class:`Invite`, :class:`HangUp`, :class:`Admit`,
:class:`Watching`, :class:`AuditRecord`, :class:`Streams`.

A stream's failure crosses as a :class:`Failure` (kind, sentence, SIP status) and becomes the
same exception type on the other side (:func:`failure_of_error`, :func:`error_of_failure`),
so a viewer of a worker gets the statuses an in-process viewer gets.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any

from sightline.gb28181.errors import (
    DeviceOfflineError,
    DeviceRejectedError,
    DeviceTimeoutError,
    UnknownDeviceError,
)
from sightline.gb28181.live import UnknownChannelError
from sightline.gb28181.packet_channel import ChannelError
from sightline.gb28181.ssrc import SsrcExhausted
from sightline.media.hub import (
    NoMediaError,
    StreamEndedError,
    StreamKey,
    StreamNeverArrivedError,
    StreamSnapshot,
    StreamState,
)
from sightline.media.ports import PortsExhaustedError
from sightline.media.stats import ReceiverSnapshot

__all__ = [
    "REPORT_CHUNK",
    "Admit",
    "Admitted",
    "AuditRecord",
    "DeviceHungUp",
    "Failure",
    "HangUp",
    "Invite",
    "Invited",
    "LiveMessage",
    "MediaWorkerConfig",
    "RelayClose",
    "RelayOpen",
    "Revoked",
    "Streams",
    "Watching",
    "WorkerReady",
    "decode",
    "encode",
    "error_of_failure",
    "failure_of_error",
    "snapshot_from_wire",
    "snapshot_to_wire",
]


@dataclass(frozen=True)
class Failure:
    """Why something failed, as it crosses: ``kind`` names the exception type."""

    kind: str
    text: str
    status: int | None = None


# kind ↔ exception type; the first match wins, so subclasses come before their bases
_KINDS: tuple[tuple[str, type[Exception]], ...] = (
    ("unknown-channel", UnknownChannelError),
    ("unknown-device", UnknownDeviceError),
    ("offline", DeviceOfflineError),
    ("rejected", DeviceRejectedError),
    ("timeout", DeviceTimeoutError),
    ("never-arrived", StreamNeverArrivedError),
    ("no-media", NoMediaError),
    ("ports", PortsExhaustedError),
    ("ssrc", SsrcExhausted),
    ("ended", StreamEndedError),
)


def failure_of_error(exc: BaseException) -> Failure:
    """The failure to send for ``exc`` (anything unknown ends the stream, with its sentence)."""
    for kind, cls in _KINDS:
        if isinstance(exc, cls):
            status = exc.status if isinstance(exc, DeviceRejectedError) else None
            return Failure(kind, str(exc), status)
    return Failure("ended", str(exc) or type(exc).__name__)


def error_of_failure(failure: Failure) -> Exception:
    """The exception a failure stands for (StreamEndedError for a kind not known here)."""
    for kind, cls in _KINDS:
        if kind == failure.kind:
            if cls is DeviceRejectedError:
                return DeviceRejectedError(failure.text, status=failure.status)
            return cls(failure.text)
    return StreamEndedError(failure.text)


# -- main → worker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaWorkerConfig:
    """Everything a worker needs to serve live media; the first message it gets."""

    index: int
    rtp_ports: tuple[int, int]
    bind_host: str
    media_host: str
    platform_id: str
    http_host: str
    http_port: int
    token_key: str  # hex: the stream-token key, so the worker checks the tokens it is shown
    token_ttl_s: float
    token_bind_client: bool
    grace_s: float
    first_frame_timeout_s: float
    no_media_timeout_s: float
    accept_ssrc_mismatch: bool
    invite_timeout_s: float
    ws_max_message: int
    transport: str = "udp"  # media.transport: the receiver a worker starts before it asks
    tls_cert: str | None = None
    tls_key: str | None = None
    log_level: str = "INFO"
    log_json: bool = False


@dataclass(frozen=True)
class Invited:
    """Answer to :class:`Invite`: the established call, the device's SDP answer, the device
    and the SSRC the main process booked. A failure of kind ``transport`` names, as its
    text, the transport the device is to use: the worker starts that receiver and asks again.
    """

    req: int
    call_id: str = ""
    status: int = 0
    body: str = ""
    device_id: str = ""
    ssrc: str = ""
    failure: Failure | None = None


@dataclass(frozen=True)
class DeviceHungUp:
    """The device sent BYE for a call the worker holds."""

    call_id: str


@dataclass(frozen=True)
class Admitted:
    """Answer to :class:`Admit`: ``refusal`` (with its HTTP status) when the view may not run
    here: the token is revoked, or its holder is to see the channel masked."""

    req: int
    refusal: str | None = None
    status: int = 403


@dataclass(frozen=True)
class Revoked:
    """A running view's token no longer holds (revoked, or its grant or unmasked right gone)."""

    token_id: str
    reason: str


@dataclass(frozen=True)
class RelayOpen:
    """Send the main process the channel's live access units over the relay socket."""

    relay_id: int
    channel_id: str


@dataclass(frozen=True)
class RelayClose:
    """The main process no longer wants relay ``relay_id``."""

    relay_id: int


# -- worker → main ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerReady:
    """The worker's HTTP listener is up (on ``http_port``)."""

    http_port: int


@dataclass(frozen=True)
class Invite:
    """The worker's receiver listens on ``port`` (``transport``): find the channel's device,
    book an SSRC (unique per platform: the main process's), INVITE, answer :class:`Invited`."""

    req: int
    channel_id: str
    port: int
    transport: str


@dataclass(frozen=True)
class HangUp:
    """The worker's stream ended: BYE the call and free its SSRC."""

    call_id: str


@dataclass(frozen=True)
class Admit:
    """May a view with these stream-token claims run here (unmasked)? Asked before it starts."""

    req: int
    claims: dict[str, Any]


@dataclass(frozen=True)
class Watching:
    """Claims of the views that checked their tokens since the last report: the main process
    re-checks them against grants and revocations and answers :class:`Revoked`."""

    claims: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class AuditRecord:
    """An audit event of a view the worker served (start, stop, refusal)."""

    event: dict[str, Any]


@dataclass(frozen=True)
class Streams:
    """The worker's streams, for the main process's ``/metrics`` (once a second), in parts of
    at most :data:`REPORT_CHUNK` (a packet has a size limit): ``first`` starts a report,
    ``last`` completes it."""

    snapshots: list[list[Any]] = field(default_factory=list)
    first: bool = True
    last: bool = True
    loop_lag_s: float = 0.0  # the worker's largest event-loop lag of the last minute
    cpu_s: float = 0.0  # the worker's CPU time so far (user + system)


REPORT_CHUNK = 100
"""Snapshots in one Streams packet, claims in one Watching packet (each well under 2 KiB)."""


LiveMessage = (
    MediaWorkerConfig
    | Invited
    | DeviceHungUp
    | Admitted
    | Revoked
    | RelayOpen
    | RelayClose
    | WorkerReady
    | Invite
    | HangUp
    | Admit
    | Watching
    | AuditRecord
    | Streams
)

_TAGS: dict[type, bytes] = {
    MediaWorkerConfig: b"C",
    Invited: b"i",
    DeviceHungUp: b"B",
    Admitted: b"a",
    Revoked: b"R",
    RelayOpen: b"O",
    RelayClose: b"X",
    WorkerReady: b"Y",
    Invite: b"I",
    HangUp: b"H",
    Admit: b"A",
    Watching: b"W",
    AuditRecord: b"U",
    Streams: b"S",
}
_BY_TAG = {tag: cls for cls, tag in _TAGS.items()}
_WITH_FAILURE = (Invited,)


def encode(message: LiveMessage) -> bytes:
    """One packet for ``message``."""
    return _TAGS[type(message)] + json.dumps(asdict(message), separators=(",", ":")).encode()


def decode(packet: bytes) -> LiveMessage:
    """The message in ``packet``; ChannelError when it is not one."""
    cls = _BY_TAG.get(packet[:1])
    if cls is None:
        raise ChannelError(f"unknown packet tag {packet[:1]!r}")
    try:
        fields = json.loads(packet[1:])
        if not isinstance(fields, dict):
            raise ChannelError("packet payload is not an object")
        if cls in _WITH_FAILURE and fields.get("failure") is not None:
            fields["failure"] = Failure(**fields["failure"])
        if cls is MediaWorkerConfig:
            low, high = fields["rtp_ports"]
            fields["rtp_ports"] = (int(low), int(high))
        message: LiveMessage = cls(**fields)
    except (ValueError, TypeError, KeyError) as exc:
        raise ChannelError(f"malformed {cls.__name__} packet: {exc}") from exc
    return message


# -- stream snapshots ---------------------------------------------------------------------------


# Snapshots go as flat lists in field order (``dataclasses.asdict`` of 500 snapshots a second
# took 6 % of a loaded worker's time): key, state and reception first, then the plain fields.
_PLAIN = tuple(
    f.name for f in dataclass_fields(StreamSnapshot) if f.name not in ("key", "state", "reception")
)
_RECEPTION = tuple(f.name for f in dataclass_fields(ReceiverSnapshot))


def snapshot_to_wire(snapshot: StreamSnapshot) -> list[Any]:
    """A stream snapshot as a JSON-ready list."""
    reception = snapshot.reception
    return [
        snapshot.key.channel_id,
        snapshot.key.kind,
        snapshot.state.value,
        None if reception is None else [getattr(reception, name) for name in _RECEPTION],
        *(getattr(snapshot, name) for name in _PLAIN),
    ]


def snapshot_from_wire(values: list[Any]) -> StreamSnapshot:
    """The snapshot ``snapshot_to_wire`` made; ValueError/TypeError when malformed."""
    channel_id, kind, state, reception, *plain = values
    if len(plain) != len(_PLAIN) or (reception is not None and len(reception) != len(_RECEPTION)):
        raise ValueError("a stream snapshot with the wrong number of fields")
    return StreamSnapshot(
        key=StreamKey(channel_id, kind),
        state=StreamState(state),
        reception=None if reception is None else ReceiverSnapshot(*reception),
        **dict(zip(_PLAIN, plain, strict=True)),
    )
