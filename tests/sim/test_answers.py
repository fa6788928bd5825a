"""What a simulated device answers, without any network (sans-IO)."""

from __future__ import annotations

from datetime import datetime

import pytest

from sightline.gb28181.manscdp import (
    CatalogQuery,
    CatalogResponse,
    CmdType,
    ConfigDownloadQuery,
    ConfigDownloadResponse,
    DeviceControl,
    DeviceInfoQuery,
    DeviceInfoResponse,
    DeviceStatusQuery,
    DeviceStatusResponse,
    GuardCmd,
    HomePosition,
    Keepalive,
    OnOff,
    PresetQuery,
    PresetQueryResponse,
    RecordCmd,
    RecordInfoQuery,
    RecordInfoResponse,
    Result,
    ResultResponse,
    decode,
    encode,
)
from sightline.gb28181.manscdp.schema import Edition
from sightline.gb28181.ptz import PtzCommand
from sightline.sim import DeviceGroup, SimConfig, SimDevice, SimHost
from sightline.sim.answers import catalog_pages, react

NOW = datetime(2024, 5, 1, 12, 0, 0)


def _device(channels: int = 1, **kw: object) -> SimDevice:
    config = SimConfig(
        server_host="127.0.0.1",
        server_id="34020000002000000001",
        groups=(DeviceGroup(count=1, channels=channels),),
        **kw,  # type: ignore[arg-type]
    )
    return next(iter(SimHost(config).devices.values()))


def test_catalog_of_a_20_channel_nvr_is_three_messages_with_one_sumnum() -> None:
    nvr = _device(20)
    reaction = react(nvr, CatalogQuery(sn=9, device_id=nvr.device_id), 0.0, NOW)
    pages = reaction.replies
    assert [len(p.items) for p in pages if isinstance(p, CatalogResponse)] == [8, 8, 4]
    assert {(p.sn, p.sum_num, p.device_id) for p in pages if isinstance(p, CatalogResponse)} == {
        (9, 20, nvr.device_id)
    }
    items = [i for p in pages if isinstance(p, CatalogResponse) for i in p.items]
    assert [i.device_id for i in items] == nvr.channel_ids()
    assert all(i.parent_id == nvr.device_id and i.is_online for i in items)


def test_empty_catalog_is_one_message_with_sumnum_zero() -> None:
    (only,) = catalog_pages(1, "34020000001180000001", [], 8)
    assert (only.sum_num, only.items) == (0, ())


@pytest.mark.parametrize("edition", [Edition.V2016, Edition.V2022])
def test_catalog_items_survive_gb2312_encoding_in_both_editions(edition: Edition) -> None:
    version = "2022" if edition is Edition.V2022 else "2016"
    ipc = _device(gb_version=version)
    item = ipc.catalog_item(0)
    assert (item.owner is None) == (edition is Edition.V2022)
    assert (item.grassroots_code is None) == (edition is Edition.V2016)
    page = catalog_pages(3, ipc.device_id, [item], 8)[0]
    body = encode(page, "GB2312", edition=edition)
    assert b'encoding="GB2312"' in body
    assert item.name is not None and item.name.encode("gb2312") in body
    decoded = decode(body)
    assert isinstance(decoded, CatalogResponse)
    assert decoded.items[0].name == item.name
    assert decoded.items[0].longitude == item.longitude


