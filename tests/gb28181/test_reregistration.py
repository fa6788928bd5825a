"""Re-registration of online devices: the cheap path of a storm, with nothing lost.

A device that registers again while its binding lives is not onboarded again (no DeviceInfo,
Catalog or SUBSCRIBE); its REGISTER counts as a sign of life, requests follow it to its new
address at once, and a new Call-ID (it restarted) makes the platform subscribe again, only.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from sightline.gb28181.manscdp import (
    CatalogItem,
    CatalogQuery,
    CatalogResponse,
    DeviceInfoQuery,
    DeviceInfoResponse,
    Message,
    Result,
)
from sightline.gb28181.subscriptions import SubscriptionKind
from sightline.sip.digest import DigestClient
from sightline.sip.message import Response
from tests.gb28181.device_peer import DevicePeer, Platform, start_platform, until
from tests.gb28181.test_devices import NVR, nvr_answers, settings

FLEET = [f"340200000013200{i:05d}" for i in range(1, 41)]


async def register(device: DevicePeer, call_id: str, cseq: int) -> Response:
    """REGISTER with the digest round, keeping ``call_id`` (a refresh, RFC 3261 §10.2.4)."""
    first = await device.endpoint.request(device._register(3600, call_id, cseq), device.server, 5)
    if first.status != 401:
        return first
    request = device._register(3600, call_id, cseq + 1)
    challenge = first.headers.get("WWW-Authenticate") or ""
    auth = DigestClient(device.device_id, device.password)
    request.headers.add("Authorization", auth.authorize("REGISTER", request.uri, challenge))
    return await device.endpoint.request(request, device.server, 5)


def asked(*devices: DevicePeer) -> list[str]:
    """What the platform asked the devices: query names and SUBSCRIBE."""
    out = []
    for device in devices:
        for r in device.received:
            if r.request.method == "SUBSCRIBE":
                out.append("SUBSCRIBE")
            elif isinstance(r.message, DeviceInfoQuery | CatalogQuery):
                out.append(type(r.message).__name__)
    return out


def ipc_answers(msg: Message) -> list[Message]:
    """Any IPC: DeviceInfo and a one-channel catalog."""
    if isinstance(msg, DeviceInfoQuery):
        return [DeviceInfoResponse(sn=msg.sn, device_id=msg.device_id, result=Result.OK)]
    if isinstance(msg, CatalogQuery):
        item = CatalogItem(device_id=msg.device_id, name="cam", parental=0)
        return [CatalogResponse(sn=msg.sn, device_id=msg.device_id, sum_num=1, items=(item,))]
    return []


async def start(tmp_path: Path, **kw: float) -> Platform:
    return await start_platform(tmp_path, settings(catalog_subscribe_expires_s=3600, **kw))


async def test_a_refresh_from_a_new_port_is_followed_without_any_query(tmp_path: Path) -> None:
    platform = await start(tmp_path)
    before = platform.device(NVR, answer=nvr_answers())
    after = platform.device(NVR, answer=nvr_answers())  # the same device, a new socket
    call_id = secrets.token_hex(8)
    try:
        await before.start()
        await after.start()
        assert (await register(before, call_id, 1)).status == 200
        await until(lambda: asked(before).count("SUBSCRIBE") == 1)
        assert asked(before) == ["DeviceInfoQuery", "CatalogQuery", "SUBSCRIBE"]
        assert (await register(after, call_id, 3)).status == 200
        session = platform.manager.session(NVR)
        assert session is not None
        assert session.peer.port == after.endpoint.local_addresses["UDP"][1]
        info = await platform.manager.query_device_info(NVR)  # reaches the new socket
        assert info.manufacturer == "Hikvision"
        await asyncio.sleep(0.2)
        assert asked(after) == ["DeviceInfoQuery"]  # the one asked above, nothing else
        assert len(platform.sink.imports) == 1
        assert platform.manager.onboarding.waiting == 0
    finally:
        await before.close()
        await after.close()
        await platform.close()


async def test_a_refresh_counts_as_a_sign_of_life(tmp_path: Path) -> None:
    """No keepalive at all, REGISTERs only: online past the keepalive timeout, then not."""
    platform = await start(tmp_path, keepalive_interval_s=0.2, keepalive_timeout_count=2)
    device = platform.device(NVR, answer=nvr_answers())
    call_id = secrets.token_hex(8)
    try:
        await device.start()
        assert (await register(device, call_id, 1)).status == 200
        loop = asyncio.get_running_loop()
        end = loop.time() + 1.2  # three keepalive timeouts
        cseq = 3
        while loop.time() < end:
            await asyncio.sleep(0.1)
            assert platform.manager.is_online(NVR)
            assert (await register(device, call_id, cseq)).status == 200
            cseq += 2
        await until(lambda: not platform.manager.is_online(NVR), 2.0)  # REGISTERs stopped
    finally:
        await device.close()
        await platform.close()


async def test_a_restarted_device_is_subscribed_again_and_nothing_more(tmp_path: Path) -> None:
    platform = await start(tmp_path)
    device = platform.device(NVR, answer=nvr_answers())
    try:
        await device.start()
        assert (await register(device, "boot-1", 1)).status == 200
        await until(lambda: asked(device).count("SUBSCRIBE") == 1)
        assert (await register(device, "boot-1", 3)).status == 200  # a refresh
        await asyncio.sleep(0.2)
        assert asked(device).count("SUBSCRIBE") == 1
        assert (await register(device, "boot-2", 1)).status == 200  # it restarted
        await until(lambda: asked(device).count("SUBSCRIBE") == 2)
        await asyncio.sleep(0.2)
        assert asked(device) == ["DeviceInfoQuery", "CatalogQuery", "SUBSCRIBE", "SUBSCRIBE"]
        assert platform.manager.is_online(NVR) and len(platform.sink.imports) == 1
        table = platform.manager.subscriber.table
        assert len(table) == 1  # the old subscription was dropped, the new one kept
        sub = table.get(NVR, SubscriptionKind.CATALOG)
        assert sub is not None and sub.call_id == device.received[-1].request.call_id
    finally:
        await device.close()
        await platform.close()


async def test_a_storm_of_restarted_devices_loses_none_and_queries_none(tmp_path: Path) -> None:
    """Every device of a fleet comes back at once from a new socket with a new Call-ID."""
    platform = await start(tmp_path)
    first = [platform.device(d, answer=ipc_answers) for d in FLEET]
    second = [platform.device(d, answer=ipc_answers) for d in FLEET]
    try:
        for device in (*first, *second):
            await device.start()
        answers = await asyncio.gather(*(register(d, f"{d.device_id}-a", 1) for d in first))
        assert {a.status for a in answers} == {200}
        await until(lambda: asked(*first).count("SUBSCRIBE") == len(FLEET), 10.0)
        assert len(platform.sink.imports) == len(FLEET)
        await asyncio.gather(*(d.close() for d in first))  # power cut: no unregister
        first.clear()
        answers = await asyncio.gather(*(register(d, f"{d.device_id}-b", 1) for d in second))
        assert {a.status for a in answers} == {200}
        assert all(platform.manager.is_online(d) for d in FLEET)
        await until(lambda: asked(*second).count("SUBSCRIBE") == len(FLEET), 10.0)
        await asyncio.sleep(0.2)
        assert set(asked(*second)) == {"SUBSCRIBE"}
        assert platform.manager.online_count == len(FLEET)
        assert len(platform.sink.imports) == len(FLEET)  # no catalog asked again
        ports = {d.device_id: d.endpoint.local_addresses["UDP"][1] for d in second}
        for device_id, port in ports.items():
            session = platform.manager.session(device_id)
            assert session is not None and session.peer.port == port
    finally:
        await asyncio.gather(*(d.close() for d in (*first, *second)))
        await platform.close()
