"""Vendor-style bodies (written for these tests in the style of real devices) decode correctly."""

from __future__ import annotations

from datetime import datetime

import pytest

from sightline.gb28181.manscdp import (
    AlarmNotify,
    CatalogEvent,
    CatalogNotify,
    CatalogResponse,
    CmdType,
    DeviceControl,
    DeviceStatusResponse,
    DutyStatus,
    Keepalive,
    MediaStatusNotify,
    Online,
    RecordInfoResponse,
    Result,
    ResultResponse,
    Root,
    UnknownMessage,
    decode,
)
from sightline.gb28181.ptz import PtzKind

HIK_CATALOG = """<?xml version="1.0" encoding="GB2312"?>
<Response>
<CmdType>Catalog</CmdType>
<SN>17430</SN>
<DeviceID>34020000001180000001</DeviceID>
<SumNum>3</SumNum>
<DeviceList Num=2>
<Item>
<DeviceID>34020000001320000001</DeviceID>
<Name>东门入口&出口</Name>
<Manufacturer>Hikvision</Manufacturer>
<Model>IP Camera</Model>
<Owner>Owner</Owner>
<CivilCode>3402000000</CivilCode>
<Address>东门<岗亭></Address>
<Parental>0</Parental>
<ParentID>34020000002000000001</ParentID>
<SafetyWay>0</SafetyWay>
<RegisterWay>1</RegisterWay>
<Secrecy>0</Secrecy>
<Status>ON</Status>
<Longitude></Longitude>
<Latitude/>
<Info>
<PTZType>1</PTZType>
<DownloadSpeed>1/2/4/8</DownloadSpeed>
</Info>
</Item>
<Item>
<DeviceID>34020000001320000002</DeviceID>
<Name>  停车场 </Name>
<Manufacturer>Hikvision</Manufacturer>
<Model>IP Camera</Model>
<Owner>Owner</Owner>
<CivilCode>3402000000</CivilCode>
<Address>Address</Address>
<Parental>0</Parental>
<ParentID>34020000002000000001</ParentID>
<RegisterWay>1</RegisterWay>
<Secrecy>0</Secrecy>
<Status>OFF</Status>
</Item>
</DeviceList>
</Response>
"""


def test_hikvision_style_gb2312_catalog() -> None:
    body = b"\r\n" + HIK_CATALOG.encode("gb2312") + b"\x00\x00\x00"
    msg = decode(body)
    assert isinstance(msg, CatalogResponse)
    assert (msg.sn, msg.device_id, msg.sum_num) == (17430, "34020000001180000001", 3)
    first, second = msg.items
    assert first.name == "东门入口&出口"
    assert first.address == "东门<岗亭>"
    assert first.ptz_type == 1 and first.download_speed == "1/2/4/8"
    assert first.longitude is None and first.latitude is None
    assert first.is_online and not second.is_online
    assert second.name == "停车场"
    assert first.parent_ids == ("34020000002000000001",)


