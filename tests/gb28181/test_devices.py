"""DeviceManager against test devices on real loopback sockets, with SQLite in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from sightline.config import Gb28181Settings
from sightline.events import AlarmReceived, CatalogUpdated, DeviceOffline, DeviceOnline
from sightline.gb28181.errors import (
    DeviceOfflineError,
    DeviceRejectedError,
    DeviceTimeoutError,
    UnknownDeviceError,
)
from sightline.gb28181.manscdp import (
    AlarmNotify,
    CatalogEvent,
    CatalogItem,
    CatalogNotify,
    CatalogQuery,
    CatalogResponse,
    CmdType,
    DeviceControl,
    DeviceInfoQuery,
    DeviceInfoResponse,
    Keepalive,
    MediaStatusNotify,
    Message,
    PresetItem,
    PresetQuery,
    PresetQueryResponse,
    RecordCmd,
    RecordInfoQuery,
    RecordInfoResponse,
    RecordItem,
    Result,
    ResultResponse,
)
from sightline.gb28181.ptz import PtzCommand
from sightline.sip.digest import ha1
from sightline.store import DeviceRepository, EventRepository
from sightline.store.records import Device
from tests.gb28181.device_peer import REALM, Platform, start_platform, until

NVR = "34020000001180000001"
IPC = "34020000001320000009"
CHANNELS = [f"3402000000131000000{i}" for i in range(1, 8)]
NAMES = ["东门", "西门", "南门", "北门", "大厅", "车库入口", "仓库"]


def settings(**kw: float) -> Gb28181Settings:
    base: dict[str, float] = {
        "keepalive_interval_s": 60.0,
        "query_timeout_s": 2.0,
        "catalog_timeout_s": 2.0,
        "catalog_subscribe_expires_s": 0,
        "alarm_subscribe_expires_s": 0,
        "store_flush_interval_s": 0.05,
    }
    base.update(kw)
    return Gb28181Settings.model_validate(base)


def item(index: int) -> CatalogItem:
    return CatalogItem(
        device_id=CHANNELS[index], name=NAMES[index], parent_id=NVR, status="ON", parental=0
    )


def catalog_parts(sn: int, sizes: Sequence[int], total: int = 7) -> list[CatalogResponse]:
    parts: list[CatalogResponse] = []
    start = 0
    for size in sizes:
        chunk = tuple(item(i) for i in range(start, start + size))
        parts.append(CatalogResponse(sn=sn, device_id=NVR, sum_num=total, items=chunk))
        start += size
    return parts


def nvr_answers(catalog: Sequence[int] = (3, 3, 1), drop: int | None = None):  # type: ignore[no-untyped-def]
    """An NVR that answers DeviceInfo and a 7-channel catalog in parts of ``catalog``."""

    def answer(msg: Message) -> list[Message]:
        if isinstance(msg, DeviceInfoQuery):
            return [
                DeviceInfoResponse(
                    sn=msg.sn,
                    device_id=NVR,
                    device_name="仓库录像机",
                    result=Result.OK,
                    manufacturer="Hikvision",
                    model="DS-7608",
                    firmware="V4.1",
                    channel=7,
                )
            ]
        if isinstance(msg, CatalogQuery):
            parts: list[Message] = list(catalog_parts(msg.sn, catalog))
            if drop is not None:
                del parts[drop]
            return parts
        return []

    return answer


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    p = await start_platform(tmp_path, settings())
    yield p
    await p.close()


async def online_nvr(platform: Platform, **kw: object):  # type: ignore[no-untyped-def]
    device = platform.device(NVR, answer=kw.pop("answer", nvr_answers()), **kw)  # type: ignore[arg-type]
    await device.start()
    assert (await device.register()).status == 200
    return device


async def test_registration_onboards_device_info_and_gb2312_catalog(platform: Platform) -> None:
    device = await online_nvr(platform)
    try:
        assert platform.manager.is_online(NVR)
        await platform.sink.wait(lambda: bool(platform.sink.imports))
        device_id, items, complete = platform.sink.imports[0]
        assert (device_id, complete) == (NVR, True)
        assert [i.device_id for i in items] == CHANNELS
        assert [i.name for i in items] == NAMES  # GB2312 bodies decoded
        catalog_bodies = [r for r in device.received if isinstance(r.message, CatalogQuery)]
        assert b'encoding="GB2312"' in catalog_bodies[0].request.body
        online = platform.seen(DeviceOnline)
        assert [e.device_id for e in online] == [NVR]
        await until(lambda: bool(platform.seen(CatalogUpdated)))
        await platform.manager.flush()
        async with platform.database.session() as session:
            stored = await DeviceRepository(session).get(NVR)
        assert stored is not None and stored.online
        assert (stored.name, stored.manufacturer, stored.model, stored.firmware) == (
            "仓库录像机",
            "Hikvision",
            "DS-7608",
            "V4.1",
        )
        assert stored.channel_count == 7
        assert stored.remote_port == device.endpoint.local_addresses["UDP"][1]
    finally:
        await device.close()


async def test_request_uri_from_and_content_type_of_queries(platform: Platform) -> None:
    device = await online_nvr(platform)
    try:
        got = await device.wait_for(lambda r: isinstance(r.message, DeviceInfoQuery))
        request = got.request
        assert request.uri == f"sip:{NVR}@{REALM}"
        assert request.from_.uri == f"sip:34020000002000000001@{REALM}"
        assert request.from_.tag
        assert request.to.uri == f"sip:{NVR}@{REALM}"
        assert request.headers.get("Content-Type") == "Application/MANSCDP+xml"
    finally:
        await device.close()


async def test_keepalive_is_answered_and_last_seen_stored(tmp_path: Path) -> None:
    platform = await start_platform(tmp_path, settings(last_seen_store_s=0))
    device = await online_nvr(platform)
    try:
        await platform.manager.flush()
        async with platform.database.session() as session:
            before = await DeviceRepository(session).get(NVR)
        assert before is not None and before.last_seen is not None
        response = await device.keepalive()
        assert response.status == 200 and response.to.tag and not response.body
        await platform.manager.flush()
        async with platform.database.session() as session:
            after = await DeviceRepository(session).get(NVR)
        assert after is not None and after.last_seen is not None
        assert after.last_seen > before.last_seen
    finally:
        await device.close()
        await platform.close()


async def test_stored_last_seen_lags_by_last_seen_store_s_and_the_live_one_does_not(
    tmp_path: Path,
) -> None:
    platform = await start_platform(tmp_path, settings(keepalive_interval_s=0.4))
    device = await online_nvr(platform)

    async def stored() -> datetime:
        await platform.manager.flush()
        async with platform.database.session() as session:
            row = await DeviceRepository(session).get(NVR)
        assert row is not None and row.last_seen is not None
        return row.last_seen

    try:
        registered = await stored()
        for _ in range(3):
            assert (await device.keepalive()).status == 200
        live = platform.manager.last_seen(NVR)
        assert live is not None and live > registered
        assert await stored() == registered  # within last_seen_store_s (300 s): not written
        await until(lambda: not platform.manager.is_online(NVR), timeout_s=5.0)
        assert platform.manager.last_seen(NVR) is None
        gone = await stored()  # offline after missed keepalives: the exact last time
        assert abs((gone - live).total_seconds()) < 0.05
    finally:
        await device.close()
        await platform.close()


async def test_plain_keepalives_skip_the_full_path_unless_something_changed(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    full: list[str] = []
    handle = platform.manager.handle_message

    def counted(incoming):  # type: ignore[no-untyped-def]
        full.append(incoming.request.method)
        return handle(incoming)

    monkeypatch.setattr(platform.manager, "handle_message", counted)
    platform.endpoint.on("MESSAGE", counted)
    device = await online_nvr(platform)
    moved = platform.device(NVR, answer=nvr_answers())
    await moved.start()
    try:
        await platform.sink.wait(lambda: bool(platform.sink.imports))
        session = platform.manager.session(NVR)
        assert session is not None
        seen = session.last_seen
        full.clear()
        response = await device.keepalive()
        assert response.status == 200 and response.to.tag and not response.body
        assert full == [] and session.last_seen > seen  # the lite scan answered it
        assert (await moved.keepalive()).status == 200
        assert full == ["MESSAGE"]  # a new address: the full path records the move
        assert session.peer.port == moved.endpoint.local_addresses["UDP"][1]
        assert (await moved.keepalive()).status == 200
        assert full == ["MESSAGE"]  # and the lite scan answers there from then on
        faults = Keepalive(
            sn=moved.next_sn(), device_id=NVR, status=Result.ERROR, fault_devices=(CHANNELS[0],)
        )
        assert (await moved.send(faults)).status == 200
        assert full == ["MESSAGE", "MESSAGE"]  # a fault list is decoded in full
    finally:
        await moved.close()
        await device.close()


async def test_catalog_notify_in_a_message_and_media_status(platform: Platform) -> None:
    seen: list[tuple[str, str]] = []
    platform.manager.on_media_status = lambda dev, msg, _inc: seen.append((dev, msg.notify_type))
    device = await online_nvr(platform)
    try:
        change = (CatalogItem(device_id=CHANNELS[3], event=CatalogEvent.OFF),)
        pushed = CatalogNotify(sn=device.next_sn(), device_id=NVR, sum_num=1, items=change)
        assert (await device.send(pushed)).status == 200
        await platform.sink.wait(lambda: bool(platform.sink.events))
        assert platform.sink.events == [(NVR, list(change))]
        ended = MediaStatusNotify(sn=device.next_sn(), device_id=CHANNELS[0], notify_type="121")
        assert (await device.send(ended)).status == 200
        assert seen == [(NVR, "121")]
    finally:
        await device.close()


async def test_message_from_unregistered_device_gets_404(platform: Platform) -> None:
    device = platform.device(IPC)
    await device.start()
    try:
        assert (await device.keepalive()).status == 404
    finally:
        await device.close()


async def test_broken_xml_gets_400_with_a_reason(platform: Platform) -> None:
    device = await online_nvr(platform)
    try:
        response = await device.send(b"<?xml version='1.0'?><Notify><CmdType>Keepalive")
        assert response.status == 400
        assert response.reason.startswith("Bad Request (")
        unknown = b"<Notify><CmdType>SensorCatalog</CmdType><SN>1</SN></Notify>"
        assert (await device.send(unknown)).status == 200
    finally:
        await device.close()


async def test_partial_catalog_is_kept_when_a_part_never_arrives(tmp_path: Path) -> None:
    platform = await start_platform(tmp_path, settings(catalog_timeout_s=0.4))
    device = await online_nvr(platform, answer=nvr_answers(drop=1))
    try:
        await platform.sink.wait(lambda: bool(platform.sink.imports))
        _, items, complete = platform.sink.imports[0]
        assert complete is False
        assert [i.device_id for i in items] == CHANNELS[:3] + CHANNELS[6:]
    finally:
        await device.close()
        await platform.close()


async def test_catalog_with_nothing_answered_times_out(tmp_path: Path) -> None:
    platform = await start_platform(tmp_path, settings(catalog_timeout_s=0.3))
    device = await online_nvr(platform, answer=lambda m: [])
    try:
        with pytest.raises(DeviceTimeoutError):
            await platform.manager.query_catalog(NVR)
    finally:
        await device.close()
        await platform.close()


async def test_ptz_reaches_the_device_with_the_exact_ptzcmd(platform: Platform) -> None:
    device = await online_nvr(platform)
    try:
        channel = CHANNELS[0]
        cases = [
            (PtzCommand.move(1, 0, 0x80), "A50F010180000036"),
            (PtzCommand.move(0, 1, 0x80), "A50F01080080003D"),
            (PtzCommand.preset("call", 1), "A50F018200010038"),
            (PtzCommand.stop(), "A50F0100000000B5"),
        ]
        for command, expected in cases:
            await platform.manager.ptz(NVR, channel, command)
            got = await device.wait_for(
                lambda r, e=expected: (
                    isinstance(r.message, DeviceControl) and r.message.ptz_cmd == e
                )
            )
            assert got.request.uri == f"sip:{channel}@{REALM}"
            assert isinstance(got.message, DeviceControl)
            assert got.message.device_id == channel
    finally:
        await device.close()


def record(channel: str, hour: int) -> RecordItem:
    return RecordItem(
        device_id=channel,
        name="rec",
        start_time=datetime(2024, 5, 1, hour, 0, 0),
        end_time=datetime(2024, 5, 1, hour, 59, 59),
        record_type="time",
    )


async def test_record_info_multi_part_out_of_order_with_duplicates(platform: Platform) -> None:
    channel = CHANNELS[2]
    base = nvr_answers()

    def answer(msg: Message) -> list[Message]:
        if isinstance(msg, RecordInfoQuery):
            recs = [record(channel, h) for h in range(5)]
            sn = msg.sn
            return [
                RecordInfoResponse(sn=sn, device_id=channel, sum_num=5, items=tuple(recs[3:])),
                RecordInfoResponse(sn=sn, device_id=channel, sum_num=5, items=tuple(recs[:2])),
                RecordInfoResponse(sn=sn, device_id=channel, sum_num=5, items=tuple(recs[1:3])),
            ]
        return base(msg)  # type: ignore[no-any-return]

    device = await online_nvr(platform, answer=answer)
    try:
        found = await platform.manager.query_record_info(
            NVR, channel, datetime(2024, 5, 1), datetime(2024, 5, 2)
        )
        assert sorted(r.start_time for r in found if r.start_time) == [
            datetime(2024, 5, 1, h) for h in range(5)
        ]
        query = await device.wait_for(lambda r: isinstance(r.message, RecordInfoQuery))
        assert isinstance(query.message, RecordInfoQuery)
        assert query.message.device_id == channel
        assert query.message.start_time == datetime(2024, 5, 1)
    finally:
        await device.close()


async def test_presets_and_result_controls(platform: Platform) -> None:
    base = nvr_answers()

    def answer(msg: Message) -> list[Message]:
        if isinstance(msg, PresetQuery):
            items = (PresetItem(preset_id="1", preset_name="门口"), PresetItem(preset_id="2"))
            return [PresetQueryResponse(sn=msg.sn, device_id=msg.device_id, items=items)]
        if isinstance(msg, DeviceControl) and msg.record_cmd is not None:
            result = Result.OK if msg.record_cmd is RecordCmd.RECORD else Result.ERROR
            cmd = CmdType.DEVICE_CONTROL
            return [ResultResponse(sn=msg.sn, device_id=msg.device_id, cmd_type=cmd, result=result)]
        return base(msg)  # type: ignore[no-any-return]

    device = await online_nvr(platform, answer=answer)
    try:
        presets = await platform.manager.query_presets(NVR, CHANNELS[0])
        assert [(p.preset_id, p.preset_name) for p in presets] == [("1", "门口"), ("2", None)]
        start = DeviceControl(sn=1, device_id=CHANNELS[0], record_cmd=RecordCmd.RECORD)
        result = await platform.manager.control(NVR, start)
        assert result is not None and result.result is Result.OK
        stop = DeviceControl(sn=1, device_id=CHANNELS[0], record_cmd=RecordCmd.STOP_RECORD)
        with pytest.raises(DeviceRejectedError):
            await platform.manager.control(NVR, stop)
        boot = DeviceControl(sn=1, device_id=NVR, tele_boot=True)
        assert await platform.manager.control(NVR, boot) is None
        await device.wait_for(
            lambda r: isinstance(r.message, DeviceControl) and r.message.tele_boot
        )
    finally:
        await device.close()


async def test_queries_to_offline_and_unknown_devices(platform: Platform) -> None:
    device = await online_nvr(platform)
    assert (await device.register(expires=0)).status == 200
    await device.close()
    with pytest.raises(DeviceOfflineError):
        await platform.manager.query_device_info(NVR)
    with pytest.raises(UnknownDeviceError):
        await platform.manager.query_device_info(IPC)
    offline = platform.seen(DeviceOffline)
    assert [(e.device_id, e.reason) for e in offline] == [(NVR, "unregister")]  # type: ignore[union-attr]


async def test_alarm_message_is_stored_published_and_answered(platform: Platform) -> None:
    device = await online_nvr(platform)
    try:
        alarm = AlarmNotify(
            sn=device.next_sn(),
            device_id=CHANNELS[1],
            alarm_priority=1,
            alarm_method=5,
            alarm_time=datetime(2024, 5, 1, 20, 0, 0),
            alarm_description="越界",
            alarm_type=2,
        )
        assert (await device.send(alarm)).status == 200
        receipt = await device.wait_for(lambda r: isinstance(r.message, ResultResponse))
        assert isinstance(receipt.message, ResultResponse)
        assert (receipt.message.cmd_type, receipt.message.sn) == (CmdType.ALARM, alarm.sn)
        published = platform.seen(AlarmReceived)
        assert [(e.device_id, e.channel_id, e.description) for e in published] == [  # type: ignore[union-attr]
            (NVR, CHANNELS[1], "越界")
        ]
        await platform.manager.flush()
        async with platform.database.session() as session:
            stored = await EventRepository(session).list_alarms(NVR)
        assert len(stored) == 1
        assert (stored[0].priority, stored[0].method, stored[0].alarm_type) == (1, 5, 2)
        assert stored[0].alarm_time == datetime.fromisoformat("2024-05-01T12:00:00+00:00")
    finally:
        await device.close()


async def test_unsolicited_catalog_push_is_merged_not_replacing(platform: Platform) -> None:
    device = await online_nvr(platform)
    try:
        await platform.sink.wait(lambda: len(platform.sink.imports) == 1)
        push = CatalogResponse(sn=device.next_sn(), device_id=NVR, sum_num=1, items=(item(0),))
        assert (await device.send(push)).status == 200
        await platform.sink.wait(lambda: len(platform.sink.imports) == 2)
        assert platform.sink.imports[1] == (NVR, [item(0)], False)
    finally:
        await device.close()


async def test_offline_after_missed_keepalives_then_404_then_back(tmp_path: Path) -> None:
    platform = await start_platform(
        tmp_path, settings(keepalive_interval_s=0.2, keepalive_timeout_count=2)
    )
    device = await online_nvr(platform)
    try:
        for _ in range(3):  # keepalives in time keep it online
            await device.keepalive()
            await until(lambda: True)
        assert platform.manager.is_online(NVR)
        await until(lambda: not platform.manager.is_online(NVR), 3.0)
        offline = platform.seen(DeviceOffline)
        assert [(e.device_id, e.reason) for e in offline] == [(NVR, "keepalive-timeout")]  # type: ignore[union-attr]
        assert (await device.keepalive()).status == 404
        assert (await device.register()).status == 200  # a new registration, not a refresh
        assert platform.manager.is_online(NVR)
        await platform.manager.flush()
        async with platform.database.session() as session:
            history = await EventRepository(session).status_events(NVR)
        assert [(e.online, e.reason) for e in history] == [
            (True, "register"),
            (False, "keepalive-timeout"),
            (True, "register"),
        ]
    finally:
        await device.close()
        await platform.close()


async def test_registration_expiry_takes_the_device_offline(tmp_path: Path) -> None:
    platform = await start_platform(tmp_path, settings(), expires_min_s=1)
    device = await online_nvr(platform)
    try:
        assert (await device.register(expires=1)).status == 200
        await until(lambda: bool(platform.registrar.expire()), 3.0)
        assert not platform.manager.is_online(NVR)
        assert [e.reason for e in platform.seen(DeviceOffline)] == ["expired"]  # type: ignore[union-attr]
    finally:
        await device.close()
        await platform.close()


async def test_nat_rebinding_moves_requests_to_the_new_address(platform: Platform) -> None:
    device = await online_nvr(platform)
    moved = platform.device(NVR, answer=nvr_answers())
    await moved.start()
    try:
        await platform.sink.wait(lambda: bool(platform.sink.imports))
        assert (await moved.keepalive()).status == 200
        session = platform.manager.session(NVR)
        assert session is not None
        assert session.peer.port == moved.endpoint.local_addresses["UDP"][1]
        await platform.manager.query_device_info(NVR)
        assert [r for r in moved.received if isinstance(r.message, DeviceInfoQuery)]
    finally:
        await moved.close()
        await device.close()


async def test_per_device_password_from_the_store(tmp_path: Path) -> None:
    from datetime import UTC

    platform = await start_platform(tmp_path, settings())
    now = datetime.now(UTC)
    async with platform.database.session() as session:
        await DeviceRepository(session).save(
            Device(
                id=IPC,
                created_at=now,
                updated_at=now,
                realm=REALM,
                password_ha1=ha1(IPC, REALM, "own-secret"),
            )
        )
    await platform.close()
    platform = await start_platform(tmp_path, settings())
    default = platform.device(IPC)
    own = platform.device(IPC, password="own-secret")
    await default.start()
    await own.start()
    try:
        assert (await default.register()).status == 403
        assert (await own.register()).status == 200
        assert platform.manager.is_online(IPC)
    finally:
        await default.close()
        await own.close()
        await platform.close()


async def test_stop_flushes_queued_state(tmp_path: Path) -> None:
    platform = await start_platform(tmp_path, settings(store_flush_interval_s=60.0))
    device = await online_nvr(platform, answer=lambda m: [])
    try:
        await device.wait_for(lambda r: isinstance(r.message, DeviceInfoQuery))
        await platform.manager.flush()  # the registration (onboarding no longer forces it)
        async with platform.database.session() as session:
            before = await DeviceRepository(session).get(NVR)
        assert before is not None and before.last_seen is not None
        assert (await device.keepalive()).status == 200
        await platform.manager.stop()
        async with platform.database.session() as session:
            after = await DeviceRepository(session).get(NVR)
        assert after is not None and after.last_seen is not None
        assert after.last_seen > before.last_seen
    finally:
        await device.close()
        await platform.close()


async def test_onboarding_is_retried_when_the_device_did_not_answer(platform: Platform) -> None:
    platform.manager.onboarding.retry_s = 0.1
    normal = nvr_answers()
    ignored: list[int] = []

    def busy_first(msg: Message) -> list[Message]:
        if isinstance(msg, DeviceInfoQuery) and not ignored:
            ignored.append(msg.sn)  # the first query is lost: onboarding times out
            return []
        return normal(msg)  # type: ignore[no-any-return]

    device = await online_nvr(platform, answer=busy_first)
    try:
        await platform.sink.wait(lambda: bool(platform.sink.imports), timeout_s=15)
        device_id, items, complete = platform.sink.imports[0]
        assert (device_id, complete) == (NVR, True)
        assert [i.device_id for i in items] == CHANNELS
        infos = [r for r in device.received if isinstance(r.message, DeviceInfoQuery)]
        assert len(infos) == 2 and infos[0].message.sn == ignored[0]
    finally:
        await device.close()


async def test_a_device_back_soon_is_only_subscribed_again(tmp_path: Path) -> None:
    platform = await start_platform(
        tmp_path,
        settings(
            keepalive_interval_s=0.2, keepalive_timeout_count=2, catalog_subscribe_expires_s=3600
        ),
    )
    device = await online_nvr(platform)

    def asked() -> list[str]:
        kinds = (DeviceInfoQuery, CatalogQuery)
        return [
            r.request.method if r.request.method == "SUBSCRIBE" else type(r.message).__name__
            for r in device.received
            if isinstance(r.message, kinds)
        ]

    def subscribed(times: int) -> Callable[[], bool]:
        return lambda: asked().count("SUBSCRIBE") == times

    try:
        await until(subscribed(1))
        assert asked() == ["DeviceInfoQuery", "CatalogQuery", "SUBSCRIBE"]
        await until(lambda: not platform.manager.is_online(NVR), 3.0)  # missed keepalives
        assert (await device.register()).status == 200  # back within onboarding.fresh_s
        await until(subscribed(2))
        assert asked()[3:] == ["SUBSCRIBE"]  # DeviceInfo and Catalog not asked again
        assert len(platform.sink.imports) == 1
        platform.manager.onboarding.fresh_s = 0.0  # a stale onboarding is done in full
        await until(lambda: not platform.manager.is_online(NVR), 3.0)
        assert (await device.register()).status == 200
        await until(subscribed(3))
        assert asked()[4:] == ["DeviceInfoQuery", "CatalogQuery", "SUBSCRIBE"]
        assert len(platform.sink.imports) == 2
    finally:
        await device.close()
        await platform.close()
