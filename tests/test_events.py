"""The in-process event bus."""

from __future__ import annotations

from datetime import UTC, datetime

from sightline.events import CatalogUpdated, DeviceOffline, DeviceOnline, EventBus

AT = datetime(2026, 1, 1, tzinfo=UTC)


async def test_subscribers_get_matching_events_in_order() -> None:
    bus = EventBus()
    everything = bus.subscribe()
    offline = bus.subscribe(DeviceOffline)
    bus.publish(DeviceOnline("d1", AT, "UDP", "127.0.0.1:5060"))
    bus.publish(DeviceOffline("d1", AT, "expired"))
    bus.publish(CatalogUpdated("d1", 4))
    assert everything.queue.qsize() == 3
    assert offline.queue.qsize() == 1
    assert await offline.queue.get() == DeviceOffline("d1", AT, "expired")
    got = []
    async for event in everything:
        got.append(event)
        if len(got) == 3:
            break
    assert [type(e) for e in got] == [DeviceOnline, DeviceOffline, CatalogUpdated]


def test_slow_subscriber_loses_oldest_not_the_publisher() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxsize=2)
    for n in range(5):
        bus.publish(CatalogUpdated("d", n))
    assert sub.dropped == 3
    assert [sub.queue.get_nowait().channel_count for _ in range(2)] == [3, 4]  # type: ignore[union-attr]
    sub.close()
    bus.publish(CatalogUpdated("d", 9))
    assert sub.queue.empty()
    assert bus.published == 6