UTF8_2022_CATALOG = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <CmdType>Catalog</CmdType>
  <SN>9</SN>
  <DeviceID>44030500002000000001</DeviceID>
  <SumNum>4</SumNum>
  <DeviceList Num="4">
    <Item><DeviceID>440305</DeviceID><Name>南山区</Name></Item>
    <Item>
      <DeviceID>44030500002150000001</DeviceID>
      <Name>校园安防</Name>
      <ParentID>44030500002000000001</ParentID>
    </Item>
    <Item>
      <DeviceID>44030500002160000001</DeviceID>
      <Name>教学楼</Name>
      <ParentID>44030500002150000001</ParentID>
      <BusinessGroupID>44030500002150000001</BusinessGroupID>
    </Item>
    <Item>
      <DeviceID>44030500001320000007</DeviceID>
      <Name>教学楼一层走廊</Name>
      <Manufacturer>Uniview</Manufacturer>
      <Model>IPC3234</Model>
      <CivilCode>440305</CivilCode>
      <Address>深圳市南山区学府路</Address>
      <Parental>0</Parental>
      <ParentID>44030500002000000001/44030500002160000001</ParentID>
      <RegisterWay>1</RegisterWay>
      <SecurityLevelCode>A</SecurityLevelCode>
      <Secrecy>0</Secrecy>
      <IPAddress>198.51.100.7</IPAddress>
      <Port>5060</Port>
      <Status>ON</Status>
      <Longitude>113.9365</Longitude>
      <Latitude>22.5401</Latitude>
      <BusinessGroupID>44030500002150000001</BusinessGroupID>
      <Info>
        <PTZType>3</PTZType>
        <PhotoelectricImagingType>1/2</PhotoelectricImagingType>
        <CapturePositionType>1</CapturePositionType>
        <RoomType>2</RoomType>
        <SupplyLightType>4</SupplyLightType>
        <DirectionType>5</DirectionType>
        <Resolution>6/3840*2160</Resolution>
        <StreamNumberList>0/1/2</StreamNumberList>
        <DownloadSpeed>1/2/4</DownloadSpeed>
        <SVCSpaceSupportMode>0</SVCSpaceSupportMode>
        <SVCTimeSupportMode>0</SVCTimeSupportMode>
        <SSVCRatioSupportList>4:3/2:1</SSVCRatioSupportList>
        <MobileDeviceType>1</MobileDeviceType>
        <HorizontalFieldAngle>92.5</HorizontalFieldAngle>
        <VerticalFieldAngle>50.1</VerticalFieldAngle>
        <MaxViewDistance>30</MaxViewDistance>
        <GrassrootsCode>000000</GrassrootsCode>
        <PointType>2</PointType>
        <PointCommonName>南门</PointCommonName>
        <MAC>00-1B-2C-3D-4E-5F</MAC>
        <FunctionType>01</FunctionType>
        <EncodeType>2</EncodeType>
        <InstallTime>2022-09-01T09:00:00</InstallTime>
        <ManagementUnit>南山分局</ManagementUnit>
        <ContactInfo>0755-00000000</ContactInfo>
        <RecordSaveDays>90</RecordSaveDays>
        <IndustrialClassification>P</IndustrialClassification>
      </Info>
    </Item>
  </DeviceList>
</Response>
"""


def test_utf8_2022_catalog_with_new_info_fields() -> None:
    msg = decode(UTF8_2022_CATALOG.encode())
    assert isinstance(msg, CatalogResponse)
    area, group, org, cam = msg.items
    assert (area.device_id, area.name) == ("440305", "南山区")
    assert group.parent_id == "44030500002000000001"
    assert org.business_group_id == "44030500002150000001"
    assert cam.parent_ids == ("44030500002000000001", "44030500002160000001")
    assert cam.security_level_code == "A" and cam.port == 5060
    assert cam.business_group_id == "44030500002150000001"
    assert (cam.ptz_type, cam.photoelectric_imaging_type, cam.stream_number_list) == (
        3,
        "1/2",
        "0/1/2",
    )
    assert cam.horizontal_field_angle == 92.5 and cam.max_view_distance == 30.0
    assert (cam.grassroots_code, cam.point_type, cam.mac) == ("000000", 2, "00-1B-2C-3D-4E-5F")
    assert cam.install_time == datetime(2022, 9, 1, 9, 0)
    assert cam.management_unit == "南山分局" and cam.record_save_days == 90


def test_info_fields_flattened_onto_the_item_and_2016_business_group() -> None:
    body = """<?xml version="1.0"?><Response><CmdType>Catalog</CmdType><SN>1</SN>
    <DeviceID>34020000001180000001</DeviceID><SumNum>1</SumNum><DeviceList Num="1"><Item>
    <DeviceID>34020000001320000001</DeviceID><PTZType>2</PTZType>
    <Info><BusinessGroupID>34020000002150000001</BusinessGroupID></Info>
    </Item></DeviceList></Response>"""
    msg = decode(body.encode())
    assert isinstance(msg, CatalogResponse)
    assert msg.items[0].ptz_type == 2
    assert msg.items[0].business_group_id == "34020000002150000001"


DAHUA_KEEPALIVE = """<?xml version="1.0" encoding="GB2312" standalone="yes" ?>
<Notify>
    <CmdType>Keepalive</CmdType>
    <SN>  1093 </SN>
    <DeviceID>34020000001110000003</DeviceID>
    <Status>OK</Status>
    <Info>
        <DeviceID>34020000001310000001</DeviceID>
        <DeviceID>34020000001310000004</DeviceID>
    </Info>
