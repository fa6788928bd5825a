"""CatalogSync: catalogs queried, pushed and notified into the real DirectoryService on SQLite
in tmp_path, the device row written first by a real DeviceWriter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sightline.directory import DirectoryService
from sightline.events import CatalogUpdated, EventBus
from sightline.gb28181.device_catalog import CatalogSync
from sightline.gb28181.device_writer import DeviceWriter
from sightline.gb28181.errors import DeviceTimeoutError, UnknownDeviceError
from sightline.gb28181.manscdp import CatalogEvent, CatalogItem
from sightline.store import ChannelStatus, Database
from tests.directory.samples import ids
from tests.gb28181.test_devices import CHANNELS, NAMES, NVR, item
from tests.gb28181.test_devices_writer import T0, Clocks, database, reg

__all__ = ["database"]

UNKNOWN = "34020000001180000999"
Answer = tuple[list[CatalogItem], bool]


class CatalogAnswers:
    """The device queries' ``catalog``: answers given in turn, the devices asked recorded."""

    def __init__(self, *answers: Answer | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, device_id: str) -> Answer:
        self.asked.append(device_id)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Rig:
    """CatalogSync over a directory and a device writer on one database, a bus, fake clocks."""

    def __init__(self, database: Database) -> None:
        clocks = Clocks()
        self.writer = DeviceWriter(database, clocks.monotonic, clocks.now)
        self.directory = DirectoryService(database, online=lambda _id: True, wall_clock=clocks.now)
        self.bus = EventBus()
        self._updates = self.bus.subscribe(CatalogUpdated)
        self.query = CatalogAnswers()
        self.flushes = 0
        self.sync = CatalogSync(
            directory=self.directory,
            bus=self.bus,
            query=self.query,
            registration_pending=self.writer.has_pending_registration,
            flush=self.flush,
        )

    async def flush(self) -> None:
        self.flushes += 1
        await self.writer.flush()

    async def registered(self) -> None:
        """The NVR registered and its row is stored."""
        self.writer.registered(reg(NVR, T0))
        await self.writer.flush()

    def updates(self) -> list[tuple[str, int | None]]:
        """``CatalogUpdated`` events published since the last call."""
        out: list[tuple[str, int | None]] = []
        while not self._updates.queue.empty():
            event = self._updates.queue.get_nowait()
            assert isinstance(event, CatalogUpdated)
            out.append((event.device_id, event.channel_count))
        return out

    async def channel_ids(self) -> list[str]:
        return ids((await self.directory.list_channels(device_id=NVR)).items)

    async def channel_count(self) -> int:
        device = await self.directory.get_device(NVR)
        assert device is not None
        return device.channel_count


@pytest.fixture
def rig(database: Database) -> Rig:
    return Rig(database)


def items(*indexes: int) -> list[CatalogItem]:
    return [item(i) for i in indexes]


async def test_a_refresh_imports_the_complete_catalog_after_storing_the_device(rig: Rig) -> None:
    rig.writer.registered(reg(NVR, T0))  # queued: the device row is not written yet
    rig.query.answers = [(items(0, 1, 2), True), (items(0, 1), True)]
    assert await rig.sync.refresh(NVR) == (items(0, 1, 2), 3)
    assert rig.flushes == 1  # the device row first: channels reference it
    assert await rig.channel_ids() == CHANNELS[:3]
    channel = await rig.directory.get_channel(CHANNELS[0])
    assert channel is not None and (channel.name, channel.device_id) == (NAMES[0], NVR)
    assert await rig.sync.refresh(NVR) == (items(0, 1), 2)  # a complete list replaces
    assert rig.flushes == 1  # stored already: no flush
    assert await rig.channel_ids() == CHANNELS[:2]
    assert await rig.channel_count() == 2
    assert rig.query.asked == [NVR, NVR]
    assert rig.updates() == [(NVR, 3), (NVR, 2)]


