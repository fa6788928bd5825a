"""The region and group trees as the API shows them."""

from __future__ import annotations

from pydantic import BaseModel

from sightline.directory import GroupView, RegionForest, RegionView

__all__ = ["GroupOut", "GroupTreeOut", "RegionOut", "RegionTreeOut"]


class RegionOut(BaseModel):
    """An area: ``channel_count`` directly in it, ``total_channels`` in its subtree."""

    code: str
    name: str
    named: bool
    level: str
    channel_count: int
    total_channels: int
    children: list[RegionOut]

    @classmethod
    def of(cls, view: RegionView) -> RegionOut:
        """The view of one area and its sub-areas."""
        return cls(
            code=view.code,
            name=view.name,
            named=view.named,
            level=view.level.name.lower(),
            channel_count=view.channel_count,
            total_channels=view.total_channels,
            children=[cls.of(child) for child in view.children],
        )


class RegionTreeOut(BaseModel):
    """The provinces; ``unplaced`` counts channels without a usable civil code."""

    regions: list[RegionOut]
    unplaced: int

    @classmethod
    def of(cls, forest: RegionForest) -> RegionTreeOut:
        """The view of the whole forest."""
        return cls(regions=[RegionOut.of(r) for r in forest.roots], unplaced=forest.unplaced)


class GroupOut(BaseModel):
    """A business group (``business``) or virtual organisation (``virtual``)."""

    id: str
    kind: str
    name: str
    business_group_id: str | None
    channel_count: int
    children: list[GroupOut]

    @classmethod
    def of(cls, view: GroupView) -> GroupOut:
        """The view of one group and its sub-groups."""
        return cls(
            id=view.id,
            kind=view.kind.value,
            name=view.name,
            business_group_id=view.business_group_id,
            channel_count=view.channel_count,
            children=[cls.of(child) for child in view.children],
        )


class GroupTreeOut(BaseModel):
    """The top-level groups."""

    groups: list[GroupOut]
