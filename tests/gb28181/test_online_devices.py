"""OnlineDevices: sessions, keepalive deadlines, moves and going offline, with a real
DeviceWriter on SQLite in tmp_path, a real EventBus and fake clocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from sightline.events import DeviceOffline, DeviceOnline, Event, EventBus
from sightline.gb28181.device_writer import DeviceWriter
from sightline.gb28181.errors import DeviceOfflineError, UnknownDeviceError
from sightline.gb28181.known_devices import KnownDevices
from sightline.gb28181.manscdp import Edition
from sightline.gb28181.online_devices import OnlineDevices
from sightline.gb28181.registrar import Binding
from sightline.sip.transport import Peer
from sightline.store import Database, DeviceRepository, EventRepository, GbVersion
from sightline.store.records import Device
from tests.gb28181.device_peer import REALM
from tests.gb28181.test_devices_writer import T0, A, B, Clocks, database

__all__ = ["database"]

TIMEOUT_S = 180.0
STORE_S = 60.0
UNKNOWN = "34020000001320000999"


def peer(port: int = 5060) -> Peer:
    return Peer("UDP", "127.0.0.9", port)


def binding(
    device_id: str, *, port: int = 5060, call_id: str = "call-1", expires_at: float = 3700.0
) -> Binding:
    return Binding(
        device_id=device_id,
        contact=f"<sip:{device_id}@127.0.0.9:{port}>",
        peer=peer(port),
        expires_at=expires_at,
        call_id=call_id,
        gb_version=None,
    )


class Rig:
    """OnlineDevices wired to a writer on SQLite, a bus, fake clocks and a recorded wake_for."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.clocks = Clocks()
        self.known = KnownDevices(REALM)
        self.writer = DeviceWriter(database, self.clocks.monotonic, self.clocks.now)
        self.bus = EventBus()
        self._events = self.bus.subscribe()
        self.wakes: list[float] = []
        self.online = OnlineDevices(
            known=self.known,
            writer=self.writer,
            bus=self.bus,
            keepalive_timeout_s=TIMEOUT_S,
            last_seen_store_s=STORE_S,
            clock=self.clocks.monotonic,
            wall_clock=self.clocks.now,
            wake_for=self.wakes.append,
        )

    def advance(self, seconds: float) -> None:
        """Both clocks move on by ``seconds``."""
        self.clocks.mono += seconds
        self.clocks.wall += timedelta(seconds=seconds)

    def published(self) -> list[Event]:
        """Events published since the last call."""
        out: list[Event] = []
        while not self._events.queue.empty():
            out.append(self._events.queue.get_nowait())
        return out

    async def stored(self, device_id: str) -> Device:
        """The device's row after a flush."""
        await self.writer.flush()
        async with self.database.session() as session:
            device = await DeviceRepository(session).get(device_id)
        assert device is not None
        return device

    async def history(self, device_id: str) -> list[tuple[bool, str]]:
        """The device's stored online/offline transitions after a flush."""
        await self.writer.flush()
        async with self.database.session() as session:
            events = await EventRepository(session).status_events(device_id)
        return [(e.online, e.reason) for e in events]


@pytest.fixture
def rig(database: Database) -> Rig:
    return Rig(database)


def seconds(s: float) -> timedelta:
    return timedelta(seconds=s)


async def test_a_registration_opens_a_session_stores_it_and_announces_it(rig: Rig) -> None:
    rig.online.registered(replace(binding(A), gb_version="3.0"), "UTF-8")
    assert A in rig.online and len(rig.online) == 1
    session = rig.online.require(A)
    assert (session.peer, session.charset, session.edition) == (peer(), "UTF-8", Edition.V2022)
    assert (session.registered_at, session.last_seen, session.expires_at) == (T0, 100.0, 3700.0)
    assert rig.wakes == [100.0 + TIMEOUT_S]  # a new deadline: the timer task is told
    assert rig.online.next_deadline() == 100.0 + TIMEOUT_S
    assert rig.published() == [DeviceOnline(A, T0, "UDP", "127.0.0.9:5060")]
    stored = await rig.stored(A)
    assert (stored.online, stored.remote_host, stored.remote_port, stored.contact) == (
        True,
        "127.0.0.9",
        5060,
        f"<sip:{A}@127.0.0.9:5060>",
    )
    assert (stored.gb_version, stored.expires_s, stored.registered_at) == (
        GbVersion.V2022,
        3600,
        T0,
    )
    assert await rig.history(A) == [(True, "register")]