def test_device_info_status_record_info_and_config() -> None:
    nvr = _device(8)
    (info,) = react(nvr, DeviceInfoQuery(sn=1, device_id=nvr.device_id), 0.0, NOW).replies
    assert isinstance(info, DeviceInfoResponse)
    assert (info.channel, info.result, info.model) == (8, Result.OK, "SL-NVR-3200")
    (status,) = react(nvr, DeviceStatusQuery(sn=2, device_id=nvr.device_id), 0.0, NOW).replies
    assert isinstance(status, DeviceStatusResponse)
    assert status.device_time == NOW and status.record is OnOff.OFF
    query = RecordInfoQuery(sn=3, device_id=nvr.channel_id(2), start_time=NOW, end_time=NOW)
    (records,) = react(nvr, query, 0.0, NOW).replies
    assert isinstance(records, RecordInfoResponse)
    assert (records.sum_num, records.items, records.device_id) == (0, (), nvr.channel_id(2))
    config = ConfigDownloadQuery(sn=4, device_id=nvr.device_id, config_type="BasicParam/Nope")
    basic, nope = react(nvr, config, 0.0, NOW).replies
    assert isinstance(basic, ConfigDownloadResponse) and isinstance(nope, ConfigDownloadResponse)
    assert basic.basic_param is not None and basic.basic_param.heart_beat_interval == 60
    assert nope.result is Result.ERROR


def test_ptz_goes_to_the_addressed_channel_and_has_no_response() -> None:
    nvr = _device(4)
    move = DeviceControl.for_ptz(5, nvr.channel_id(2), PtzCommand.move(1, 0, 255))
    assert react(nvr, move, 10.0, NOW).replies == ()
    assert nvr.ptz(2, 11.0).position(11.0).pan == pytest.approx(120.0)
    assert nvr.ptz(0, 11.0).position(11.0).pan == 0.0
    # addressed to the recorder itself: no camera moves
    react(nvr, DeviceControl.for_ptz(6, nvr.device_id, PtzCommand.move(1, 0)), 11.0, NOW)
    assert nvr.extras is not None and set(nvr.extras.ptz) == {0, 2}


def test_presets_are_listed_per_channel() -> None:
    ipc = _device()
    react(ipc, DeviceControl.for_ptz(1, ipc.device_id, PtzCommand.preset("set", 7)), 0.0, NOW)
    react(ipc, DeviceControl.for_ptz(2, ipc.channel_id(0), PtzCommand.preset("set", 2)), 0.0, NOW)
    (answer,) = react(ipc, PresetQuery(sn=3, device_id=ipc.channel_id(0)), 0.0, NOW).replies
    assert isinstance(answer, PresetQueryResponse)
    assert [(p.preset_id, p.preset_name) for p in answer.items] == [
        ("2", "预置点2"),
        ("7", "预置点7"),
    ]


def test_controls_with_and_without_a_result() -> None:
    ipc = _device()
    did = ipc.device_id
    assert react(ipc, DeviceControl(sn=1, device_id=did, tele_boot=True), 0.0, NOW).reboot
    assert react(ipc, DeviceControl(sn=2, device_id=did, iframe=True), 0.0, NOW).replies == ()
    cases = [
        (DeviceControl(sn=3, device_id=did, record_cmd=RecordCmd.RECORD), Result.OK),
        (DeviceControl(sn=4, device_id=did, guard_cmd=GuardCmd.SET_GUARD), Result.OK),
        (DeviceControl(sn=5, device_id=did, alarm_reset=True), Result.OK),
        (DeviceControl(sn=6, device_id=did, home_position=HomePosition(enabled=True)), Result.OK),
        (DeviceControl(sn=7, device_id=did), Result.ERROR),
    ]
    for control, expected in cases:
        (result,) = react(ipc, control, 0.0, NOW).replies
        assert isinstance(result, ResultResponse)
        assert (result.sn, result.cmd_type, result.result) == (
            control.sn,
            CmdType.DEVICE_CONTROL,
            expected,
        )
    assert ipc.extras is not None and ipc.extras.recording and ipc.extras.guard


def test_bad_ptzcmd_is_ignored_and_keepalive_lists_offline_channels() -> None:
    nvr = _device(3)
    bad = DeviceControl(sn=1, device_id=nvr.channel_id(0), ptz_cmd="A50F0001FFFFFF00")
    assert react(nvr, bad, 0.0, NOW).replies == ()
    nvr.extra().offline.add(1)
    keepalive = nvr.keepalive(5)
    assert isinstance(keepalive, Keepalive)
    assert keepalive.fault_devices == (nvr.channel_id(1),)
    assert not nvr.catalog_item(1).is_online
