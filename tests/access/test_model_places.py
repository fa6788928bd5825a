"""Channel placements in the access model: applied device by device, same as a full reload."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.access.actions import Action, Resource
from sightline.access.model import AccessModel
from sightline.access.snapshot import AccessSnapshot, PlaceIndex, build_snapshot
from sightline.directory import DirectoryService
from sightline.events import CatalogUpdated, EventBus
from sightline.gb28181.manscdp import CatalogItem
from sightline.store import Database
from sightline.store.models.access import Classification, Role, ScopeKind, Sharing
from sightline.store.repositories.access import (
    AccessRepository,
    ChannelOwnership,
    ChannelPlace,
    Grant,
    GroupLink,
)
from sightline.store.repositories.users import UserRepository
from tests.access.fixtures import FakeClock
from tests.store.conftest import add_devices, make_device

NVR = "34020000001180000001"
CAM_1 = "34020000001310000001"
CAM_2 = "34020000001310000002"
T0 = datetime(2026, 11, 25, tzinfo=UTC)


async def _transport_viewer_with_region_grant(db: Database, clock: FakeClock) -> int:
    """A viewer in "transport", which holds a live grant on region 340201 from the root."""
    now = datetime.fromtimestamp(clock.now, UTC)
    async with db.session() as session:
        repo = AccessRepository(session)
        transport = await repo.create_department("transport", 1, None, now)
        user = await UserRepository(session).create("tv", "x", now)
        await repo.set_membership(user.id, transport.id, [Role.VIEWER])
        await repo.add_grant(
            Grant(
                id="g-region",
                grantee_department_id=transport.id,
                grantee_user_id=None,
                include_subdepartments=False,
                grantor_department_id=1,
                scope_kind=ScopeKind.REGION,
                scope_id="340201",
                actions=["live"],
                masked_only=False,
                not_before=now - timedelta(hours=1),
                not_after=now + timedelta(hours=1),
                created_by=None,
                created_at=now,
            )
        )
    return user.id


def _camera(channel_id: str, civil_code: str) -> CatalogItem:
    return CatalogItem(device_id=channel_id, name="cam", civil_code=civil_code, parental=0)


async def test_a_new_channel_under_a_region_grant_is_visible_at_once(sqlite_db: Database) -> None:
    """No full reload and no TTL: the catalog update alone brings the channel in."""
    clock = FakeClock()
    model = AccessModel(sqlite_db, ttl_s=3600.0, clock=clock, places_reload_s=1e9)
    user = await _transport_viewer_with_region_grant(sqlite_db, clock)
    await add_devices(sqlite_db, make_device(NVR))
    directory = DirectoryService(sqlite_db, online=lambda _: True)
    await directory.import_catalog(NVR, [_camera(CAM_1, "34020100")], complete=True)
    assert await model.visible_channels(user) == frozenset({CAM_1})  # first load: all read

    bus = EventBus()
    follower = asyncio.ensure_future(model.follow_catalogs(bus))
    await asyncio.sleep(0)
    items = [_camera(CAM_1, "34020100"), _camera(CAM_2, "34020199")]
    count = await directory.import_catalog(NVR, items, complete=True)
    assert await model.visible_channels(user) == frozenset({CAM_1})  # not told yet
    bus.publish(CatalogUpdated(NVR, count))
    await asyncio.sleep(0)
    assert await model.visible_channels(user) == frozenset({CAM_1, CAM_2})
    assert model.decide_now(user, Action.LIVE, Resource.channel(CAM_2)).allowed

    # the channel moves out of the region, then the device drops it: both follow the events
    await directory.import_catalog(NVR, [_camera(CAM_2, "35010100")], complete=False)
    bus.publish(CatalogUpdated(NVR, 2))
    await asyncio.sleep(0)
    assert await model.visible_channels(user) == frozenset({CAM_1})
    assert not model.decide_now(user, Action.LIVE, Resource.channel(CAM_2)).allowed
    await directory.import_catalog(NVR, [_camera(CAM_2, "35010100")], complete=True)
    bus.publish(CatalogUpdated(NVR, 1))
    await asyncio.sleep(0)
    snap = await model.current()
    assert CAM_1 not in snap.places and snap.device_channels[NVR] == {CAM_2}
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)


async def test_the_ttl_reload_reads_only_marked_devices(sqlite_db: Database) -> None:
    """Channels written behind the model's back wait for ``places_reload_s`` or refresh()."""
    clock = FakeClock()
    model = AccessModel(sqlite_db, ttl_s=5.0, clock=clock, places_reload_s=600.0)
    await add_devices(sqlite_db, make_device(NVR))
    directory = DirectoryService(sqlite_db, online=lambda _: True)
    assert not (await model.current()).places
    await directory.import_catalog(NVR, [_camera(CAM_1, "34020100")], complete=True)
    clock.now += 6  # TTL passed: small tables again, placements not
    assert CAM_1 not in (await model.current()).places
    clock.now += 600
    assert CAM_1 in (await model.current()).places
    await directory.import_catalog(NVR, [_camera(CAM_2, "34020100")], complete=False)
    assert CAM_2 in (await model.refresh(places=True)).places  # read everything


