"""A platform endpoint queries and controls simulated devices over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sightline.gb28181.manscdp import (
    AlarmNotify,
    AlarmQuery,
    CatalogEvent,
    CatalogNotify,
    CatalogQuery,
    CatalogResponse,
    DeviceControl,
    DeviceInfoQuery,
    DeviceInfoResponse,
    PresetQuery,
    PresetQueryResponse,
    RecordCmd,
    Result,
    ResultResponse,
)
from sightline.gb28181.manscdp.schema import Edition
from sightline.gb28181.ptz import PtzCommand
from sightline.sim import DeviceGroup, SimHost, Transport
from sightline.sim.identity import channel_name
from tests.sim.conftest import ConfigFactory
from tests.sim.platform import LoopbackPlatform, platform_request


@pytest.fixture(params=[Transport.UDP, Transport.TCP])
async def fleet(
    request: pytest.FixtureRequest, platform: LoopbackPlatform, sim_config: ConfigFactory
) -> AsyncIterator[SimHost]:
    """Two IPCs and one 20-channel NVR, registered."""
    groups = (DeviceGroup(count=2), DeviceGroup(count=1, channels=20))
    host = SimHost(sim_config(groups=groups, transport=request.param, keepalive_s=30.0))
    await host.start()
    assert await host.wait_registered(3, timeout_s=5)
    yield host
    await host.stop()


def _nvr(host: SimHost) -> str:
    return next(d.device_id for d in host.devices.values() if d.channel_count == 20)


def _ipc(host: SimHost) -> str:
    return next(d.device_id for d in host.devices.values() if d.channel_count == 1)


async def test_device_info_is_answered_200_then_a_response_message(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    nvr = _nvr(fleet)
    answer = await platform.send(nvr, DeviceInfoQuery(sn=41, device_id=nvr))
    assert answer.status == 200 and answer.body == b""
    (info,) = await platform.wait_for(DeviceInfoResponse)
    assert (info.sn, info.device_id, info.channel, info.manufacturer) == (41, nvr, 20, "Sightline")
    message = next(r for r in platform.received if r.body is info)
    assert message.request.from_.uri.startswith(f"sip:{nvr}@")
    assert message.peer == platform.registrar.bindings[nvr].peer  # same socket/connection


async def test_multi_part_catalog_in_gb2312(platform: LoopbackPlatform, fleet: SimHost) -> None:
    nvr = _nvr(fleet)
    assert (await platform.send(nvr, CatalogQuery(sn=77, device_id=nvr))).status == 200
    pages = await platform.wait_for(CatalogResponse, 3)
    assert [len(p.items) for p in pages] == [8, 8, 4]
    assert {(p.sn, p.sum_num) for p in pages} == {(77, 20)}
    raw = [r.request.body for r in platform.received if isinstance(r.body, CatalogResponse)]
    assert all(b'encoding="GB2312"' in body for body in raw)
    first = pages[0].items[0]
    assert first.name == channel_name(fleet.devices[nvr].channel_base)
    assert first.name is not None and first.name.encode("gb2312") in raw[0]
    ids = [item.device_id for page in pages for item in page.items]
    assert ids == fleet.devices[nvr].channel_ids()


async def test_ptz_moves_the_channel_head_then_stops(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    nvr = _nvr(fleet)
    channel = fleet.devices[nvr].channel_id(3)
    move = DeviceControl.for_ptz(5, channel, PtzCommand.move(pan=1, tilt=0, speed=0x40))
    assert (await platform.send(nvr, move)).status == 200
    start = fleet.ptz_position(channel)
    assert start.moving
    await asyncio.sleep(0.3)
    later = fleet.ptz_position(channel)
    assert later.pan > start.pan + 2.0  # about 30 degrees/s at speed 0x40
    stop = DeviceControl.for_ptz(6, channel, PtzCommand.stop())
    assert (await platform.send(nvr, stop)).status == 200
    stopped = fleet.ptz_position(channel)
    await asyncio.sleep(0.1)
    assert not stopped.moving
    assert fleet.ptz_position(channel).pan == stopped.pan
    # no Response MESSAGE for PTZ
    assert not platform.bodies(ResultResponse)


async def test_preset_set_call_and_query(platform: LoopbackPlatform, fleet: SimHost) -> None:
    ipc = _ipc(fleet)
    channel = fleet.devices[ipc].channel_id(0)
    await platform.send(ipc, DeviceControl.for_ptz(1, ipc, PtzCommand.move(1, 1, 255)))
    await asyncio.sleep(0.1)
    await platform.send(ipc, DeviceControl.for_ptz(2, ipc, PtzCommand.stop()))
    saved = fleet.ptz_position(channel)
    await platform.send(ipc, DeviceControl.for_ptz(3, ipc, PtzCommand.preset("set", 9)))
    await platform.send(ipc, DeviceControl.for_ptz(4, ipc, PtzCommand.move(-1, -1, 255)))
    await asyncio.sleep(0.1)
    assert fleet.ptz_position(channel).pan != saved.pan
    await platform.send(ipc, DeviceControl.for_ptz(5, ipc, PtzCommand.preset("call", 9)))
    back = fleet.ptz_position(channel)
    assert (back.pan, back.tilt, back.moving) == (saved.pan, saved.tilt, False)
    # the query addressed to the channel ID in the Request-URI, as some platforms do
    await platform.send(ipc, PresetQuery(sn=6, device_id=channel), uri_user=channel)
    (presets,) = await platform.wait_for(PresetQueryResponse)
    assert [p.preset_id for p in presets.items] == ["9"]


async def test_controls_with_a_result_and_iframe_without(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    ipc = _ipc(fleet)
    iframe = DeviceControl(sn=1, device_id=ipc, iframe=True)
    assert (await platform.send(ipc, iframe, edition=Edition.V2022)).status == 200
    record = DeviceControl(sn=2, device_id=ipc, record_cmd=RecordCmd.RECORD)
    assert (await platform.send(ipc, record)).status == 200
    (result,) = await platform.wait_for(ResultResponse)
    assert (result.sn, result.result) == (2, Result.OK)


async def test_catalog_subscription_gets_200_and_notifies(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    nvr = _nvr(fleet)
    response = await platform.send(
        nvr,
        CatalogQuery(sn=3, device_id=nvr),
        method="SUBSCRIBE",
        extra=[("Event", "Catalog;id=1"), ("Expires", "600"), ("Contact", "<sip:x@127.0.0.1>")],
    )
    assert response.status == 200 and response.headers.get("Expires") == "600"
    notifies = await platform.wait_for(CatalogNotify, 3)
    assert {n.sum_num for n in notifies} == {20}
    assert all(i.event is CatalogEvent.ADD for n in notifies for i in n.items)
    notify = next(r.request for r in platform.received if isinstance(r.body, CatalogNotify))
    assert notify.call_id == response.call_id
    assert notify.from_.tag == response.to.tag
    assert (notify.headers.get("Subscription-State") or "").startswith("active;expires=")
    # a channel going offline is notified in the same dialog
    channel = fleet.devices[nvr].channel_id(4)
    fleet.set_channel_online(channel, False)
    found = await platform.wait_for(CatalogNotify, 4)
    assert [(i.device_id, i.event) for i in found[-1].items] == [(channel, CatalogEvent.OFF)]


async def test_alarm_subscription_and_alarm_message(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    ipc = _ipc(fleet)
    query = AlarmQuery(sn=8, device_id=ipc, start_alarm_priority=1, end_alarm_priority=4)
    response = await platform.send(
        ipc, query, method="SUBSCRIBE", extra=[("Event", "presence"), ("Expires", "90")]
    )
    assert response.status == 200
    channel = fleet.devices[ipc].channel_id(0)
    status = await fleet.raise_alarm(channel, priority=2, method=5, description="区域入侵")
    assert status == 200
    (alarm,) = await platform.wait_for(AlarmNotify)
    assert (alarm.device_id, alarm.alarm_priority, alarm.alarm_method) == (channel, 2, 5)
    assert alarm.alarm_description == "区域入侵"
    assert fleet.stats.alarms_sent == 1


async def test_unknown_targets_and_bad_bodies(platform: LoopbackPlatform, fleet: SimHost) -> None:
    ipc = _ipc(fleet)
    peer = platform.registrar.bindings[ipc].peer
    stranger = platform_request("MESSAGE", "34020000001329999999", b"<Query/>")
    assert (await platform.endpoint.request(stranger, peer, timeout_s=5)).status == 404
    garbage = platform_request("MESSAGE", ipc, b"<Query><CmdType>Catalog")
    assert (await platform.endpoint.request(garbage, peer, timeout_s=5)).status == 400