</Notify>
"""


def test_dahua_style_keepalive_with_fault_list() -> None:
    msg = decode(DAHUA_KEEPALIVE.encode("gb2312"))
    assert msg == Keepalive(
        sn=1093,
        device_id="34020000001110000003",
        status=Result.OK,
        fault_devices=("34020000001310000001", "34020000001310000004"),
    )


def test_cmd_type_and_tags_are_matched_case_insensitively() -> None:
    body = b"<Notify><cmdtype>KeepAlive</cmdtype><sn>5</sn><deviceId>1</deviceId>"
    body += b"<status>ok</status></Notify>"
    assert decode(body) == Keepalive(sn=5, device_id="1", status=Result.OK)


NAME = "一号门卫室摄像机"


def _name_catalog(declared: str) -> str:
    return (
        f'<?xml version="1.0" encoding="{declared}"?><Response><CmdType>Catalog</CmdType>'
        "<SN>3</SN><DeviceID>34020000001180000001</DeviceID><SumNum>1</SumNum>"
        "<DeviceList Num='1'><Item><DeviceID>34020000001320000001</DeviceID>"
        f"<Name>{NAME}</Name></Item></DeviceList></Response>"
    )


@pytest.mark.parametrize(
    ("declared", "sent"),
    [
        ("UTF-8", "gb2312"),
        ("GB2312", "utf-8"),
        ("GB2312", "gb2312"),
        ("UTF-8", "utf-8"),
        ("gbk", "gb18030"),
    ],
)
def test_mislabelled_charsets_decode(declared: str, sent: str) -> None:
    msg = decode(_name_catalog(declared).encode(sent))
    assert isinstance(msg, CatalogResponse)
    assert msg.items[0].name == NAME


def test_charset_hint_overrides_guessing() -> None:
    # Latin-1 bytes that are also valid GB 18030: only the per-device hint can tell.
    body = b"<Notify><CmdType>MediaStatus</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
    body += b"<NotifyType>121</NotifyType></Notify>"
    assert isinstance(decode(body, "latin-1"), MediaStatusNotify)
    text = "<Response><CmdType>DeviceInfo</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
    text += "<DeviceName>Caméra</DeviceName><Result>OK</Result></Response>"
    guessed = decode(text.encode("latin-1"))
    hinted = decode(text.encode("latin-1"), charset_hint="ISO-8859-1")
    assert getattr(hinted, "device_name", None) == "Caméra"
    assert getattr(guessed, "device_name", None) != "Caméra"


@pytest.mark.parametrize(("tag", "expected"), [("IFameCmd", True), ("IFrameCmd", True)])
def test_both_iframe_spellings_and_ptz(tag: str, expected: bool) -> None:
    body = f"""<?xml version="1.0" encoding="GB2312"?>
<Control>
<CmdType>DeviceControl</CmdType>
<SN>11</SN>
<DeviceID>34020000001320000001</DeviceID>
<PTZCmd>A50F010180000036</PTZCmd>
<{tag}>Send</{tag}>
<Info>
<ControlPriority>5</ControlPriority>
</Info>
</Control>"""
    msg = decode(body.encode())
    assert isinstance(msg, DeviceControl)
    assert msg.iframe is expected and msg.control_priority == 5
    ptz = msg.ptz()
    assert ptz is not None and ptz.kind is PtzKind.MOVE and ptz.pan == 1


def test_device_status_with_alarm_inputs() -> None:
    body = """<?xml version="1.0" encoding="GB2312"?><Response><CmdType>DeviceStatus</CmdType>
<SN>4</SN><DeviceID>34020000001110000001</DeviceID><Result>OK</Result><Online>ONLINE</Online>
<Status>OK</Status><Encode>ON</Encode><Record>OFF</Record>
<DeviceTime>2024-05-01T12:00:00</DeviceTime>
<AlarmStatus Num="2"><Item><DeviceID>34020000001340000001</DeviceID>
<DutyStatus>OFFDUTY</DutyStatus></Item><Item><DeviceID>34020000001340000002</DeviceID>
<DutyStatus>alarm</DutyStatus></Item></AlarmStatus></Response>"""
    msg = decode(body.encode())
    assert isinstance(msg, DeviceStatusResponse)
    assert msg.online is Online.ONLINE and msg.device_time == datetime(2024, 5, 1, 12)
    assert [i.duty_status for i in msg.alarm_status] == [DutyStatus.OFFDUTY, DutyStatus.ALARM]


@pytest.mark.parametrize(
    "written",
    [
        "2024-05-01T08:00:00",
        "2024-05-01 08:00:00",
        "2024-05-01T08:00:00.000",
        "2024-05-01T08:00:00+08:00",
        "2024-05-01T08:00:00Z",
    ],
)
def test_record_times_in_the_forms_devices_write(written: str) -> None:
    body = f"""<Response><CmdType>RecordInfo</CmdType><SN>5</SN>