async def test_a_paged_full_read_is_a_one_read_full_read(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 2 across devices of several channels, a device gone: same as one big read."""
    nvrs = [f"3402000000118000000{i}" for i in range(1, 4)]
    await add_devices(sqlite_db, *(make_device(n) for n in nvrs))
    directory = DirectoryService(sqlite_db, online=lambda _: True)
    for i, nvr in enumerate(nvrs):
        cams = [_camera(f"3402000000131000{i}{k:03d}", f"3402{k:02d}00") for k in range(i + 2)]
        await directory.import_catalog(nvr, cams, complete=True)
    whole = AccessModel(sqlite_db, clock=FakeClock())
    expected = await whole.refresh(places=True)
    monkeypatch.setattr("sightline.access.model._SLICE", 2)
    paged = AccessModel(sqlite_db, clock=FakeClock())
    snap = await paged.refresh(places=True)
    assert len(snap.places) == 2 + 3 + 4
    assert (snap.places, snap.device_channels) == (expected.places, expected.device_channels)
    await directory.import_catalog(nvrs[1], [], complete=True)  # its channels are gone
    snap = await paged.refresh(places=True)
    assert snap.device_channels.get(nvrs[1], set()) == set()
    assert len(snap.places) == 2 + 4


# -- the index against a from-scratch build ------------------------------------------------------

DEVICES = ["d1", "d2", "d3"]
CHANNELS = [f"c{i}" for i in range(8)]
GROUPS = ["g1", "g2", "g3", "b1"]

places = st.builds(
    lambda cid, dev, civil, parent, bg: ChannelPlace(
        id=cid, device_id=dev, civil_code=civil, parent_id=parent, business_group_id=bg
    ),
    st.sampled_from(CHANNELS),
    st.sampled_from(DEVICES),
    st.sampled_from([None, "34", "3402", "340201", "35"]),
    st.sampled_from([None, *GROUPS]),
    st.sampled_from([None, "b1"]),
)
group_links = st.lists(
    st.builds(
        lambda gid, parent, bg: GroupLink(id=gid, parent_id=parent, business_group_id=bg),
        st.sampled_from(GROUPS),
        st.sampled_from([None, *GROUPS]),
        st.sampled_from([None, "b1"]),
    ),
    max_size=4,
    unique_by=lambda g: g.id,
)
owners = st.lists(
    st.builds(
        lambda cid, dep, sharing: ChannelOwnership(
            channel_id=cid,
            department_id=dep,
            classification=Classification.PUBLIC_SECURITY,
            sharing=sharing,
            updated_at=T0,
        ),
        st.sampled_from(CHANNELS),
        st.sampled_from([1, 2, 3]),
        st.sampled_from(list(Sharing)),
    ),
    max_size=4,
    unique_by=lambda o: o.channel_id,
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("device"), st.sampled_from(DEVICES), st.lists(places, max_size=4)),
        st.tuples(st.just("groups"), group_links),
        st.tuples(st.just("owners"), owners),
    ),
    max_size=12,
)


def _norm(snap: AccessSnapshot) -> tuple[object, ...]:
    def sets(index: object) -> dict[object, frozenset[str]]:
        assert isinstance(index, dict)
        return {k: frozenset(v) for k, v in index.items()}

    return (
        dict(snap.places),
        dict(snap.channel_groups),
        sets(snap.device_channels),
        sets(snap.group_channels),
        sets(snap.department_channels),
        dict(snap.ownership),
        frozenset(snap.shared_channels),
    )


@settings(max_examples=300, deadline=None)
@given(steps)
def test_applying_changes_step_by_step_equals_indexing_from_scratch(
    changes: list[tuple[object, ...]],
) -> None:
    index = PlaceIndex()
    stored: dict[str, ChannelPlace] = {}  # what a full reload would read: channel IDs unique
    groups: list[GroupLink] = []
    owned: list[ChannelOwnership] = []
    for change in changes:
        if change[0] == "device":
            device, rows = str(change[1]), change[2]
            assert isinstance(rows, list)
            for cid in [c for c, p in stored.items() if p.device_id == device]:
                del stored[cid]
            mine = {p.id: replace(p, device_id=device) for p in rows}
            stored.update(mine)  # a channel listed by another device moves here
            index.replace_device(device, list(mine.values()))
        elif change[0] == "groups":
            groups = list(change[1])  # type: ignore[call-overload]
            index.set_groups(groups)
        else:
            owned = list(change[1])  # type: ignore[call-overload]
            index.set_ownership(owned)
    incremental = index.snapshot([], [], [])
    scratch = build_snapshot([], [], owned, stored.values(), groups, [])
    assert _norm(incremental) == _norm(scratch) == _reference(owned, stored, groups)


def _reference(
    owned: list[ChannelOwnership], stored: dict[str, ChannelPlace], groups: list[GroupLink]
) -> tuple[object, ...]:
    """The indexes as the whole-table build computed them before the index was incremental."""
    parents = {g.id: {p for p in (g.parent_id, g.business_group_id) if p} for g in groups}

    def closure(start: str) -> set[str]:
        if start not in parents:
            return set()
        seen: set[str] = set()
        todo = [start]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(parents.get(current, ()))
        return seen

    channel_groups: dict[str, frozenset[str]] = {}
    device_channels: dict[object, set[str]] = {}
    group_channels: dict[object, set[str]] = {}
    for place in stored.values():
        direct = [g for g in (place.parent_id, place.business_group_id) if g]
        found = set(direct).union(*(closure(g) for g in direct))
        channel_groups[place.id] = frozenset(found)
        device_channels.setdefault(place.device_id, set()).add(place.id)
        for group in found:
            group_channels.setdefault(group, set()).add(place.id)
    owners = {o.channel_id: o for o in owned}
    departments: dict[object, set[str]] = {}
    for cid in set(stored) | set(owners):
        dep = owners[cid].department_id if cid in owners else 1
        departments.setdefault(dep, set()).add(cid)
    shared = frozenset(o.channel_id for o in owned if o.sharing is not Sharing.NONE)

    def frozen(index: dict[object, set[str]]) -> dict[object, frozenset[str]]:
        return {k: frozenset(v) for k, v in index.items()}

    return (
        dict(stored),
        channel_groups,
        frozen(device_channels),
        frozen(group_channels),
        frozen(departments),
        owners,
        shared,
    )