async def test_require_tells_an_offline_device_from_an_unknown_one(rig: Rig) -> None:
    with pytest.raises(UnknownDeviceError):
        rig.online.require(UNKNOWN)
    rig.known.add(B)  # in the store, never registered here
    with pytest.raises(DeviceOfflineError):
        rig.online.require(B)
    assert UNKNOWN not in rig.online and B not in rig.online and len(rig.online) == 0
    assert rig.online.last_seen(UNKNOWN) is None


async def test_keepalives_move_the_deadline_and_a_device_expires_exactly_at_it(rig: Rig) -> None:
    rig.online.registered(binding(A), "GB2312")
    rig.advance(50.0)
    rig.online.touch(rig.online.require(A), 150.0)
    assert rig.online.expired(280.0) == []  # the first deadline has moved on
    assert rig.online.next_deadline() == 150.0 + TIMEOUT_S
    assert rig.online.expired(329.999) == []
    assert rig.online.expired(330.0) == [A]  # at the deadline, not after it
    assert rig.online.next_deadline() is None
    assert rig.wakes == [280.0]  # keepalives of a tracked device wake nobody
    assert A in rig.online  # online until removed: the caller decides what follows


async def test_going_offline_stores_the_exact_last_seen_and_announces_it(rig: Rig) -> None:
    rig.online.registered(binding(A), "GB2312")
    await rig.writer.flush()
    rig.advance(30.0)
    rig.online.touch(rig.online.require(A), 130.0)
    assert rig.writer.pending == 0  # 30 s after the registration: the store may lag
    rig.advance(TIMEOUT_S)
    assert rig.online.expired(rig.clocks.mono) == [A]  # exactly at the deadline
    assert rig.online.remove(A, "keepalive-timeout")
    assert A not in rig.online
    assert rig.online.last_seen(A) is None
    assert rig.published() == [
        DeviceOnline(A, T0, "UDP", "127.0.0.9:5060"),
        DeviceOffline(A, T0 + seconds(210), "keepalive-timeout"),
    ]
    stored = await rig.stored(A)
    assert (stored.online, stored.last_seen) == (False, T0 + seconds(30))
    assert await rig.history(A) == [(True, "register"), (False, "keepalive-timeout")]
    assert not rig.online.remove(A, "unregister")  # already offline: nothing said twice
    assert rig.published() == [] and rig.writer.pending == 0


async def test_a_device_removed_before_its_deadline_never_expires(rig: Rig) -> None:
    rig.online.registered(binding(A), "GB2312")
    rig.online.registered(binding(B, port=5070), "GB2312")
    assert rig.online.remove(A, "unregister")
    assert rig.online.expired(10_000.0) == [B]
    assert await rig.history(A) == [(True, "register"), (False, "unregister")]


async def test_the_stored_last_seen_is_written_at_most_once_per_interval(rig: Rig) -> None:
    rig.online.registered(binding(A), "GB2312")  # the registration stores last_seen
    await rig.writer.flush()
    session = rig.online.require(A)
    for at in (110.0, 130.0, 159.9):
        rig.online.touch(session, at)
    assert rig.writer.pending == 0
    rig.online.touch(session, 160.0)  # STORE_S after the last stored time
    assert rig.writer.pending == 1
    rig.online.touch(session, 200.0)  # within STORE_S of 160: not queued
    rig.advance(100.0)
    stored = await rig.stored(A)
    assert stored.last_seen == T0 + seconds(60)  # the lagging stored time
    assert rig.online.last_seen(A) == T0 + seconds(100)  # the live one


async def test_last_seen_of_an_online_device_is_converted_to_wall_time(rig: Rig) -> None:
    rig.online.registered(binding(A), "GB2312")
    assert rig.online.last_seen(A) == T0
    rig.advance(45.0)
    rig.online.touch(rig.online.require(A), 130.0)
    assert rig.online.last_seen(A) == T0 + seconds(30)


