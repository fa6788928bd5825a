"""KnownDevices: IDs, per-device HA1 and charsets, loaded from SQLite in tmp_path."""

from __future__ import annotations

import pytest

from sightline.gb28181 import known_devices
from sightline.gb28181.known_devices import DEFAULT_CHARSET, KnownDevices
from sightline.sip.digest import ha1
from sightline.store import Database
from tests.gb28181.device_peer import REALM
from tests.gb28181.test_devices_writer import A, B, database
from tests.store.conftest import add_devices, make_device

__all__ = ["database"]

C = "34020000001320000003"
UNKNOWN = "34020000001320000999"
HA1_A = ha1(A, REALM, "a-secret")


async def test_load_remembers_every_stored_device_with_its_own_ha1_and_charset(
    database: Database,
) -> None:
    await add_devices(
        database,
        make_device(A, password_ha1=HA1_A, realm=REALM, charset="UTF-8"),
        make_device(B, password_ha1=ha1(B, "4401000000", "b"), realm="4401000000"),
        make_device(C, password_ha1=None, realm=REALM, charset="gb2312"),
    )
    known = KnownDevices(REALM)
    assert await known.load(database, lambda _device_id: False) == []
    assert len(known) == 3
    assert all(device_id in known for device_id in (A, B, C))
    assert known.ha1_for(A) == HA1_A
    assert known.ha1_for(B) is None  # computed for another realm: useless here
    assert known.ha1_for(C) is None
    assert known.ha1_snapshot() == {A: HA1_A}
    assert (known.charset(A), known.charset(B), known.charset(C)) == ("UTF-8", "GB2312", "GB2312")


async def test_the_realm_of_a_stored_ha1_is_compared_without_case(database: Database) -> None:
    await add_devices(database, make_device(A, password_ha1="h", realm="Video.Example.COM"))
    known = KnownDevices("video.example.com")
    await known.load(database, lambda _device_id: False)
    assert known.ha1_for(A) == "h"


async def test_load_returns_devices_stored_online_that_are_not_online_here(
    database: Database,
) -> None:
    await add_devices(
        database,
        make_device(A, online=True),
        make_device(B, online=True),
        make_device(C, online=False),
    )
    asked: list[str] = []

    def online(device_id: str) -> bool:
        asked.append(device_id)
        return device_id == B

    known = KnownDevices(REALM)
    assert await known.load(database, online) == [A]  # B is online here, C is not stored online
    assert asked == [A, B]
    assert len(known) == 3


@pytest.mark.parametrize("count", [4, 5])  # an exact number of pages, and one more
async def test_a_fleet_larger_than_a_page_is_loaded_whole(
    database: Database, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    monkeypatch.setattr(known_devices, "_LOAD_PAGE", 2)
    ids = [f"3402000000132000{n:04d}" for n in range(count)]
    await add_devices(database, *(make_device(i, online=True, charset="UTF-8") for i in ids))
    known = KnownDevices(REALM)
    assert await known.load(database, lambda _device_id: False) == ids
    assert len(known) == count
    assert [known.charset(i) for i in ids] == ["UTF-8"] * count


async def test_an_empty_store_knows_nobody(database: Database) -> None:
    known = KnownDevices(REALM)
    assert await known.load(database, lambda _device_id: True) == []
    assert len(known) == 0
    assert UNKNOWN not in known
    assert known.ha1_for(UNKNOWN) is None
    assert known.charset(UNKNOWN) == DEFAULT_CHARSET
    assert known.ha1_snapshot() == {}


def test_a_registered_device_is_known_with_the_default_password_and_charset() -> None:
    known = KnownDevices(REALM)
    known.add(A)
    known.add(A)
    assert A in known and len(known) == 1
    assert known.ha1_for(A) is None
    assert known.charset(A) == DEFAULT_CHARSET


def test_an_ha1_change_and_removal_follow_the_store() -> None:
    known = KnownDevices(REALM)
    known.remember(A, HA1_A, REALM, DEFAULT_CHARSET)
    new = ha1(A, REALM, "changed")
    known.set_ha1(A, new)
    assert known.ha1_for(A) == new
    assert known.ha1_snapshot() == {A: new}
    known.set_ha1(A, None)  # back to the default password
    assert known.ha1_for(A) is None
    assert known.ha1_snapshot() == {}
    assert A in known  # still a known device, only without a password of its own
    known.set_ha1(B, None)  # a device that never had one: nothing to remove
    assert known.ha1_snapshot() == {}


def test_the_ha1_snapshot_is_a_copy() -> None:
    known = KnownDevices(REALM)
    known.remember(A, HA1_A, REALM, DEFAULT_CHARSET)
    snapshot = known.ha1_snapshot()
    snapshot[A] = "tampered"
    snapshot[B] = "added"
    assert known.ha1_snapshot() == {A: HA1_A}
    assert known.ha1_for(B) is None


def test_a_charset_is_remembered_per_device() -> None:
    known = KnownDevices(REALM)
    known.remember(A, None, None, "UTF-8")
    known.remember(B, None, None, "GB18030")
    known.remember(C, None, None, "")  # nothing stored: the default
    assert [known.charset(d) for d in (A, B, C, UNKNOWN)] == [
        "UTF-8",
        "GB18030",
        "GB2312",
        "GB2312",
    ]
    known.add(A)  # a registration keeps what the store said
    assert known.charset(A) == "UTF-8"
