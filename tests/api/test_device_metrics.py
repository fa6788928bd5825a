"""/metrics for devices: online, subscriptions by kind, the onboarding queue and storm holds."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from sightline.api.metrics import DeviceCollector
from sightline.gb28181.subscriptions import Subscription, SubscriptionKind, SubscriptionTable
from tests.gb28181.device_peer import start_platform, until
from tests.gb28181.test_devices import NVR, online_nvr, settings


def _samples(registry: CollectorRegistry) -> dict[str, float]:
    text = generate_latest(registry).decode()
    return {
        name: float(value)
        for line in text.splitlines()
        if line and not line.startswith("#")
        for name, _, value in [line.rpartition(" ")]
    }


def test_the_table_counts_devices_per_kind() -> None:
    table = SubscriptionTable()
    first = Subscription(NVR, SubscriptionKind.CATALOG, "call-1", 3600)
    table.add(first)
    table.add(Subscription(NVR, SubscriptionKind.CATALOG, "call-2", 3600))  # replaces it
    table.add(Subscription(NVR, SubscriptionKind.ALARM, "call-3", 3600))
    assert (table.count(SubscriptionKind.CATALOG), table.count(SubscriptionKind.ALARM)) == (1, 1)
    table.remove(first)  # already replaced: nothing changes
    assert table.count(SubscriptionKind.CATALOG) == 1
    table.remove_device(NVR)
    assert (table.count(SubscriptionKind.CATALOG), table.count(SubscriptionKind.ALARM)) == (0, 0)


async def test_devices_and_their_subscriptions_on_metrics(tmp_path: Path) -> None:
    platform = await start_platform(
        tmp_path, settings(catalog_subscribe_expires_s=3600, alarm_subscribe_expires_s=3600)
    )
    registry = CollectorRegistry()
    registry.register(DeviceCollector(platform.manager))
    catalog = 'sightline_device_subscriptions{kind="catalog"}'
    alarm = 'sightline_device_subscriptions{kind="alarm"}'
    device = await online_nvr(platform)
    try:
        await until(lambda: _samples(registry)[alarm] == 1)
        samples = _samples(registry)
        assert samples["sightline_devices_online"] == 1
        assert samples[catalog] == 1
        assert samples["sightline_onboarding_waiting"] == 0
        assert samples["sightline_onboarding_storm_holds_total"] == 0
        assert (await device.register(expires=0)).status == 200
        samples = _samples(registry)
        assert (samples["sightline_devices_online"], samples[catalog], samples[alarm]) == (0, 0, 0)
    finally:
        await device.close()
        await platform.close()
