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

import asyncio
import json
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from sightline.gb28181.errors import Gb28181Error

__all__ = [
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

# Large enough for any SIP datagram (64 KiB) plus the header, and for an HA1 chunk.
MAX_PACKET = 256 * 1024
# Packets queued towards a peer that does not read: beyond this the channel is broken.
MAX_QUEUED = 100_000
# Queued packets at which ``on_pressure(True)`` tells the sender to stop producing, and the
# level the queue must drain to before ``on_pressure(False)`` (a REGISTER worker sheds
# datagrams in between instead of letting the queue reach MAX_QUEUED and the channel break).
HIGH_WATER = 5_000
LOW_WATER = 500


class ChannelError(Gb28181Error):
    """A malformed packet, or a channel that cannot carry any more."""


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


class Channel:
    """Packets over a non-blocking SOCK_SEQPACKET socket, on the running loop.

    ``send`` never blocks: what the socket cannot take now waits in a queue written when it
    can (so two processes sending to each other cannot deadlock). ``on_message`` gets each
    decoded message; ``on_closed`` is called once when the peer went away or the channel broke.
    """

    def __init__(
        self,
        sock: socket.socket,
        on_message: Callable[[ChannelMessage], None],
        on_closed: Callable[[], None],
        *,
        name: str,
        on_pressure: Callable[[bool], None] | None = None,
    ) -> None:
        self._sock = sock
        self._on_message = on_message
        self._on_closed = on_closed
        self._on_pressure = on_pressure
        self._pressed = False
        self.name = name
        self._queue: deque[bytes] = deque()
        self._loop = asyncio.get_running_loop()
        self._closed = False
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._readable)

    @property
    def closed(self) -> bool:
        """True once the channel no longer carries anything."""
        return self._closed

    @property
    def backlog(self) -> int:
        """Packets waiting for the socket: the other process is not keeping up when > 0."""
        return len(self._queue)

    def send(self, message: ChannelMessage) -> None:
        """Send (or queue) one message; ChannelError when the channel is closed or stuck."""
        if self._closed:
            raise ChannelError(f"{self.name}: channel closed")
        packet = encode(message)
        if self._queue:
            self._enqueue(packet)
            return
        try:
            self._sock.send(packet)
        except BlockingIOError:
            self._enqueue(packet)
            self._loop.add_writer(self._sock.fileno(), self._writable)
        except OSError as exc:
            self._fail(f"send failed: {exc}")
            raise ChannelError(f"{self.name}: {exc}") from exc

    def close(self) -> None:
        """Stop reading and writing and close the socket (the peer sees end of file)."""
        if self._closed:
            return
        self._closed = True
        fd = self._sock.fileno()
        if fd >= 0:
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)
        self._sock.close()
        self._queue.clear()

    def _enqueue(self, packet: bytes) -> None:
        if len(self._queue) >= MAX_QUEUED:
            self._fail(f"{MAX_QUEUED} packets queued: the other process does not read")
            raise ChannelError(f"{self.name}: peer not reading")
        self._queue.append(packet)
        if not self._pressed and len(self._queue) >= HIGH_WATER and self._on_pressure:
            self._pressed = True
            self._on_pressure(True)

    def _writable(self) -> None:
        try:
            while self._queue:
                try:
                    self._sock.send(self._queue[0])
                except BlockingIOError:
                    return
                except OSError as exc:
                    self._fail(f"send failed: {exc}")
                    return
                self._queue.popleft()
            self._loop.remove_writer(self._sock.fileno())
        finally:
            if self._pressed and len(self._queue) <= LOW_WATER and self._on_pressure:
                self._pressed = False
                self._on_pressure(False)

    def _readable(self) -> None:
        for _ in range(256):  # bounded, so one busy peer cannot starve the loop
            try:
                packet = self._sock.recv(MAX_PACKET)
            except BlockingIOError:
                return
            except ConnectionResetError:
                self._fail(None)  # the peer closed with packets of ours unread: it went away
                return
            except OSError as exc:
                self._fail(f"receive failed: {exc}")
                return
            if not packet:
                self._fail(None)
                return
            try:
                message = decode(packet)
            except ChannelError as exc:
                log.error("%s: dropped a malformed packet: %s", self.name, exc)
                continue
            try:
                self._on_message(message)
            except Exception:
                log.exception("%s: handling %s failed", self.name, type(message).__name__)
            if self._closed:
                return

    def _fail(self, reason: str | None) -> None:
        if self._closed:
            return
        if reason is not None:
            log.error("%s: %s", self.name, reason)
        self.close()
        self._on_closed()
