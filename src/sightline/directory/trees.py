"""Views of the directory as trees: administrative regions and business/virtual groups.

Pure functions from records to nested frozen views with channel counts; the service feeds them
what it read from the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sightline.gb28181.civil import CivilLevel, RegionNode, build_region_tree
from sightline.store import Group, GroupKind, Region

__all__ = [
    "ChannelPlacement",
    "GroupView",
    "RegionForest",
    "RegionView",
    "build_group_views",
    "build_region_views",
    "prune_groups",
    "prune_regions",
]


@dataclass(frozen=True, slots=True)
class ChannelPlacement:
    """Where one channel sits in the trees."""

    channel_id: str
    civil_code: str | None
    business_group_id: str | None
    parent_id: str | None


@dataclass(frozen=True)
class RegionView:
    """One area: ``channel_count`` directly in it, ``total_channels`` in its whole subtree.

    ``named`` is False when no catalog gave the area a name; ``name`` is then its code.
    """

    code: str
    name: str
    named: bool
    level: CivilLevel
    channel_count: int
    total_channels: int
    children: tuple[RegionView, ...] = ()


@dataclass(frozen=True)
class RegionForest:
    """The provinces, and how many channels have no usable civil code."""

    roots: tuple[RegionView, ...]
    unplaced: int


@dataclass(frozen=True)
class GroupView:
    """A business group or virtual organisation with the channels directly in it."""

    id: str
    kind: GroupKind
    name: str
    business_group_id: str | None
    channel_count: int
    children: tuple[GroupView, ...] = ()


def _region_view(node: RegionNode, names: Mapping[str, str]) -> RegionView:
    children = tuple(_region_view(child, names) for child in node.children)
    name = names.get(node.code, "")
    direct = len(node.channels)
    return RegionView(
        code=node.code,
        name=name or node.code,
        named=bool(name),
        level=node.level,
        channel_count=direct,
        total_channels=direct + sum(c.total_channels for c in children),
        children=children,
    )


def build_region_views(
    regions: Iterable[Region], channels: Iterable[ChannelPlacement]
) -> RegionForest:
    """The region forest of the stored areas and every channel's civil code."""
    names = {r.code: r.name for r in regions}
    tree = build_region_tree(names, {c.channel_id: c.civil_code for c in channels})
    return RegionForest(tuple(_region_view(r, names) for r in tree.roots), len(tree.unplaced))


def _memberships(channels: Iterable[ChannelPlacement], known: set[str]) -> dict[str, int]:
    """Channels per group, counted the way the channel list filters by group."""
    counts: dict[str, int] = {}
    for channel in channels:
        parents = {p for p in (channel.parent_id or "").split("/") if p}
        if channel.business_group_id:
            parents.add(channel.business_group_id)
        for group_id in parents & known:
            counts[group_id] = counts.get(group_id, 0) + 1
    return counts


def build_group_views(
    groups: Sequence[Group], channels: Iterable[ChannelPlacement]
) -> tuple[GroupView, ...]:
    """Groups nested by ``parent_id``; groups whose parent is unknown (or a cycle) are roots."""
    by_id = {g.id: g for g in groups}
    counts = _memberships(channels, set(by_id))
    children: dict[str, list[Group]] = {}
    roots: list[Group] = []
    for group in sorted(groups, key=lambda g: g.id):
        parent = group.parent_id
        if parent is not None and parent in by_id and not _in_cycle(group, by_id):
            children.setdefault(parent, []).append(group)
        else:
            roots.append(group)

    def view(group: Group) -> GroupView:
        kids = tuple(view(child) for child in children.get(group.id, ()))
        return GroupView(
            id=group.id,
            kind=group.kind,
            name=group.name or group.id,
            business_group_id=group.business_group_id,
            channel_count=counts.get(group.id, 0),
            children=kids,
        )

    return tuple(view(g) for g in roots)


def _in_cycle(group: Group, by_id: Mapping[str, Group]) -> bool:
    """Whether following parents from ``group`` leads back to it."""
    seen: set[str] = set()
    parent = group.parent_id
    while parent is not None and parent in by_id and parent not in seen:
        if parent == group.id:
            return True
        seen.add(parent)
        parent = by_id[parent].parent_id
    return False


def prune_regions(forest: RegionForest) -> RegionForest:
    """The forest without areas that hold no channel in their subtree (for a filtered view)."""

    def keep(node: RegionView) -> RegionView | None:
        if node.total_channels == 0:
            return None
        kids = tuple(k for k in (keep(c) for c in node.children) if k is not None)
        return RegionView(
            node.code, node.name, node.named, node.level, node.channel_count,
            node.total_channels, kids,
        )  # fmt: skip

    roots = tuple(r for r in (keep(root) for root in forest.roots) if r is not None)
    return RegionForest(roots, forest.unplaced)


def prune_groups(groups: Sequence[GroupView]) -> tuple[GroupView, ...]:
    """The groups that hold a channel themselves or somewhere below (for a filtered view)."""

    def keep(group: GroupView) -> GroupView | None:
        kids = tuple(k for k in (keep(c) for c in group.children) if k is not None)
        if group.channel_count == 0 and not kids:
            return None
        return GroupView(
            group.id, group.kind, group.name, group.business_group_id, group.channel_count, kids
        )

    return tuple(g for g in (keep(group) for group in groups) if g is not None)
