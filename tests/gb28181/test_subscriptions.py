"""Catalog and alarm subscriptions: the sans-IO table, and SUBSCRIBE/NOTIFY on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from sightline.events import AlarmReceived, CatalogUpdated
from sightline.gb28181.manscdp import (
    AlarmNotify,
    AlarmQuery,
    CatalogEvent,
    CatalogItem,
    CatalogNotify,
    CatalogQuery,
    CmdType,
    ResultResponse,
    decode,
)
from sightline.gb28181.subscriptions import Subscription, SubscriptionKind, SubscriptionTable
from sightline.sip.message import Request
from sightline.store import EventRepository
from tests.gb28181.device_peer import DevicePeer, Platform, Received, start_platform, until
from tests.gb28181.test_devices import CHANNELS, NVR, nvr_answers, settings

# -- the table ---------------------------------------------------------------------------


def test_table_refreshes_at_80_percent_and_forgets_removed() -> None:
    table = SubscriptionTable()
    a = Subscription(NVR, SubscriptionKind.CATALOG, "a" * 32, 600)
    b = Subscription(NVR, SubscriptionKind.ALARM, "b" * 32, 100)
    table.add(a)
    table.add(b)
    table.schedule(a, 600, now=0.0)
    table.schedule(b, 100, now=0.0)
    assert table.next_deadline() == 80.0
    assert table.due(79.9) == []
    assert table.due(80.0) == [b]
    assert table.due(1000.0) == [a]
    assert table.due(2000.0) == []  # each schedule fires once
    table.schedule(a, 50, now=1000.0)
    table.remove(a)
    assert table.next_deadline() is None
    assert table.by_call_id(a.call_id) is None
    assert table.get(NVR, SubscriptionKind.ALARM) is b


def test_table_replaces_a_device_subscription_of_the_same_kind() -> None:
    table = SubscriptionTable()
    old = Subscription(NVR, SubscriptionKind.CATALOG, "1" * 32, 600)
    new = Subscription(NVR, SubscriptionKind.CATALOG, "2" * 32, 600)
    table.add(old)
    table.schedule(old, 600, now=0.0)
    table.add(new)
    assert table.by_call_id(old.call_id) is None
    assert table.get(NVR, SubscriptionKind.CATALOG) is new
    assert table.due(10_000.0) == []  # the replaced one's refresh is void
    assert table.remove_device(NVR) == [new]
    assert len(table) == 0


def test_from_tag_is_stable_and_derived_from_call_id() -> None:
    sub = Subscription(NVR, SubscriptionKind.ALARM, "0123456789abcdef", 90)
    assert sub.from_tag == "0123456789"


# -- on loopback -------------------------------------------------------------------------


@pytest.fixture
async def subscribed(tmp_path: Path) -> AsyncIterator[tuple[Platform, DevicePeer]]:
    platform = await start_platform(
        tmp_path, settings(catalog_subscribe_expires_s=600, alarm_subscribe_expires_s=90)
    )
    device = platform.device(NVR, answer=nvr_answers(), subscribe_expires=1)
    await device.start()
    assert (await device.register()).status == 200
    yield platform, device
    await device.close()
    await platform.close()


def _subscribe_of(kind: type) -> object:
    def match(r: Received) -> bool:
        return r.request.method == "SUBSCRIBE" and isinstance(r.message, kind)

    return match


async def _subscribes(device: DevicePeer) -> tuple[Request, Request]:
    catalog = await device.wait_for(_subscribe_of(CatalogQuery))  # type: ignore[arg-type]
    alarm = await device.wait_for(_subscribe_of(AlarmQuery))  # type: ignore[arg-type]
    return catalog.request, alarm.request


async def test_subscribes_to_catalog_and_alarm_after_onboarding(
    subscribed: tuple[Platform, DevicePeer],
) -> None:
    _, device = subscribed
    catalog, alarm = await _subscribes(device)
    assert (catalog.headers.get("Event") or "").startswith("Catalog;id=")
    assert catalog.headers.get("Expires") == "600"
    assert alarm.headers.get("Event") == "presence"
    assert alarm.headers.get("Expires") == "90"
    assert catalog.headers.get("Contact")
    assert catalog.headers.get("Content-Type") == "Application/MANSCDP+xml"


async def test_refresh_in_dialog_before_expiry(subscribed: tuple[Platform, DevicePeer]) -> None:
    _, device = subscribed
    catalog, _ = await _subscribes(device)

    def refresh(r: Received) -> bool:
        return (
            r.request.method == "SUBSCRIBE"
            and r.request.call_id == catalog.call_id
            and (r.request.cseq.number > catalog.cseq.number)
        )

    again = (await device.wait_for(refresh, 3.0)).request  # granted 1 s: refreshed at 0.8 s
    assert again.to.tag == f"dev{catalog.call_id[:6]}"
    assert again.from_.tag == catalog.from_.tag


async def test_catalog_notify_goes_to_the_directory_with_a_receipt(
    subscribed: tuple[Platform, DevicePeer],
) -> None:
    platform, device = subscribed
    catalog, _ = await _subscribes(device)
    changes = (
        CatalogItem(device_id=CHANNELS[0], event=CatalogEvent.OFF),
        CatalogItem(device_id=CHANNELS[6], event=CatalogEvent.ADD, name="新通道", parent_id=NVR),
    )
    notify = CatalogNotify(sn=device.next_sn(), device_id=NVR, sum_num=2, items=changes)
    response = await device.notify(catalog, notify)
    assert response.status == 200
    receipt = decode(response.body)
    assert isinstance(receipt, ResultResponse)
    assert (receipt.cmd_type, receipt.sn) == (CmdType.CATALOG, notify.sn)
    await platform.sink.wait(lambda: bool(platform.sink.events))
    assert platform.sink.events[0] == (NVR, list(changes))
    await until(lambda: bool(platform.seen(CatalogUpdated)))


async def test_alarm_notify_is_stored_and_published(
    subscribed: tuple[Platform, DevicePeer],
) -> None:
    platform, device = subscribed
    _, alarm_sub = await _subscribes(device)
    alarm = AlarmNotify(
        sn=device.next_sn(),
        device_id=NVR,
        alarm_priority=2,
        alarm_method=2,
        alarm_time=datetime(2024, 5, 1, 9, 0, 0),
        alarm_type=1,
    )
    assert (await device.notify(alarm_sub, alarm)).status == 200
    assert [e.channel_id for e in platform.seen(AlarmReceived)] == [None]  # type: ignore[union-attr]
    await platform.manager.flush()
    async with platform.database.session() as session:
        stored = await EventRepository(session).list_alarms(NVR)
    assert [(a.priority, a.method) for a in stored] == [(2, 2)]


async def test_notify_outside_any_subscription_gets_481(
    subscribed: tuple[Platform, DevicePeer],
) -> None:
    _, device = subscribed
    catalog, _ = await _subscribes(device)
    stray = Request(catalog.method, catalog.uri, catalog.headers.copy(), catalog.body)
    stray.headers.set("Call-ID", "not-a-subscription")
    notify = CatalogNotify(sn=1, device_id=NVR, sum_num=0)
    assert (await device.notify(stray, notify)).status == 481


async def test_terminated_subscription_is_forgotten(
    subscribed: tuple[Platform, DevicePeer],
) -> None:
    platform, device = subscribed
    catalog, _ = await _subscribes(device)
    notify = CatalogNotify(sn=device.next_sn(), device_id=NVR, sum_num=0)
    response = await device.notify(catalog, notify, state="terminated;reason=timeout")
    assert response.status == 200
    table = platform.manager.subscriber.table
    assert table.by_call_id(catalog.call_id) is None
