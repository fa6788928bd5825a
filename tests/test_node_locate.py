"""How a serving node finds the device of a channel it is asked to open."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from sightline.directory import DirectoryService
from sightline.gb28181.manscdp import CatalogItem
from sightline.node_media import device_of
from sightline.node_tuning import GIL_SWITCH_INTERVAL_S, tune_gil_for_serving
from sightline.store import Database
from sightline.store.repositories.access import ChannelPlace
from tests.access.fixtures import sqlite_db
from tests.store.conftest import add_devices, make_device, sqlite_migrated

__all__ = ["sqlite_db", "sqlite_migrated"]

NVR = "34020000001180000001"
OTHER_NVR = "34020000001180000002"
CAM = "34020000001310000001"


def _place(channel_id: str, device_id: str) -> ChannelPlace:
    return ChannelPlace(
        id=channel_id, device_id=device_id, civil_code=None, parent_id=None, business_group_id=None
    )


async def test_the_access_placements_answer_without_the_directory(sqlite_db: Database) -> None:
    # the directory knows nothing of CAM: the answer can only come from the placements
    directory = DirectoryService(sqlite_db, online=lambda _: True)
    assert await device_of(CAM, {CAM: _place(CAM, OTHER_NVR)}, directory) == OTHER_NVR


async def test_a_channel_the_placements_lack_is_read_from_the_directory(
    sqlite_db: Database,
) -> None:
    await add_devices(sqlite_db, make_device(NVR))
    directory = DirectoryService(sqlite_db, online=lambda _: True)
    item = CatalogItem(device_id=CAM, name="gate", parent_id=NVR, civil_code="34020100")
    await directory.import_catalog(NVR, [item], complete=True)
    assert await device_of(CAM, {}, directory) == NVR
    assert await device_of("34020000001310000009", {}, directory) is None
    assert await device_of(CAM, {}, None) is None


@pytest.fixture
def restore_switch_interval() -> Iterator[None]:
    interval = sys.getswitchinterval()
    yield
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restore_switch_interval")
def test_serving_hands_the_gil_to_waiting_threads_within_a_millisecond() -> None:
    tune_gil_for_serving()
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
    assert GIL_SWITCH_INTERVAL_S <= 0.001
