"""Catalog bodies in the style of real devices, decoded with the MANSCDP codec for the tests."""

from __future__ import annotations

from collections.abc import Sequence

from sightline.gb28181.manscdp import CatalogItem, CatalogNotify, CatalogResponse, decode
from sightline.store import Channel

NVR = "34020000001180000001"
PLATFORM = "34020000002000000001"
BUSINESS_GROUP = "34020000002150000001"
VIRTUAL_ORG = "34020000002160000001"
VIRTUAL_ORG_2 = "34020000002160000002"
CAM_GATE = "34020000001320000001"
CAM_PARK = "34020000001320000002"
CAM_ROAD = "34020000001310000003"
ALARM_IN = "34020000001340000001"

# A Hikvision-style 2016 NVR answer in GB2312: areas, a business group, two virtual
# organisations, cameras, an alarm input, the platform's own item and an unusable item.
NVR_CATALOG_2016 = f"""<?xml version="1.0" encoding="GB2312"?>
<Response>
<CmdType>Catalog</CmdType>
<SN>17430</SN>
<DeviceID>{NVR}</DeviceID>
<SumNum>11</SumNum>
<DeviceList Num="11">
<Item><DeviceID>34</DeviceID><Name>安徽省</Name></Item>
<Item><DeviceID>340200</DeviceID><Name>芜湖市</Name><ParentID>34</ParentID></Item>
<Item><DeviceID>34020201</DeviceID><Name>镜湖街道</Name></Item>
<Item><DeviceID>{PLATFORM}</DeviceID><Name>县平台</Name></Item>
<Item><DeviceID>{BUSINESS_GROUP}</DeviceID><Name>治安监控</Name><ParentID>{PLATFORM}</ParentID></Item>
<Item><DeviceID>{VIRTUAL_ORG}</DeviceID><Name>东区</Name><ParentID>{BUSINESS_GROUP}</ParentID>
<BusinessGroupID>{BUSINESS_GROUP}</BusinessGroupID></Item>
<Item><DeviceID>{VIRTUAL_ORG_2}</DeviceID><Name>东区一组</Name><ParentID>{VIRTUAL_ORG}</ParentID>
<BusinessGroupID>{BUSINESS_GROUP}</BusinessGroupID></Item>
<Item>
<DeviceID>{CAM_GATE}</DeviceID>
<Name>东门入口</Name>
<Manufacturer>Hikvision</Manufacturer>
<Model>DS-2DE4425IW</Model>
<Owner>Owner</Owner>
<CivilCode>34020201</CivilCode>
<Block>一区</Block>
<Address>中山路1号</Address>
<Parental>0</Parental>
<ParentID>{VIRTUAL_ORG}</ParentID>
<SafetyWay>0</SafetyWay>
<RegisterWay>1</RegisterWay>
<Secrecy>0</Secrecy>
<IPAddress>192.0.2.10</IPAddress>
<Port>8000</Port>
<Password>hunter2</Password>
<Status>ON</Status>
<Longitude>118.376451</Longitude>
<Latitude>31.326319</Latitude>
<Info><PTZType>1</PTZType><Resolution>6/5/4</Resolution></Info>
</Item>
<Item>
<DeviceID>{CAM_PARK}</DeviceID>
<Name>停车场</Name>
<Manufacturer>Hikvision</Manufacturer>
<CivilCode>3402000000</CivilCode>
<ParentID>{VIRTUAL_ORG_2}</ParentID>
<Status>OFF</Status>
<Longitude>0</Longitude>
<Latitude>0</Latitude>
</Item>
<Item>
<DeviceID>{ALARM_IN}</DeviceID>
<Name>门磁</Name>
<CivilCode>CivilCode</CivilCode>
<ParentID>{NVR}</ParentID>
<Status>ON</Status>
<Longitude>500</Longitude>
<Latitude>31.3</Latitude>
</Item>
<Item><DeviceID>not-an-id</DeviceID><Name>junk</Name></Item>
</DeviceList>
</Response>
"""

# The same NVR a day later in 2022 style (UTF-8, BusinessGroupID on the item): the parking
# camera is gone, a road camera is new.
NVR_CATALOG_2022 = f"""<?xml version="1.0" encoding="UTF-8"?>
<Response>
<CmdType>Catalog</CmdType>
<SN>17431</SN>
<DeviceID>{NVR}</DeviceID>
<SumNum>2</SumNum>
<DeviceList Num="2">
<Item>
<DeviceID>{CAM_GATE}</DeviceID>
<Name>东门入口（新）</Name>
<CivilCode>34020201</CivilCode>
<ParentID>{VIRTUAL_ORG}</ParentID>
<BusinessGroupID>{BUSINESS_GROUP}</BusinessGroupID>
<Status>ON</Status>
</Item>
<Item>
<DeviceID>{CAM_ROAD}</DeviceID>
<Name>路口</Name>
<CivilCode>340202</CivilCode>
<ParentID>{NVR}</ParentID>
<Status>ON</Status>
<Info><GrassrootsCode>340202001</GrassrootsCode></Info>
</Item>
</DeviceList>
</Response>
"""


def catalog_items(body: str, charset: str = "utf-8") -> tuple[CatalogItem, ...]:
    """The items of a Catalog response body."""
    message = decode(body.encode(charset))
    assert isinstance(message, CatalogResponse)
    return message.items


def notify_items(device_id: str, *items: str) -> tuple[CatalogItem, ...]:
    """The items of a catalog NOTIFY built around ``items`` (each an ``<Item>`` body)."""
    body = (
        '<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Catalog</CmdType><SN>88</SN>'
        f"<DeviceID>{device_id}</DeviceID><SumNum>{len(items)}</SumNum>"
        f'<DeviceList Num="{len(items)}">'
        + "".join(f"<Item>{item}</Item>" for item in items)
        + "</DeviceList></Notify>"
    )
    message = decode(body.encode("gb2312"))
    assert isinstance(message, CatalogNotify)
    return message.items


def ids(channels: Sequence[Channel]) -> list[str]:
    """The IDs of ``channels``."""
    return [channel.id for channel in channels]
