"""ChannelRepository on both backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sightline.store import Channel, ChannelRepository, ChannelStatus, Database
from tests.store.conftest import T0, add_devices, make_device

NVR = "34020000001180000001"
IPC = "34020000001320000001"


def make_channel(n: int, device_id: str = NVR, **changes: Any) -> Channel:
    """Channel number ``n`` of ``device_id``; ``changes`` override fields."""
    channel = Channel(
        id=f"3402000000131{n:07d}", device_id=device_id, name=f"通道{n}", updated_at=T0
    )
    return replace(channel, **changes)


@pytest.fixture
async def devices(db: Database) -> Database:
    """``db`` with an NVR and an IPC stored."""
    await add_devices(db, make_device(NVR), make_device(IPC))
    return db


async def _ids(db: Database, **filters: Any) -> list[str]:
    async with db.session() as session:
        return [c.id for c in await ChannelRepository(session).list(**filters)]


async def test_upsert_and_get_round_trip_every_field(devices: Database) -> None:
    channel = make_channel(
        1,
        manufacturer="Dahua",
        model="IPC-HFW",
        owner="城关派出所",
        civil_code="34020001",
        block="A",
        address="人民路 1 号",
        parental=0,
        parent_id="34020000002150000001/34020000002160000001",
        business_group_id="34020000002150000001",
        register_way=1,
        secrecy=0,
        ip_address="192.0.2.10",
        port=5060,
        status=ChannelStatus.OFF,
        longitude=117.2272,
        latitude=31.8206,
        ptz_type=1,
        extra={"GrassrootsCode": "000000", "Resolution": "6/4/2"},
    )
    async with devices.session() as session:
        await ChannelRepository(session).upsert_many([channel])
    async with devices.session() as session:
        loaded = await ChannelRepository(session).get(channel.id)
        missing = await ChannelRepository(session).get("34020000001319999999")
    assert loaded == channel
    assert missing is None


async def test_upsert_updates_existing_channels(devices: Database) -> None:
    async with devices.session() as session:
        await ChannelRepository(session).upsert_many([make_channel(1), make_channel(2)])
    later = T0 + timedelta(hours=1)
    async with devices.session() as session:
        await ChannelRepository(session).upsert_many(
            [make_channel(2, name="new", updated_at=later)]
        )
    async with devices.session() as session:
        repo = ChannelRepository(session)
        assert await repo.get(make_channel(2).id) == make_channel(2, name="new", updated_at=later)
        assert await repo.get(make_channel(1).id) == make_channel(1)


async def test_replace_for_device_drops_unlisted_channels_only(devices: Database) -> None:
    async with devices.session() as session:
        repo = ChannelRepository(session)
        await repo.replace_for_device(NVR, [make_channel(n) for n in range(1, 5)])
        await repo.replace_for_device(IPC, [make_channel(9, IPC)])
    async with devices.session() as session:
        await ChannelRepository(session).replace_for_device(
            NVR, [make_channel(2, name="kept"), make_channel(5)]
        )
    assert await _ids(devices, device_id=NVR) == [make_channel(n).id for n in (2, 5)]
    assert await _ids(devices, device_id=IPC) == [make_channel(9).id]
    async with devices.session() as session:
        repo = ChannelRepository(session)
        kept = await repo.get(make_channel(2).id)
        assert kept is not None and kept.name == "kept"
        await repo.replace_for_device(NVR, [])
        assert await repo.count_for_device(NVR) == 0


async def test_replace_for_device_handles_a_large_catalog(devices: Database) -> None:
    # More than two delete chunks, and far more rows than one statement could bind.
    async with devices.session() as session:
        await ChannelRepository(session).replace_for_device(
            NVR, [make_channel(n) for n in range(3000)]
        )
    async with devices.session() as session:
        repo = ChannelRepository(session)
        assert await repo.count_for_device(NVR) == 3000
        await repo.replace_for_device(NVR, [make_channel(n) for n in range(0, 3000, 7)])
        assert await repo.count_for_device(NVR) == len(range(0, 3000, 7))


async def test_replace_for_device_refuses_channels_of_another_device(devices: Database) -> None:
    with pytest.raises(ValueError, match="do not belong"):
        async with devices.session() as session:
            await ChannelRepository(session).replace_for_device(NVR, [make_channel(1, IPC)])


async def test_list_filters(devices: Database) -> None:
    group, vo = "34020000002150000001", "34020000002160000001"
    channels = [
        make_channel(1, civil_code="340200", status=ChannelStatus.ON, business_group_id=group),
        make_channel(2, civil_code="34020001", status=ChannelStatus.OFF, parent_id=vo),
        make_channel(3, civil_code="340300", parent_id=f"{NVR}/{vo}"),
        make_channel(4, IPC, civil_code="3402", parent_id=f"{vo}/{NVR}"),
        make_channel(5, IPC, parent_id=f"{NVR}/{vo}/34020000002160000002"),
        make_channel(6, IPC, parent_id=f"{vo}9", business_group_id=None),
    ]
    async with devices.session() as session:
        await ChannelRepository(session).upsert_many(channels)
    ids = [c.id for c in channels]
    assert await _ids(devices) == ids
    assert await _ids(devices, device_id=IPC) == ids[3:]
    assert await _ids(devices, civil_code_prefix="3402") == [ids[0], ids[1], ids[3]]
    assert await _ids(devices, civil_code_prefix="340200") == ids[:2]
    assert await _ids(devices, group_id=group) == [ids[0]]
    assert await _ids(devices, group_id=vo) == ids[1:5]
    assert await _ids(devices, online=False) == [ids[1]]
    assert await _ids(devices, online=True, device_id=NVR) == [ids[0], ids[2]]
    assert await _ids(devices, limit=2, offset=3) == ids[3:5]
    async with devices.session() as session:
        repo = ChannelRepository(session)
        assert await repo.count() == 6
        assert await repo.count(group_id=vo, online=True) == 3
        assert await repo.count_for_device(IPC) == 3


async def test_like_wildcards_in_filters_are_literal(devices: Database) -> None:
    channels = [make_channel(1, civil_code="34%0"), make_channel(2, civil_code="3410")]
    channels += [make_channel(3, parent_id="3402_000"), make_channel(4, parent_id="34020000")]
    async with devices.session() as session:
        await ChannelRepository(session).upsert_many(channels)
    assert await _ids(devices, civil_code_prefix="34%") == [channels[0].id]
    assert await _ids(devices, civil_code_prefix="34_") == []
    assert await _ids(devices, group_id="3402_000") == [channels[2].id]


async def test_set_status_and_delete(devices: Database) -> None:
    async with devices.session() as session:
        await ChannelRepository(session).upsert_many([make_channel(1)])
    later = T0 + timedelta(minutes=5)
    async with devices.session() as session:
        repo = ChannelRepository(session)
        assert await repo.set_status(make_channel(1).id, ChannelStatus.OFF, later) is True
        assert await repo.set_status(make_channel(2).id, ChannelStatus.OFF, later) is False
        loaded = await repo.get(make_channel(1).id)
        assert loaded == make_channel(1, status=ChannelStatus.OFF, updated_at=later)
        assert await repo.delete(make_channel(1).id) is True
        assert await repo.delete(make_channel(1).id) is False


civil_codes = st.text(alphabet="0123_%", min_size=0, max_size=6)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(codes=st.lists(st.none() | civil_codes, max_size=8), prefix=civil_codes)
async def test_civil_code_prefix_matches_str_startswith(
    devices: Database, codes: list[str | None], prefix: str
) -> None:
    channels = [make_channel(n, civil_code=code) for n, code in enumerate(codes)]
    async with devices.session() as session:
        await ChannelRepository(session).replace_for_device(NVR, channels)
    expected = [
        c.id for c in channels if c.civil_code is not None and c.civil_code.startswith(prefix)
    ]
    assert await _ids(devices, civil_code_prefix=prefix) == expected
