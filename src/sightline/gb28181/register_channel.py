"""What the main process and its REGISTER worker processes say to each other.

Sans-IO: ``encode`` turns a message into one packet, ``decode`` a packet back into a message
(raising :class:`ChannelError` for anything malformed); :class:`Channel` moves packets over a
``SOCK_SEQPACKET`` socket pair on asyncio without ever blocking. A packet is one tag byte and a
payload: raw bytes for forwarded datagrams (the hot path), JSON for everything else.

Main → worker: :class:`WorkerConfig` (first), :class:`Ha1Entries`, :class:`Start`, :class:`Ban`.
Worker → main: :class:`Ready`, :class:`Forwarded`, :class:`Registered`, :class:`AuthOutcome`,
:class:`StatsReport`.
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
    udp_buffer_bytes: int = 4 * 1024 * 1024
    stats_interval_s: float = 1.0
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
class AuthOutcome:
    """A digest check from ``host`` failed (``ok`` False) or passed after failures."""

    host: str
    ok: bool


@dataclass(frozen=True)
class StatsReport:
    """SIP counters since the worker's previous report (``SipStats.to_dict`` form)."""

    counts: dict[str, object]


ChannelMessage = (
    WorkerConfig
    | Ha1Entries
    | Start
    | Ready
    | Ban
    | Forwarded
    | Registered
    | AuthOutcome
    | StatsReport
)

_FORWARDED = b"F"
_FORWARD_HEAD = struct.Struct("!HB")
_JSON_TAGS: dict[type, bytes] = {
    WorkerConfig: b"C",
    Ha1Entries: b"H",
    Start: b"S",
    Ready: b"Y",
    Ban: b"B",
    Registered: b"R",
    AuthOutcome: b"A",
    StatsReport: b"T",
}
_BY_TAG = {tag: cls for cls, tag in _JSON_TAGS.items()}


def encode(message: ChannelMessage) -> bytes:
    """One packet for ``message``."""
    if isinstance(message, Forwarded):
        host = message.host.encode()
        return _FORWARDED + _FORWARD_HEAD.pack(message.port, len(host)) + host + message.data
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
    ) -> None:
        self._sock = sock
        self._on_message = on_message
        self._on_closed = on_closed
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

    def _writable(self) -> None:
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

    def _readable(self) -> None:
        for _ in range(256):  # bounded, so one busy peer cannot starve the loop
            try:
                packet = self._sock.recv(MAX_PACKET)
            except BlockingIOError:
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
