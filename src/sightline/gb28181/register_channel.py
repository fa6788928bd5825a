"""What the main process and its REGISTER worker processes say to each other.

Sans-IO: ``encode`` turns a message into one packet, ``decode`` a packet back into a message
(raising :class:`ChannelError` for anything malformed); :class:`Channel` moves packets over a
``SOCK_SEQPACKET`` socket pair on asyncio without ever blocking. A packet is one tag byte and a
payload: compact forms for what is sent all the time (forwarded datagrams, raw; accepted
registrations, a batch of length-prefixed records per packet; counters, one line per count),
JSON for everything else.

Main → worker: :class:`WorkerConfig` (first), :class:`Ha1Entries`, :class:`Start`, :class:`Ban`.
Worker → main: :class:`Ready`, :class:`Forwarded`, :class:`Registrations` (a batch of
:class:`Registered`), :class:`AuthOutcome`, :class:`StatsReport`.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from sightline.gb28181.packet_channel import (
    HIGH_WATER,
    LOW_WATER,
    MAX_PACKET,
    MAX_QUEUED,
    ChannelError,
    PacketChannel,
)

__all__ = [
    "HIGH_WATER",
    "LOW_WATER",
    "MAX_PACKET",
    "MAX_QUEUED",
    "AuthOutcome",
    "Ban",
    "Channel",
    "ChannelError",
    "ChannelMessage",
    "Forwarded",
    "Ha1Entries",
    "Ready",
    "Registered",
    "Registrations",
    "Start",
    "StatsReport",
    "WorkerConfig",
    "decode",
    "encode",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs to answer REGISTER like the main process."""

    index: int
    host: str
    port: int
    realm: str
    nonce_key: str  # hex; each worker derives its own key from it
    nonce_lifetime_s: float
    device_password: str
    expires_min_s: int
    expires_max_s: int
    date_header: bool
    max_message_bytes: int
    user_agent: str
    rate_per_source: float
    rate_burst: int
    flood_exempt: list[str] = field(default_factory=list)
    ban_after_failures: int = 10
    ban_window_s: float = 60.0
    ban_s: float = 300.0
    udp_buffer_bytes: int = 4 * 1024 * 1024
    stats_interval_s: float = 1.0
    # sockets each worker binds in the port's SO_REUSEPORT group: the kernel spreads sources
    # evenly over sockets, so 2 leave the main process (which also records every binding and
    # runs everything else) 1 / (2N + 1) of the devices instead of 1 / (N + 1)
    sockets: int = 2
    log_level: str = "INFO"
    log_json: bool = False


@dataclass(frozen=True)
class Ha1Entries:
    """Per-device HA1 values for this realm; None removes a device's own HA1."""

    entries: list[tuple[str, str | None]]


@dataclass(frozen=True)
class Start:
    """Everything is known: bind the port and answer."""


@dataclass(frozen=True)
class Ready:
    """The worker's socket is bound."""

    host: str
    port: int


@dataclass(frozen=True)
class Ban:
    """Drop everything from ``host`` for ``seconds``."""

    host: str
    seconds: float


@dataclass(frozen=True)
class Forwarded:
    """A datagram the worker does not handle (anything but REGISTER), for the main process."""

    host: str
    port: int
    data: bytes


@dataclass(frozen=True)
class Registered:
    """A REGISTER the worker accepted (``expires`` 0: the device unregistered)."""

    device_id: str
    contact: str
    host: str
    port: int
    expires: int
    call_id: str
    gb_version: str | None


@dataclass(frozen=True)
class Registrations:
    """The registrations a worker accepted in one turn of its loop, in order: one packet."""

    items: tuple[Registered, ...]


@dataclass(frozen=True)
class AuthOutcome:
    """A digest check from ``host`` failed (``ok`` False) or passed after failures."""

    host: str
    ok: bool


@dataclass(frozen=True)
class StatsReport:
    """SIP counters since the worker's previous report (``SipStats.take_counts`` form)."""

    counts: tuple[tuple[str, str, int], ...]


ChannelMessage = (
    WorkerConfig
    | Ha1Entries
    | Start
    | Ready
    | Ban
    | Forwarded
    | Registered
    | Registrations
    | AuthOutcome
    | StatsReport
)

_FORWARDED = b"F"
_FORWARD_HEAD = struct.Struct("!HB")
_STATS = b"T"  # one "counter TAB label TAB count" line per count: names and labels are tokens
_REGISTERED = b"R"
_REGISTRATIONS = b"G"
# port, expires, has a version, then the byte lengths of device ID, contact, host, Call-ID,
# version; the five texts follow (UTF-8, surrogate escapes kept: header text may carry them)
_RECORD_HEAD = struct.Struct("!HIBHHHHH")
_JSON_TAGS: dict[type, bytes] = {
    WorkerConfig: b"C",
    Ha1Entries: b"H",
    Start: b"S",
    Ready: b"Y",
    Ban: b"B",
    AuthOutcome: b"A",
}
_BY_TAG = {tag: cls for cls, tag in _JSON_TAGS.items()}


