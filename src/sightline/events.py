"""In-process publish/subscribe of domain events between bounded contexts.

Publishers never wait: each subscriber has a bounded queue, and a subscriber that falls
behind loses its oldest events (counted in ``dropped``) rather than slowing the SIP path.
A multi-node deployment replaces this with a NATS-backed bus of the same interface.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "AlarmReceived",
    "CatalogUpdated",
    "DeviceOffline",
    "DeviceOnline",
    "Event",
    "EventBus",
    "Subscription",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceOnline:
    """A device registered (or came back)."""

    device_id: str
    at: datetime
    transport: str
    remote: str


@dataclass(frozen=True)
class DeviceOffline:
    """A device unregistered, expired or missed its keepalives."""

    device_id: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class CatalogUpdated:
    """A device's channel list changed (query answer or catalog NOTIFY)."""

    device_id: str
    # the device's channels in the directory after an imported list; None after change
    # events (ADD/DEL/UPDATE/ON/OFF), which are applied without counting again
    channel_count: int | None


@dataclass(frozen=True)
class AlarmReceived:
    """A device reported an alarm (MESSAGE or NOTIFY)."""

    device_id: str
    channel_id: str | None
    priority: int | None
    method: int | None
    alarm_type: int | None
    description: str | None
    at: datetime


Event = DeviceOnline | DeviceOffline | CatalogUpdated | AlarmReceived


class Subscription:
    """One subscriber's queue; iterate it with ``async for``."""

    def __init__(self, bus: EventBus, kinds: tuple[type, ...], maxsize: int) -> None:
        self._bus = bus
        self.kinds = kinds
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        """Queue an event, dropping the oldest when full."""
        if self.kinds and not isinstance(event, self.kinds):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    def close(self) -> None:
        """Stop receiving events."""
        self._bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class EventBus:
    """Fan-out of events to subscribers."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self.published = 0

    def subscribe(self, *kinds: type, maxsize: int = 10_000) -> Subscription:
        """Receive events of the given types (all when none are given)."""
        sub = Subscription(self, kinds, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscriber."""
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, event: Event) -> None:
        """Deliver to every matching subscriber without waiting."""
        self.published += 1
        for sub in list(self._subs):
            sub.offer(event)