async def test_a_refresh_from_a_new_address_moves_the_device(rig: Rig) -> None:
    was = binding(A, port=5060, call_id="c1", expires_at=3700.0)
    rig.online.registered(was, "GB2312")
    await rig.writer.flush()
    rig.advance(100.0)
    now = binding(A, port=6000, call_id="c1", expires_at=3800.0)
    assert rig.online.refreshed(was, now) is False  # the same Call-ID: no restart
    session = rig.online.require(A)
    assert (session.peer, session.contact, session.expires_at, session.last_seen) == (
        peer(6000),
        now.contact,
        3800.0,
        200.0,
    )
    assert session.target.peer == peer(6000)  # requests follow the device
    assert rig.online.expired(280.0) == []  # the REGISTER showed it alive
    assert rig.online.expired(380.0) == [A]
    stored = await rig.stored(A)
    assert (stored.remote_port, stored.last_seen) == (6000, T0 + seconds(100))
    assert [type(e) for e in rig.published()] == [DeviceOnline]  # a move is no new arrival
    assert await rig.history(A) == [(True, "register")]


async def test_a_refresh_with_a_new_call_id_tells_of_a_restart(rig: Rig) -> None:
    was = binding(A, call_id="c1")
    rig.online.registered(was, "GB2312")
    await rig.writer.flush()
    assert rig.online.refreshed(was, replace(was, call_id="c2")) is True
    assert rig.online.require(A).peer == peer()
    assert rig.writer.pending == 0  # same address, last_seen stored just now: nothing to write


async def test_a_refresh_of_a_device_that_is_not_online_changes_nothing(rig: Rig) -> None:
    was = binding(A)
    assert rig.online.refreshed(was, binding(A, port=6000, call_id="c2")) is False
    assert A not in rig.online
    assert (rig.wakes, rig.writer.pending, rig.online.next_deadline()) == ([], 0, None)


async def test_a_device_back_after_going_offline_starts_afresh(rig: Rig) -> None:
    rig.online.registered(binding(A, call_id="c1"), "GB2312")
    rig.advance(TIMEOUT_S)
    assert rig.online.expired(rig.clocks.mono) == [A]
    rig.online.remove(A, "keepalive-timeout")
    rig.advance(20.0)
    rig.online.registered(binding(A, port=6000, call_id="c2"), "UTF-8")
    session = rig.online.require(A)
    assert (session.peer, session.charset, session.last_seen) == (peer(6000), "UTF-8", 300.0)
    assert session.registered_at == T0 + seconds(200)
    assert rig.wakes == [280.0, 480.0]  # tracked anew: the timer task is told again
    assert rig.online.expired(479.9) == []
    assert rig.online.expired(480.0) == [A]
    assert rig.published() == [
        DeviceOnline(A, T0, "UDP", "127.0.0.9:5060"),
        DeviceOffline(A, T0 + seconds(180), "keepalive-timeout"),
        DeviceOnline(A, T0 + seconds(200), "UDP", "127.0.0.9:6000"),
    ]
    stored = await rig.stored(A)
    assert (stored.online, stored.remote_port) == (True, 6000)
    assert await rig.history(A) == [
        (True, "register"),
        (False, "keepalive-timeout"),
        (True, "register"),
    ]


async def test_a_message_from_a_new_address_moves_requests_there(rig: Rig) -> None:
    rig.online.registered(binding(A), "GB2312")
    rig.online.moved(rig.online.require(A), peer(7000))
    assert rig.online.require(A).peer == peer(7000)
    stored = await rig.stored(A)
    assert (stored.remote_host, stored.remote_port) == ("127.0.0.9", 7000)


async def test_stopping_queues_only_the_last_seen_times_the_store_lags_behind(rig: Rig) -> None:
    rig.online.registered(binding(A), "GB2312")
    rig.online.registered(binding(B, port=5070), "GB2312")
    await rig.writer.flush()
    rig.advance(30.0)
    rig.online.touch(rig.online.require(A), 130.0)  # B stays silent
    assert rig.writer.pending == 0
    rig.online.store_last_seen()
    assert rig.writer.pending == 1  # A alone: B's stored time is exact
    assert (await rig.stored(A)).last_seen == T0 + seconds(30)
    assert (await rig.stored(B)).last_seen == T0