def encode(message: ChannelMessage) -> bytes:
    """One packet for ``message``; ChannelError for a field too long to frame."""
    if isinstance(message, Forwarded):
        host = message.host.encode()
        return _FORWARDED + _FORWARD_HEAD.pack(message.port, len(host)) + host + message.data
    if isinstance(message, StatsReport):
        lines = "\n".join(f"{name}\t{label}\t{count}" for name, label, count in message.counts)
        return _STATS + lines.encode("utf-8", "surrogateescape")
    try:
        if isinstance(message, Registered):
            return _REGISTERED + _record(message)
        if isinstance(message, Registrations):
            return _REGISTRATIONS + b"".join(map(_record, message.items))
    except struct.error as exc:
        raise ChannelError(f"registration too large to send: {exc}") from exc
    payload = json.dumps(asdict(message), separators=(",", ":"))
    return _JSON_TAGS[type(message)] + payload.encode()


def decode(packet: bytes) -> ChannelMessage:
    """The message in ``packet``; ChannelError when it is not one."""
    tag = packet[:1]
    try:
        if tag == _FORWARDED:
            port, length = _FORWARD_HEAD.unpack_from(packet, 1)
            start = 1 + _FORWARD_HEAD.size
            raw_host = packet[start : start + length]
            if len(raw_host) != length or not raw_host:
                raise ChannelError("truncated forwarded datagram")
            return Forwarded(raw_host.decode(), port, packet[start + length :])
        if tag == _REGISTERED:
            items = _records(packet)
            if len(items) != 1:
                raise ChannelError(f"{len(items)} records in a Registered packet")
            return items[0]
        if tag == _REGISTRATIONS:
            return Registrations(_records(packet))
        if tag == _STATS:
            return StatsReport(_counts(packet))
        cls = _BY_TAG.get(tag)
        if cls is None:
            raise ChannelError(f"unknown packet tag {tag!r}")
        fields = json.loads(packet[1:])
        if not isinstance(fields, dict):
            raise ChannelError("packet payload is not an object")
        message: ChannelMessage = cls(**fields)
    except (ValueError, TypeError, struct.error) as exc:
        raise ChannelError(f"malformed {tag!r} packet: {exc}") from exc
    if isinstance(message, Ha1Entries):
        return Ha1Entries([(str(d), None if h is None else str(h)) for d, h in message.entries])
    return message


def _counts(packet: bytes) -> tuple[tuple[str, str, int], ...]:
    """The counts of a stats packet; raises ValueError when malformed."""
    if len(packet) == 1:
        return ()
    counts = []
    for line in packet[1:].decode("utf-8", "surrogateescape").split("\n"):
        name, label, count = line.split("\t")
        counts.append((name, label, int(count)))
    return tuple(counts)


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _record(item: Registered) -> bytes:
    texts = (
        _text(item.device_id),
        _text(item.contact),
        _text(item.host),
        _text(item.call_id),
        b"" if item.gb_version is None else _text(item.gb_version),
    )
    head = _RECORD_HEAD.pack(item.port, item.expires, item.gb_version is not None, *map(len, texts))
    return head + b"".join(texts)


def _records(packet: bytes) -> tuple[Registered, ...]:
    """The records after the tag byte; raises struct.error or ValueError when malformed."""
    items: list[Registered] = []
    offset = 1
    size = _RECORD_HEAD.size
    while offset < len(packet):
        port, expires, versioned, *lengths = _RECORD_HEAD.unpack_from(packet, offset)
        offset += size
        texts: list[str] = []
        for length in lengths:
            raw = packet[offset : offset + length]
            if len(raw) != length:
                raise ValueError("truncated registration record")
            texts.append(raw.decode("utf-8", "surrogateescape"))
            offset += length
        device_id, contact, host, call_id, version = texts
        if versioned > 1 or (not versioned and version):
            raise ValueError("bad version flag in a registration record")
        items.append(
            Registered(
                device_id, contact, host, port, expires, call_id, version if versioned else None
            )
        )
    if not items:
        raise ValueError("no registration record")
    return tuple(items)


class Channel(PacketChannel[ChannelMessage]):
    """A :class:`PacketChannel` carrying the REGISTER workers' messages."""

    def __init__(
        self,
        sock: socket.socket,
        on_message: Callable[[ChannelMessage], None],
        on_closed: Callable[[], None],
        *,
        name: str,
        on_pressure: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(
            sock,
            on_message,
            on_closed,
            name=name,
            encode=encode,
            decode=decode,
            on_pressure=on_pressure,
        )
