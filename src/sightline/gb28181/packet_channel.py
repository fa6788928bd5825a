"""Packets between two processes over a ``SOCK_SEQPACKET`` socket pair, on asyncio.

:class:`PacketChannel` moves whole packets without ever blocking; what a packet means is the
``encode`` / ``decode`` pair it is given (the REGISTER workers' codec in
:mod:`register_channel`, the media workers' in :mod:`live_channel`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from sightline.gb28181.errors import Gb28181Error

__all__ = [
    "HIGH_WATER",
    "LOW_WATER",
    "MAX_PACKET",
    "MAX_QUEUED",
    "ChannelError",
    "PacketChannel",
    "end_process",
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

M = TypeVar("M")


class ChannelError(Gb28181Error):
    """A malformed packet, or a channel that cannot carry any more."""


async def end_process(process: asyncio.subprocess.Process, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for a worker process whose channel was closed to exit, else
    kill it; True when it had to be killed."""
    if process.returncode is not None:
        return False
    try:
        async with asyncio.timeout(timeout_s):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        return True
    return False


class PacketChannel(Generic[M]):
    """Packets over a non-blocking SOCK_SEQPACKET socket, on the running loop.

    ``send`` never blocks: what the socket cannot take now waits in a queue written when it
    can (so two processes sending to each other cannot deadlock). ``on_message`` gets each
    decoded message; ``on_closed`` is called once when the peer went away or the channel broke.
    """

    def __init__(
        self,
        sock: socket.socket,
        on_message: Callable[[M], None],
        on_closed: Callable[[], None],
        *,
        name: str,
        encode: Callable[[M], bytes],
        decode: Callable[[bytes], M],
        on_pressure: Callable[[bool], None] | None = None,
    ) -> None:
        self._encode = encode
        self._decode = decode
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

    def send(self, message: M) -> None:
        """Send (or queue) one message; ChannelError when the channel is closed or stuck."""
        if self._closed:
            raise ChannelError(f"{self.name}: channel closed")
        packet = self._encode(message)
        if len(packet) > MAX_PACKET:  # the peer could not read it; the channel stays usable
            raise ChannelError(f"{self.name}: a {len(packet)}-byte packet (at most {MAX_PACKET})")
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
                message = self._decode(packet)
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