<DeviceID>34020000001320000001</DeviceID><Name>Camera 01</Name><SumNum>1</SumNum>
<RecordList Num="1"><Item><DeviceID>34020000001320000001</DeviceID><Name>Camera 01</Name>
<StartTime>{written}</StartTime><EndTime>2024-05-01T09:00:00</EndTime><Secrecy>0</Secrecy>
<Type>time</Type><FileSize>1048576</FileSize></Item></RecordList></Response>"""
    msg = decode(body.encode())
    assert isinstance(msg, RecordInfoResponse)
    item = msg.items[0]
    assert item.start_time == datetime(2024, 5, 1, 8, 0)
    assert item.file_size == 1048576 and item.record_type == "time"


def test_catalog_notify_events_and_received_answer() -> None:
    body = """<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Catalog</CmdType><SN>88</SN>
<DeviceID>34020000002000000001</DeviceID><SumNum>2</SumNum><DeviceList Num=2>
<Item><DeviceID>34020000001320000001</DeviceID><Event>VLOST</Event></Item>
<Item><DeviceID>34020000001320000002</DeviceID><Event>DEL</Event></Item>
</DeviceList></Notify>"""
    msg = decode(body.encode("gb2312"))
    assert isinstance(msg, CatalogNotify)
    assert [i.event for i in msg.items] == [CatalogEvent.VLOST, CatalogEvent.DEL]
    answer = decode(
        b"<Response><CmdType>Catalog</CmdType><SN>88</SN>"
        b"<DeviceID>34020000001180000001</DeviceID><Result>OK</Result></Response>"
    )
    assert answer == ResultResponse(
        sn=88, device_id="34020000001180000001", cmd_type=CmdType.CATALOG, result=Result.OK
    )


def test_alarm_notify_with_info_and_event_type() -> None:
    body = """<Notify><CmdType>Alarm</CmdType><SN>1</SN><DeviceID>34020000001340000001</DeviceID>
<AlarmPriority>2</AlarmPriority><AlarmMethod>5</AlarmMethod>
<AlarmTime>2024-05-01T12:00:00</AlarmTime><AlarmDescription>越界 & 入侵</AlarmDescription>
<Info><AlarmType>6</AlarmType><AlarmTypeParam><EventType>1</EventType></AlarmTypeParam></Info>
</Notify>"""
    msg = decode(body.encode("gb2312"))
    assert isinstance(msg, AlarmNotify)
    assert (msg.alarm_priority, msg.alarm_method, msg.alarm_type, msg.event_type) == (2, 5, 6, 1)
    assert msg.alarm_description == "越界 & 入侵"


def test_media_status_end_of_file() -> None:
    body = b"<Notify><CmdType>MediaStatus</CmdType><SN>3</SN>"
    body += b"<DeviceID>34020000001320000001</DeviceID><NotifyType>121</NotifyType></Notify>"
    msg = decode(body)
    assert isinstance(msg, MediaStatusNotify) and msg.is_file_end


def test_uniview_sensor_catalog_is_kept_as_unknown() -> None:
    body = """<?xml version="1.0" encoding="UTF-8"?><Response><CmdType>SensorCatalog</CmdType>
<SN>12</SN><DeviceID>34020000001320000001</DeviceID><SumNum>1</SumNum>
<SensorList Num="1"><Item><ID>1</ID><Name>温湿度</Name></Item></SensorList></Response>"""
    msg = decode(body.encode())
    assert msg == UnknownMessage(
        root=Root.RESPONSE,
        cmd_type="SensorCatalog",
        sn=12,
        device_id="34020000001320000001",
        body={"SumNum": "1", "SensorList": {"@Num": "1", "Item": {"ID": "1", "Name": "温湿度"}}},
    )


def test_known_command_under_an_unexpected_root_is_unknown() -> None:
    msg = decode(b"<Notify><CmdType>DeviceInfo</CmdType><SN>1</SN><DeviceID>9</DeviceID></Notify>")
    assert isinstance(msg, UnknownMessage) and msg.command == "DeviceInfo"


def test_utf8_bom_and_namespaced_root() -> None:
    body = b"\xef\xbb\xbf" + (
        b'<Notify xmlns="http://www.w3.org/namespace/"><CmdType>Keepalive</CmdType><SN>1</SN>'
        b"<DeviceID>1</DeviceID><Status>OK</Status></Notify>"
    )
    assert decode(body) == Keepalive(sn=1, device_id="1", status=Result.OK)
