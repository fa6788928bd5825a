"""An immutable, indexed picture of the access model that the policy decides over.

Built from whole-table reads (``AccessRepository.load_*``) by :func:`build_snapshot`; nothing
here does I/O, so a permission check is a few dictionary look-ups. ``AccessModel`` swaps in a
new snapshot after every change it makes and when the current one is older than its TTL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sightline.store.models.access import ROOT_DEPARTMENT_ID, Classification, Sharing
from sightline.store.repositories.access import (
    ChannelOwnership,
    ChannelPlace,
    Department,
    Grant,
    GroupLink,
    Member,
)

__all__ = ["AccessSnapshot", "build_snapshot", "default_ownership"]

_EPOCH = datetime.fromtimestamp(0).astimezone()


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
    device_channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    user_grants: Mapping[int, tuple[Grant, ...]] = field(default_factory=dict)
    department_grants: Mapping[int, tuple[Grant, ...]] = field(default_factory=dict)
    grants: Mapping[str, Grant] = field(default_factory=dict)
    department_channels: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    group_channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
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
    deps = {d.id: d for d in departments}
    closure = _group_closure(groups)
    place_map = {p.id: p for p in places}
    channel_groups: dict[str, frozenset[str]] = {}
    device_channels: dict[str, list[str]] = {}
    for place in place_map.values():
        direct = [g for g in (place.parent_id, place.business_group_id) if g]
        found: set[str] = set(direct)
        for group in direct:
            found |= closure.get(group, frozenset())
        channel_groups[place.id] = frozenset(found)
        device_channels.setdefault(place.device_id, []).append(place.id)
    ownership_map = {o.channel_id: o for o in ownership}
    by_department: dict[int, list[str]] = {}
    for channel_id in set(place_map) | set(ownership_map):
        owner = ownership_map.get(channel_id)
        dep_id = owner.department_id if owner is not None else ROOT_DEPARTMENT_ID
        by_department.setdefault(dep_id, []).append(channel_id)
    group_channels: dict[str, list[str]] = {}
    for channel_id, found_groups in channel_groups.items():
        for group in found_groups:
            group_channels.setdefault(group, []).append(channel_id)
    shared = tuple(
        o.channel_id
        for o in ownership_map.values()
        if o.sharing is not Sharing.NONE and o.classification is Classification.PUBLIC_SECURITY
    )
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
        ownership=ownership_map,
        places=place_map,
        channel_groups=channel_groups,
        device_channels={k: tuple(v) for k, v in device_channels.items()},
        user_grants={k: tuple(v) for k, v in by_user.items()},
        department_grants={k: tuple(v) for k, v in by_dept.items()},
        grants=grant_map,
        department_channels={k: tuple(v) for k, v in by_department.items()},
        group_channels={k: tuple(v) for k, v in group_channels.items()},
        shared_channels=shared,
    )
