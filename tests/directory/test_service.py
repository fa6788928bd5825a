"""DirectoryService on a real migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sightline.directory import DirectoryService, GroupView, RegionView
from sightline.gb28181.errors import InvalidCivilCode, UnknownDeviceError
from sightline.gb28181.manscdp import CatalogItem
from sightline.store import ChannelStatus, Database, DirectoryRepository
from tests.directory.samples import (
    ALARM_IN,
    BUSINESS_GROUP,
    CAM_GATE,
    CAM_PARK,
    CAM_ROAD,
    NVR,
    NVR_CATALOG_2016,
    NVR_CATALOG_2022,
    VIRTUAL_ORG,
    VIRTUAL_ORG_2,
    catalog_items,
    ids,
    notify_items,
)
from tests.store.conftest import add_devices, make_device

IPC = "34020000001320000100"
AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def directory(db: Database) -> DirectoryService:
    """A directory with the NVR and an IPC stored; only the IPC is online."""
    await add_devices(db, make_device(NVR, name="NVR"), make_device(IPC, name="IPC"))
    return DirectoryService(db, online=lambda device_id: device_id == IPC, wall_clock=lambda: AT)


async def _import_2016(directory: DirectoryService) -> int:
    return await directory.import_catalog(
        NVR, catalog_items(NVR_CATALOG_2016, "gb2312"), complete=True
    )


def _flatten(nodes: tuple[RegionView, ...]) -> dict[str, RegionView]:
    out: dict[str, RegionView] = {}
    for node in nodes:
        out[node.code] = node
        out.update(_flatten(node.children))
    return out


async def test_import_stores_channels_and_counts_them(directory: DirectoryService) -> None:
    assert await _import_2016(directory) == 3
    device = await directory.get_device(NVR)
    assert device is not None and device.channel_count == 3
    gate = await directory.get_channel(CAM_GATE)
    assert gate is not None
    assert (gate.device_id, gate.name, gate.civil_code, gate.parent_id) == (
        NVR,
        "东门入口",
        "34020201",
        VIRTUAL_ORG,
    )
    assert (gate.longitude, gate.latitude, gate.ptz_type) == (118.376451, 31.326319, 1)
    assert gate.extra == {"safety_way": "0", "resolution": "6/5/4"}


async def test_complete_catalog_replaces_partial_only_adds(directory: DirectoryService) -> None:
    await _import_2016(directory)
    partial = catalog_items(NVR_CATALOG_2022)
    assert await directory.import_catalog(NVR, partial, complete=False) == 4
    assert await directory.get_channel(CAM_PARK) is not None
    assert await directory.import_catalog(NVR, partial, complete=True) == 2
    page = await directory.list_channels(device_id=NVR)
    assert ids(page.items) == sorted([CAM_GATE, CAM_ROAD])
    assert await directory.get_channel(CAM_PARK) is None
    gate = await directory.get_channel(CAM_GATE)
    assert gate is not None
    assert (gate.name, gate.business_group_id) == ("东门入口（新）", BUSINESS_GROUP)
    device = await directory.get_device(NVR)
    assert device is not None and device.channel_count == 2


async def test_empty_complete_catalog_clears_the_device(directory: DirectoryService) -> None:
    await _import_2016(directory)
    assert await directory.import_catalog(NVR, [], complete=True) == 0
    assert (await directory.list_channels(device_id=NVR)).total == 0


async def test_import_for_an_unknown_device_fails(directory: DirectoryService) -> None:
    with pytest.raises(UnknownDeviceError):
        await directory.import_catalog("34020000001320000999", [], complete=True)


async def test_notify_events_change_the_directory(directory: DirectoryService) -> None:
    await _import_2016(directory)
    await directory.apply_catalog_events(
        NVR,
        notify_items(
            NVR,
            f"<DeviceID>{CAM_GATE}</DeviceID><Event>OFF</Event>",
            f"<DeviceID>{CAM_PARK}</DeviceID><Event>DEL</Event>",
            f"<DeviceID>{ALARM_IN}</DeviceID><Event>VLOST</Event>",
            f"<DeviceID>{CAM_ROAD}</DeviceID><Event>ADD</Event><Name>路口</Name>"
            "<CivilCode>340202</CivilCode><Status>ON</Status>",
        ),
    )
    gate, alarm, road = [await directory.get_channel(i) for i in (CAM_GATE, ALARM_IN, CAM_ROAD)]
    assert gate is not None and gate.status is ChannelStatus.OFF
    assert alarm is not None and alarm.extra["fault"] == "VLOST"
    assert road is not None and (road.name, road.civil_code) == ("路口", "340202")
    assert await directory.get_channel(CAM_PARK) is None
    device = await directory.get_device(NVR)
    assert device is not None and device.channel_count == 3
    await directory.apply_catalog_events(
        NVR, notify_items(NVR, f"<DeviceID>{CAM_GATE}</DeviceID><Event>ON</Event>")
    )
    gate = await directory.get_channel(CAM_GATE)
    assert gate is not None and gate.status is ChannelStatus.ON


async def test_events_do_not_touch_another_devices_channels(directory: DirectoryService) -> None:
    await _import_2016(directory)
    await directory.apply_catalog_events(
        IPC, notify_items(IPC, f"<DeviceID>{CAM_GATE}</DeviceID><Event>DEL</Event>")
    )
    assert await directory.get_channel(CAM_GATE) is not None


async def test_devices_show_live_online_state(directory: DirectoryService) -> None:
    page = await directory.list_devices()
    assert page.total == 2
    assert {d.id: d.online for d in page.items} == {NVR: False, IPC: True}
    ipc = await directory.get_device(IPC)
    assert ipc is not None and ipc.online
    assert await directory.get_device("34020000001320000999") is None
    one = await directory.list_devices(limit=1, offset=1)
    assert ([d.id for d in one.items], one.total) == ([IPC], 2)


async def test_online_devices_show_the_live_last_seen_offline_ones_the_stored(db: Database) -> None:
    stored = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    await add_devices(
        db,
        make_device(NVR, last_seen=stored, online=True),
        make_device(IPC, last_seen=stored, online=True),
    )
    live = {IPC: AT}  # the NVR's session is gone: it is offline whatever the row says
    directory = DirectoryService(db, online=live.__contains__, last_seen=live.get)
    page = await directory.list_devices()
    assert {d.id: (d.online, d.last_seen) for d in page.items} == {
        NVR: (False, stored),
        IPC: (True, AT),
    }


async def test_channel_filters(directory: DirectoryService) -> None:
    await _import_2016(directory)

    async def listed(**filters: object) -> list[str]:
        page = await directory.list_channels(**filters)  # type: ignore[arg-type]
        return ids(page.items)

    assert await listed(region="34") == [CAM_GATE, CAM_PARK]
    assert await listed(region="340200") == [CAM_GATE, CAM_PARK]  # padded form
    assert await listed(region="340202") == [CAM_GATE]
    assert await listed(region="35") == []
    assert await listed(group=VIRTUAL_ORG) == [CAM_GATE]
    assert await listed(group=VIRTUAL_ORG_2) == [CAM_PARK]
    assert await listed(online=False) == [CAM_PARK]
    assert await listed(device_id=IPC) == []
    page = await directory.list_channels(limit=2, offset=1)
    assert (ids(page.items), page.total) == ([CAM_PARK, ALARM_IN], 3)
    with pytest.raises(InvalidCivilCode):
        await directory.list_channels(region="340002")


async def test_region_tree_names_nests_and_counts(directory: DirectoryService) -> None:
    await _import_2016(directory)
    forest = await directory.region_tree()
    assert [r.code for r in forest.roots] == ["34"]
    nodes = _flatten(forest.roots)
    assert sorted(nodes) == ["34", "3402", "340202", "34020201"]
    assert (nodes["34"].name, nodes["34"].total_channels, nodes["34"].channel_count) == (
        "安徽省",
        2,
        0,
    )
    assert (nodes["3402"].name, nodes["3402"].channel_count) == ("芜湖市", 1)  # the parking lot
    assert (nodes["340202"].name, nodes["340202"].named) == ("340202", False)
    assert (nodes["34020201"].name, nodes["34020201"].channel_count) == ("镜湖街道", 1)
    assert forest.unplaced == 1  # the alarm input's "CivilCode" placeholder


async def test_an_unnamed_area_never_overwrites_a_name(db: Database) -> None:
    await add_devices(db, make_device(NVR))
    directory = DirectoryService(db, online=lambda _d: False)
    await directory.import_catalog(
        NVR, [CatalogItem(device_id="340202", name="镜湖区")], complete=True
    )
    await directory.import_catalog(NVR, [CatalogItem(device_id="34020201")], complete=True)
    async with db.session() as session:
        region = await DirectoryRepository(session).get_region("340202")
    assert region is not None and region.name == "镜湖区"


async def test_group_tree(directory: DirectoryService) -> None:
    await _import_2016(directory)
    tree = await directory.group_tree()

    def shape(views: tuple[GroupView, ...]) -> list[object]:
        return [(g.id, g.kind.value, g.channel_count, shape(g.children)) for g in views]

    assert shape(tree) == [
        (
            BUSINESS_GROUP,
            "business",
            0,
            [(VIRTUAL_ORG, "virtual", 1, [(VIRTUAL_ORG_2, "virtual", 1, [])])],
        )
    ]
    await directory.apply_catalog_events(
        NVR, notify_items(NVR, f"<DeviceID>{VIRTUAL_ORG}</DeviceID><Event>DEL</Event>")
    )
    tree = await directory.group_tree()
    assert shape(tree) == [
        (BUSINESS_GROUP, "business", 0, []),
        (VIRTUAL_ORG_2, "virtual", 1, []),
    ]


async def test_a_group_with_an_unknown_parent_is_a_root(directory: DirectoryService) -> None:
    orphan = CatalogItem(device_id=VIRTUAL_ORG_2, name="orphan", parent_id=VIRTUAL_ORG)
    await directory.import_catalog(NVR, [orphan], complete=True)
    assert [g.id for g in await directory.group_tree()] == [VIRTUAL_ORG_2]
