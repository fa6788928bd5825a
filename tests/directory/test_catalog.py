"""Catalog items become regions, groups and channels (pure functions, no database)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from sightline.directory.catalog import (
    CatalogBatch,
    ItemKind,
    classify,
    normalize_civil_code,
    plan_events,
    split_catalog,
    to_channel,
)
from sightline.gb28181.manscdp import CatalogItem
from sightline.store import ChannelStatus, GroupKind, Region
from tests.directory.samples import (
    ALARM_IN,
    BUSINESS_GROUP,
    CAM_GATE,
    CAM_PARK,
    NVR,
    NVR_CATALOG_2016,
    PLATFORM,
    VIRTUAL_ORG,
    VIRTUAL_ORG_2,
    catalog_items,
    ids,
    notify_items,
)
from tests.gb28181.manscdp_strategies import model

AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _batch() -> CatalogBatch:
    return split_catalog(NVR, catalog_items(NVR_CATALOG_2016, "gb2312"), AT)


def test_items_are_classified_by_id() -> None:
    kinds = {
        "34": ItemKind.AREA,
        "340200": ItemKind.AREA,
        "340002": ItemKind.IGNORED,  # 00 only as trailing padding
        "123": ItemKind.IGNORED,
        PLATFORM: ItemKind.IGNORED,
        BUSINESS_GROUP: ItemKind.BUSINESS_GROUP,
        VIRTUAL_ORG: ItemKind.VIRTUAL_ORG,
        CAM_GATE: ItemKind.CHANNEL,
        ALARM_IN: ItemKind.CHANNEL,
        "34020000002020000001": ItemKind.CHANNEL,  # a media server: any other 20-digit ID
        "3402000000132000000１": ItemKind.IGNORED,  # full-width digit
    }
    assert {k: classify(CatalogItem(device_id=k)) for k in kinds} == kinds


def test_a_2016_catalog_splits_into_regions_groups_and_channels() -> None:
    batch = _batch()
    assert batch.regions == (
        Region(code="34", name="安徽省"),
        Region(code="3402", name="芜湖市", parent_code="34"),
        Region(code="340202", name="", parent_code="3402"),  # implied by the township
        Region(code="34020201", name="镜湖街道", parent_code="340202"),
    )
    groups = {g.id: g for g in batch.groups}
    business, east, east_one = groups[BUSINESS_GROUP], groups[VIRTUAL_ORG], groups[VIRTUAL_ORG_2]
    assert (business.kind, business.parent_id, business.name) == (
        GroupKind.BUSINESS,
        None,
        "治安监控",
    )
    assert (east.kind, east.parent_id, east.business_group_id) == (
        GroupKind.VIRTUAL,
        BUSINESS_GROUP,
        BUSINESS_GROUP,
    )
    assert east_one.parent_id == VIRTUAL_ORG
    assert ids(batch.channels) == [CAM_GATE, CAM_PARK, ALARM_IN]
    assert batch.ignored == (PLATFORM, "not-an-id")


def test_channel_attributes_are_mapped() -> None:
    gate = _batch().channels[0]
    assert gate.device_id == NVR
    assert (gate.name, gate.manufacturer, gate.model, gate.owner) == (
        "东门入口",
        "Hikvision",
        "DS-2DE4425IW",
        "Owner",
    )
    assert (gate.civil_code, gate.block, gate.address) == ("34020201", "一区", "中山路1号")
    assert (gate.parental, gate.parent_id, gate.register_way, gate.secrecy) == (
        0,
        VIRTUAL_ORG,
        1,
        0,
    )
    assert (gate.ip_address, gate.port, gate.status, gate.ptz_type) == (
        "192.0.2.10",
        8000,
        ChannelStatus.ON,
        1,
    )
    assert (gate.longitude, gate.latitude) == (118.376451, 31.326319)
    assert gate.extra == {"safety_way": "0", "resolution": "6/5/4"}
    assert "hunter2" not in repr(gate)


def test_vendor_placeholders_are_cleaned() -> None:
    _, park, alarm = _batch().channels
    # A 10-digit SIP domain as civil code means its first 8 digits; 0,0 means "no position".
    assert (park.civil_code, park.status, park.longitude, park.latitude) == (
        "3402",
        ChannelStatus.OFF,
        None,
        None,
    )
    assert alarm.civil_code is None
    assert alarm.extra["civil_code_raw"] == "CivilCode"
    assert (alarm.longitude, alarm.latitude) == (None, None)  # longitude 500


def test_civil_code_normalisation() -> None:
    cases = {
        "340202": "340202",
        "34020200": "340202",
        "3402000000": "3402",
        "34020000001320000001": "3402",
        " 34 ": "34",
        "": None,
        "0000": None,
        "34x2": None,
        None: None,
    }
    assert {k: normalize_civil_code(k) for k in cases} == cases


def test_hostile_text_is_cut_and_nul_free() -> None:
    item = CatalogItem(
        device_id=CAM_GATE,
        name="x" * 10_000 + "\x00",
        address="\x00a\x00",
        parent_id="/".join([VIRTUAL_ORG] * 100),
        business_group_id="../../etc",
        port=70_000,
        parental=2**40,
        mac="m" * 5000,
    )
    channel = to_channel(item, NVR, AT)
    assert len(channel.name) == 255
    assert channel.address == "a"
    assert channel.parent_id is not None and len(channel.parent_id) == 255
    assert (channel.business_group_id, channel.port, channel.parental) == (None, None, None)
    assert len(channel.extra["mac"]) == 1024


def test_missing_status_means_present() -> None:
    assert to_channel(CatalogItem(device_id=CAM_GATE), NVR, AT).status is ChannelStatus.ON
    online = to_channel(CatalogItem(device_id=CAM_GATE, status="ONLINE"), NVR, AT)
    assert online.status is ChannelStatus.ON
    offline = to_channel(CatalogItem(device_id=CAM_GATE, status="OFFLINE"), NVR, AT)
    assert offline.status is ChannelStatus.OFF


def test_duplicate_items_keep_the_last() -> None:
    items = [
        CatalogItem(device_id=CAM_GATE, name="old"),
        CatalogItem(device_id=CAM_GATE, name="new"),
    ]
    assert [c.name for c in split_catalog(NVR, items, AT).channels] == ["new"]


def test_events_apply_in_order() -> None:
    gate = to_channel(CatalogItem(device_id=CAM_GATE, name="gate"), NVR, AT)
    park = to_channel(CatalogItem(device_id=CAM_PARK, name="park"), NVR, AT)
    items = notify_items(
        NVR,
        f"<DeviceID>{CAM_GATE}</DeviceID><Event>VLOST</Event>",
        f"<DeviceID>{CAM_PARK}</DeviceID><Event>DEL</Event>",
        f"<DeviceID>{ALARM_IN}</DeviceID><Event>ADD</Event><Name>门磁</Name><Status>ON</Status>",
        f"<DeviceID>{ALARM_IN}</DeviceID><Event>OFF</Event>",
        "<DeviceID>34020000001320000099</DeviceID><Event>ON</Event>",  # not ours: ignored
        f"<DeviceID>{VIRTUAL_ORG}</DeviceID><Event>DEL</Event>",
    )
    plan = plan_events(NVR, items, {CAM_GATE: gate, CAM_PARK: park}, AT)
    upserts = {c.id: c for c in plan.upserts}
    assert sorted(upserts) == sorted([ALARM_IN, CAM_GATE])
    assert upserts[CAM_GATE].extra == {"fault": "VLOST", "fault_at": AT.isoformat()}
    assert upserts[CAM_GATE].status is ChannelStatus.ON
    assert (upserts[ALARM_IN].name, upserts[ALARM_IN].status) == ("门磁", ChannelStatus.OFF)
    assert plan.deletes == (CAM_PARK,)
    assert plan.group_deletes == (VIRTUAL_ORG,)


def test_on_clears_a_fault() -> None:
    gate = to_channel(CatalogItem(device_id=CAM_GATE), NVR, AT)
    defect = plan_events(
        NVR, notify_items(NVR, f"<DeviceID>{CAM_GATE}</DeviceID><Event>DEFECT</Event>"), {}, AT
    )
    assert defect.upserts == ()  # unknown channel: nothing to mark
    faulty = dataclasses.replace(gate, extra={"fault": "DEFECT", "fault_at": "x", "mac": "m"})
    on = plan_events(
        NVR,
        notify_items(NVR, f"<DeviceID>{CAM_GATE}</DeviceID><Event>ON</Event>"),
        {CAM_GATE: faulty},
        AT,
    )
    assert on.upserts[0].extra == {"mac": "m"}
    assert on.upserts[0].status is ChannelStatus.ON


_IDS = st.one_of(
    st.text(max_size=24),
    st.from_regex(r"[0-9]{20}", fullmatch=True),
    st.from_regex(r"[0-9]{2,8}", fullmatch=True),
    st.sampled_from([CAM_GATE, BUSINESS_GROUP, VIRTUAL_ORG, PLATFORM, "34", "340200"]),
)


@given(st.lists(st.tuples(model(CatalogItem), _IDS), max_size=8))
def test_any_catalog_gives_storable_records(pairs: list[tuple[CatalogItem, str]]) -> None:
    items = [dataclasses.replace(item, device_id=item_id) for item, item_id in pairs]
    batch = split_catalog(NVR, items, AT)
    for channel in batch.channels:
        assert len(channel.id) == 20 and channel.device_id == NVR
        assert len(channel.name) <= 255 and "\x00" not in channel.name
        assert channel.civil_code is None or len(channel.civil_code) in (2, 4, 6, 8)
        assert channel.port is None or 0 <= channel.port <= 65535
        if channel.longitude is not None:
            assert channel.latitude is not None
            assert math.isfinite(channel.longitude) and abs(channel.longitude) <= 180
        assert "password" not in channel.extra
        assert all(len(v) <= 1024 for v in channel.extra.values())
    for region in batch.regions:
        assert region.parent_code is None or region.code.startswith(region.parent_code)
    for group in batch.groups:
        assert group.parent_id != group.id
    plan_events(NVR, items, {c.id: c for c in batch.channels}, AT)