async def test_a_partial_or_pushed_catalog_is_merged_never_replacing(rig: Rig) -> None:
    await rig.registered()
    rig.query.answers = [(items(0, 1), True), (items(2), False)]  # the second one timed out
    assert (await rig.sync.refresh(NVR))[1] == 2
    assert (await rig.sync.refresh(NVR))[1] == 3
    assert await rig.sync.store(NVR, items(3), complete=False) == 4  # an unasked push
    assert await rig.channel_ids() == CHANNELS[:4]
    assert rig.updates() == [(NVR, 2), (NVR, 3), (NVR, 4)]
    assert rig.flushes == 0


async def test_catalog_events_are_applied_and_stored(rig: Rig) -> None:
    await rig.registered()
    assert await rig.sync.store(NVR, items(0, 1, 2), complete=True) == 3
    await rig.sync.apply_events(
        NVR,
        [
            replace(item(3), event=CatalogEvent.ADD),
            CatalogItem(device_id=CHANNELS[1], event=CatalogEvent.DEL),
            replace(item(0), name="东门（新）", event=CatalogEvent.UPDATE),
            CatalogItem(device_id=CHANNELS[2], event=CatalogEvent.OFF),
        ],
    )
    assert await rig.channel_ids() == [CHANNELS[0], CHANNELS[2], CHANNELS[3]]
    updated, off, added = [await rig.directory.get_channel(CHANNELS[i]) for i in (0, 2, 3)]
    assert updated is not None and updated.name == "东门（新）"
    assert off is not None and off.status is ChannelStatus.OFF
    assert added is not None and (added.name, added.status) == (NAMES[3], ChannelStatus.ON)
    assert await rig.channel_count() == 3
    await rig.sync.apply_events(NVR, [CatalogItem(device_id=CHANNELS[2], event=CatalogEvent.ON)])
    back = await rig.directory.get_channel(CHANNELS[2])
    assert back is not None and back.status is ChannelStatus.ON
    assert rig.updates() == [(NVR, 3), (NVR, None), (NVR, None)]  # events are not counted


async def test_events_of_a_device_whose_registration_is_queued_store_the_device_first(
    rig: Rig,
) -> None:
    rig.writer.registered(reg(NVR, T0))
    await rig.sync.apply_events(NVR, [replace(item(0), event=CatalogEvent.ADD)])
    assert rig.flushes == 1
    assert not rig.writer.has_pending_registration(NVR)
    assert await rig.channel_ids() == CHANNELS[:1]


async def test_only_a_queued_registration_makes_a_catalog_flush(rig: Rig) -> None:
    await rig.registered()
    rig.writer.touch(NVR, 130.0)  # a keepalive time, left to the periodic flush
    assert await rig.sync.store(NVR, items(0), complete=True) == 1
    await rig.sync.apply_events(NVR, [CatalogItem(device_id=CHANNELS[0], event=CatalogEvent.OFF)])
    assert rig.flushes == 0
    assert rig.writer.pending == 1


async def test_a_catalog_of_a_device_not_in_the_store_fails_and_announces_nothing(
    rig: Rig,
) -> None:
    with pytest.raises(UnknownDeviceError):
        await rig.sync.store(UNKNOWN, items(0), complete=True)
    with pytest.raises(UnknownDeviceError):
        await rig.sync.apply_events(UNKNOWN, [replace(item(0), event=CatalogEvent.ADD)])
    assert rig.updates() == []
    assert rig.flushes == 0
    assert await rig.directory.get_channel(CHANNELS[0]) is None


async def test_a_failed_catalog_query_imports_nothing(rig: Rig) -> None:
    await rig.registered()
    rig.query.answers = [DeviceTimeoutError(f"{NVR} did not answer")]
    with pytest.raises(DeviceTimeoutError):
        await rig.sync.refresh(NVR)
    assert rig.query.asked == [NVR]
    assert await rig.channel_ids() == []
    assert rig.updates() == []
