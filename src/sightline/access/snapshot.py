"""An indexed picture of the access model that the policy decides over.

Built from whole-table reads (``AccessRepository.load_*``) by :func:`build_snapshot`, or by
:meth:`PlaceIndex.snapshot`; nothing here does I/O, so a permission check is a few dictionary
look-ups. ``AccessModel`` swaps in a new snapshot after every change it makes and when the
current one is older than its TTL.

The channel placements (one row per channel: 100,000 at a large site) are the bulk of it and
change device by device as catalogs arrive, so :class:`PlaceIndex` keeps them and their
indexes and updates them in place (:meth:`PlaceIndex.replace_device`); the snapshots it makes
share those indexes, so a snapshot sees placement changes as they are applied (between two
policy calls: the policy is synchronous and runs on the event loop). Everything else in a
snapshot is immutable.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sightline.store.models.access import ROOT_DEPARTMENT_ID, Classification, Sharing
from sightline.store.repositories.access import (
    ChannelOwnership,
    ChannelPlace,
    Department,
    Grant,
    GroupLink,
    Member,
)

__all__ = ["AccessSnapshot", "PlaceIndex", "build_snapshot", "default_ownership"]

_EPOCH = datetime.fromtimestamp(0).astimezone()
_K = TypeVar("_K")


def default_ownership(channel_id: str) -> ChannelOwnership:
    """What a channel without an ownership row gets: the root department, not shared."""
    return ChannelOwnership(
        channel_id=channel_id,
        department_id=ROOT_DEPARTMENT_ID,
        classification=Classification.PUBLIC_SECURITY,
        sharing=Sharing.NONE,
        updated_at=_EPOCH,
    )


@dataclass(frozen=True, slots=True)
class AccessSnapshot:
    """The access model at one moment, indexed for the policy."""

    departments: Mapping[int, Department] = field(default_factory=dict)
    ancestors: Mapping[int, frozenset[int]] = field(default_factory=dict)  # self included
    members: Mapping[int, Member] = field(default_factory=dict)
    ownership: Mapping[str, ChannelOwnership] = field(default_factory=dict)
    places: Mapping[str, ChannelPlace] = field(default_factory=dict)
    channel_groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    device_channels: Mapping[str, Collection[str]] = field(default_factory=dict)
    user_grants: Mapping[int, tuple[Grant, ...]] = field(default_factory=dict)
    department_grants: Mapping[int, tuple[Grant, ...]] = field(default_factory=dict)
    grants: Mapping[str, Grant] = field(default_factory=dict)
    department_channels: Mapping[int, Collection[str]] = field(default_factory=dict)
    group_channels: Mapping[str, Collection[str]] = field(default_factory=dict)
    shared_channels: tuple[str, ...] = ()
    # per-user indexes the policy builds on first use (``sightline.access.policy``)
    views: dict[int, Any] = field(default_factory=dict, compare=False)

    def owner_of(self, channel_id: str) -> ChannelOwnership:
        """The channel's ownership (the root department's when none was set)."""
        found = self.ownership.get(channel_id)
        return found if found is not None else default_ownership(channel_id)

    def in_subtree(self, department_id: int | None, top: int) -> bool:
        """Whether ``department_id`` is ``top`` or below it."""
        if department_id is None:
            return False
        return top in self.ancestors.get(department_id, frozenset())

    def subtree(self, top: int) -> frozenset[int]:
        """``top`` and every department below it."""
        return frozenset(d for d, above in self.ancestors.items() if top in above)


def _ancestors(departments: Mapping[int, Department]) -> dict[int, frozenset[int]]:
    out: dict[int, frozenset[int]] = {}
    for dep_id in departments:
        chain: list[int] = []
        current: int | None = dep_id
        while current is not None and current not in chain and current in departments:
            chain.append(current)
            current = departments[current].parent_id
        out[dep_id] = frozenset(chain)
    return out


def _group_closure(groups: Iterable[GroupLink]) -> dict[str, frozenset[str]]:
    parents = {g.id: {p for p in (g.parent_id, g.business_group_id) if p} for g in groups}
    closure: dict[str, frozenset[str]] = {}
    for start in parents:
        seen: set[str] = set()
        todo = [start]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(parents.get(current, ()))
        closure[start] = frozenset(seen)
    return closure


def build_snapshot(  # noqa: PLR0917 - one argument per table, in load order
    departments: Iterable[Department],
    members: Iterable[Member],
    ownership: Iterable[ChannelOwnership],
    places: Iterable[ChannelPlace],
    groups: Iterable[GroupLink],
    grants: Iterable[Grant],
) -> AccessSnapshot:
    """Index the loaded tables."""
    index = PlaceIndex()
    index.set_ownership(ownership)
    index.set_groups(groups)
    index.replace_all(places)
    return index.snapshot(departments, members, grants)


class PlaceIndex:
    """Channel placements and the indexes over them, updated device by device.

    Ownership and the group tree are small and replaced whole (:meth:`set_ownership`,
    :meth:`set_groups`); only the channels they affect are re-indexed. A device's channels are
    replaced by :meth:`replace_device` after its catalog changed; :meth:`replace_all` reloads
    every channel. The result is the same as indexing everything from scratch.
    """

    def __init__(self) -> None:
        self.places: dict[str, ChannelPlace] = {}
        self.device_channels: dict[str, set[str]] = {}
        self.channel_groups: dict[str, frozenset[str]] = {}
        self.group_channels: dict[str, set[str]] = {}
        self.department_channels: dict[int, set[str]] = {}
        self.ownership: dict[str, ChannelOwnership] = {}
        self._closure: dict[str, frozenset[str]] = {}
        self._direct: dict[str, set[str]] = {}  # group → channels placed directly in it
        self._shared: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.places)

    def snapshot(
        self,
        departments: Iterable[Department],
        members: Iterable[Member],
        grants: Iterable[Grant],
    ) -> AccessSnapshot:
        """A snapshot over these tables and the current placements (shared, not copied)."""
        deps = {d.id: d for d in departments}
        by_user: dict[int, list[Grant]] = {}
        by_dept: dict[int, list[Grant]] = {}
        grant_map: dict[str, Grant] = {}
        for grant in grants:
            if grant.revoked_at is not None:
                continue
            grant_map[grant.id] = grant
            if grant.grantee_user_id is not None:
                by_user.setdefault(grant.grantee_user_id, []).append(grant)
            if grant.grantee_department_id is not None:
                by_dept.setdefault(grant.grantee_department_id, []).append(grant)
        return AccessSnapshot(
            departments=deps,
            ancestors=_ancestors(deps),
            members={m.user_id: m for m in members},
            ownership=self.ownership,
            places=self.places,
            channel_groups=self.channel_groups,
            device_channels=self.device_channels,
            user_grants={k: tuple(v) for k, v in by_user.items()},
            department_grants={k: tuple(v) for k, v in by_dept.items()},
            grants=grant_map,
            department_channels=self.department_channels,
            group_channels=self.group_channels,
            shared_channels=self._shared,
        )

    # -- whole tables ----------------------------------------------------------------------

    def set_ownership(self, rows: Iterable[ChannelOwnership]) -> int:
        """Replace the ownership rows; returns how many channels changed owner or sharing."""
        new = {o.channel_id: o for o in rows}
        old = self.ownership
        changed = [c for c in old.keys() | new.keys() if old.get(c) != new.get(c)]
        for channel_id in changed:
            self._unfile_department(channel_id)
        self.ownership = new
        for channel_id in changed:
            self._file_department(channel_id)
        if changed or not old:
            self._shared = tuple(
                o.channel_id
                for o in new.values()
                if o.sharing is not Sharing.NONE
                and o.classification is Classification.PUBLIC_SECURITY
            )
        return len(changed)

    def set_groups(self, groups: Iterable[GroupLink]) -> int:
        """Replace the group tree; returns how many channels' group sets were recomputed."""
        closure = _group_closure(groups)
        old = self._closure
        moved = [g for g in old.keys() | closure.keys() if old.get(g) != closure.get(g)]
        self._closure = closure
        affected: set[str] = set()
        for group in moved:
            affected |= self._direct.get(group, set())
        for channel_id in affected:
            place = self.places[channel_id]
            self._unfile_groups(channel_id)
            self._file_groups(place)
        return len(affected)

    def replace_all(self, places: Iterable[ChannelPlace]) -> None:
        """Replace every placement (a full reload)."""
        grouped = self.known_devices()
        for place in places:
            grouped.setdefault(place.device_id, []).append(place)
        for device_id, found in grouped.items():
            self.replace_device(device_id, found)

    def known_devices(self) -> dict[str, list[ChannelPlace]]:
        """An empty placement list per device known now: a full reload fills them from what
        it read, and a device left empty has no channels any more. ``replace_device`` over
        all of them, in any order and pieces, is ``replace_all``."""
        return {d: [] for d in self.device_channels}

    def replace_device(self, device_id: str, places: Iterable[ChannelPlace]) -> None:
        """Replace one device's placements with ``places`` (empty: it has no channels now)."""
        new = {p.id: p for p in places}
        for channel_id in list(self.device_channels.get(device_id, ())):
            if new.get(channel_id) != self.places.get(channel_id):
                self._remove(channel_id)
        for channel_id, place in new.items():
            if self.places.get(channel_id) != place:
                self._remove(channel_id)  # it may have moved here from another device
                self._add(place)

    # -- one channel -----------------------------------------------------------------------

    def _add(self, place: ChannelPlace) -> None:
        channel_id = place.id
        self.places[channel_id] = place
        self.device_channels.setdefault(place.device_id, set()).add(channel_id)
        self._file_groups(place)
        if channel_id not in self.ownership:
            self._file_department(channel_id)

    def _remove(self, channel_id: str) -> None:
        place = self.places.get(channel_id)
        if place is None:
            return
        if channel_id not in self.ownership:
            self._unfile_department(channel_id)
        self._unfile_groups(channel_id)
        _discard(self.device_channels, place.device_id, channel_id)
        del self.places[channel_id]

    def _file_groups(self, place: ChannelPlace) -> None:
        direct = [g for g in (place.parent_id, place.business_group_id) if g]
        found: set[str] = set(direct)
        for group in direct:
            self._direct.setdefault(group, set()).add(place.id)
            found |= self._closure.get(group, frozenset())
        self.channel_groups[place.id] = frozenset(found)
        for group in found:
            self.group_channels.setdefault(group, set()).add(place.id)

    def _unfile_groups(self, channel_id: str) -> None:
        place = self.places[channel_id]
        for group in (place.parent_id, place.business_group_id):
            if group:
                _discard(self._direct, group, channel_id)
        for group in self.channel_groups.pop(channel_id, frozenset()):
            _discard(self.group_channels, group, channel_id)

    def _department_of(self, channel_id: str) -> int | None:
        owner = self.ownership.get(channel_id)
        if owner is not None:
            return owner.department_id
        return ROOT_DEPARTMENT_ID if channel_id in self.places else None

    def _file_department(self, channel_id: str) -> None:
        department_id = self._department_of(channel_id)
        if department_id is not None:
            self.department_channels.setdefault(department_id, set()).add(channel_id)

    def _unfile_department(self, channel_id: str) -> None:
        department_id = self._department_of(channel_id)
        if department_id is not None:
            _discard(self.department_channels, department_id, channel_id)


def _discard(index: dict[_K, set[str]], key: _K, channel_id: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(channel_id)
        if not members:
            del index[key]
