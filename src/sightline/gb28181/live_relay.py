"""Relays: a media worker's live stream as an upstream of the main process's hub.

What the main process itself needs of a channel a worker receives (recording, RTSP, masked
views, ``?wait=true``) comes over the worker's relay socket: :meth:`Relays.open` asks the
worker (``RelayOpen``, over the control channel) to join its own hub and send the units
(:mod:`sightline.media.unit_wire` records, several relays on one socket); :meth:`Relays.read`
hands each record to its relay; closing the relay sends ``RelayClose``. A relay's end record
carries the stream's failure, raised here as the same exception type.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import AsyncIterator, Callable

from sightline.gb28181.live_channel import (
    Failure,
    LiveMessage,
    RelayClose,
    RelayOpen,
    error_of_failure,
)
from sightline.gb28181.packet_channel import ChannelError
from sightline.media.hub import StreamEndedError
from sightline.media.ps_frames import AccessUnit
from sightline.media.unit_wire import HEAD, UnitWireError, decode_end, decode_unit, parse_head

__all__ = ["Relay", "Relays"]

log = logging.getLogger(__name__)

Send = Callable[[LiveMessage], None]


class Relay:
    """One relayed stream (the hub's ``Upstream``: ``frames`` and ``close``)."""

    def __init__(self, relay_id: int, worker: int, channel_id: str, send: Send) -> None:
        self.relay_id = relay_id
        self.worker = worker
        self.channel_id = channel_id
        self.queue: asyncio.Queue[AccessUnit | BaseException] = asyncio.Queue()
        self._send = send
        self.closed = False

    async def frames(self) -> AsyncIterator[AccessUnit]:
        """The worker's units; raises the stream's failure when it ends."""
        while True:
            item = await self.queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    async def close(self) -> None:
        """Tell the worker to stop sending."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(ChannelError):  # a worker gone has stopped anyway
                self._send(RelayClose(self.relay_id))


class Relays:
    """Every relay of the main process, over every worker's relay socket."""

    def __init__(self) -> None:
        self._relays: dict[int, Relay] = {}
        self._ids = itertools.count(1)

    async def open(self, worker: int, channel_id: str, send: Send) -> Relay:
        """The channel's stream from ``worker``, once its first unit came (the opening's
        failure — device offline, refused, no media — is raised here)."""
        relay = Relay(next(self._ids), worker, channel_id, send)
        self._relays[relay.relay_id] = relay
        try:
            send(RelayOpen(relay.relay_id, channel_id))
            first = await relay.queue.get()
            if isinstance(first, BaseException):
                raise first
        except BaseException:
            self._relays.pop(relay.relay_id, None)
            await relay.close()
            raise
        relay.queue.put_nowait(first)
        return relay

    async def read(self, worker: int, sock: socket.socket) -> None:
        """Hand the records of ``worker``'s relay socket to their relays until it closes."""
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        try:
            while True:
                head = parse_head(await reader.readexactly(HEAD.size))
                payload = await reader.readexactly(head.length)
                relay = self._relays.get(head.relay_id)
                if relay is None or relay.closed:
                    continue  # closed here while the worker was still sending
                if head.end:
                    try:
                        failure = Failure(**decode_end(payload))
                    except TypeError:
                        failure = Failure("ended", f"{relay.channel_id}: the relay ended")
                    relay.queue.put_nowait(error_of_failure(failure))
                    del self._relays[head.relay_id]
                else:
                    relay.queue.put_nowait(decode_unit(head, payload))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the worker went away: end_worker ends its relays
        except UnitWireError as exc:
            log.error("media worker %d: relay stream broken: %s", worker, exc)
            self.end_worker(worker, f"media worker {worker}'s relay stream broke")
        finally:
            writer.close()

    def end_worker(self, worker: int, reason: str) -> None:
        """End every relay from ``worker`` with ``reason``."""
        for relay_id, relay in list(self._relays.items()):
            if relay.worker == worker:
                del self._relays[relay_id]
                relay.closed = True
                relay.queue.put_nowait(StreamEndedError(f"{relay.channel_id}: {reason}"))
