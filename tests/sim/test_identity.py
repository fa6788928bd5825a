"""Fleet identities: IDs, channel IDs, names and positions, and config validation."""

from __future__ import annotations

import pytest

from sightline.gb28181.ids import DeviceType, GbId
from sightline.sim import DeviceGroup, SimConfig, SimConfigError, SimHost
from sightline.sim.identity import IdPlan, channel_name, geo_position

SERVER = "34020000002000000001"


def _host(*groups: DeviceGroup, **kw: object) -> SimHost:
    config = SimConfig(server_host="127.0.0.1", server_id=SERVER, groups=groups, **kw)  # type: ignore[arg-type]
    return SimHost(config)


def test_ipc_registers_as_132_and_lists_one_131_channel_with_the_same_serial() -> None:
    host = _host(DeviceGroup(count=3))
    ids = list(host.devices)
    assert ids[0] == "34020000001320000001"
    device = host.devices[ids[2]]
    assert device.channel_ids() == ["34020000001310000003"]
    assert GbId.parse(device.device_id).device_type is DeviceType.IPC
    assert GbId.parse(device.channel_id(0)).device_type is DeviceType.CAMERA


def test_nvr_channels_follow_from_the_serial_and_route_back() -> None:
    host = _host(DeviceGroup(count=4, channels=16), id_prefix="11010500", serial_start=7)
    nvrs = list(host.devices.values())
    assert nvrs[0].device_id == "11010500001180000007"
    # (serial - 1) * M + k + 1
    assert nvrs[0].channel_id(0) == "11010500001310000097"
    assert nvrs[3].channel_id(15) == f"1101050000131{0}{(10 - 1) * 16 + 16:06d}"
    seen = set()
    for nvr in nvrs:
        for k, channel_id in enumerate(nvr.channel_ids()):
            assert host.find(channel_id) is nvr
            assert nvr.channel_index(channel_id) == k
            seen.add(channel_id)
        assert host.find(nvr.device_id) is nvr
        assert nvr.channel_index(nvr.device_id) is None  # the recorder itself
    assert len(seen) == 64
    assert host.find("11010500001310000001") is None  # below the first NVR's channels
    assert host.find("11010500001310999999") is None
    assert host.find("not-an-id") is None


def test_mixed_fleet_ids_do_not_collide() -> None:
    host = _host(DeviceGroup(count=4), DeviceGroup(count=1, channels=8))
    channels = [c for d in host.devices.values() for c in d.channel_ids()]
    assert len(channels) == len(set(channels)) == 12
    assert all(host.find(c) is not None for c in channels)


def test_civil_code_comes_from_the_prefix() -> None:
    assert IdPlan("3402000000", 0).civil_code == "3402"
    assert IdPlan("1101050100", 0).civil_code == "11010501"


def test_names_are_gb2312_chinese_and_positions_are_near_the_center() -> None:
    names = {channel_name(s) for s in range(1, 1981)}
    assert len(names) == 1980  # 20 places x 99 rounds
    for name in list(names)[:50]:
        name.encode("gb2312")
    center = (118.0, 31.0)
    lon, lat = geo_position("34020000001310000001", center, 0.05)
    assert abs(lon - 118.0) <= 0.05 and abs(lat - 31.0) <= 0.05
    assert geo_position("34020000001310000001", center, 0.05) == (lon, lat)
    assert geo_position("34020000001310000002", center, 0.05) != (lon, lat)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id_prefix", "3402"),
        ("gb_version", "2019"),
        ("server_id", "123"),
        ("register_rate", 0.0),
        ("groups", (DeviceGroup(count=1_000_000),)),
        ("groups", (DeviceGroup(count=100_000, channels=16),)),
    ],
)
def test_bad_settings_are_refused(field: str, value: object) -> None:
    values: dict[str, object] = {"server_host": "127.0.0.1", "server_id": SERVER, field: value}
    with pytest.raises(SimConfigError, match=r"simulator setting|server_id"):
        SimConfig(**values)  # type: ignore[arg-type]
