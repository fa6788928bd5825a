"""What the recorder needs from storage, as small protocols (the store implements them).

``media`` may not import ``store``, so the index of segments and the plans are reached through
:class:`SegmentIndex` and :class:`PlanStore`; ``sightline.store.repositories.recording``
provides one class satisfying both, and ``node`` hands it over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["ClosedSegment", "PlanRow", "PlanStore", "SegmentIndex", "SegmentRow", "WriteFailure"]


@dataclass(frozen=True, slots=True)
class ClosedSegment:
    """A segment file closed under its final name (``path`` relative to the recordings root)."""

    channel_id: str
    start: datetime
    end: datetime
    path: str
    size_bytes: int
    codec: str
    kind: str = "time"  # GB/T 28181 record type: time (continuous, scheduled) or alarm


@dataclass(frozen=True, slots=True)
class WriteFailure:
    """A segment write failed; ``disk_full`` for ENOSPC/EDQUOT."""

    channel_id: str
    error: str
    disk_full: bool


class SegmentRow(Protocol):
    """One index row."""

    @property
    def channel_id(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def path(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def codec(self) -> str: ...
    @property
    def kind(self) -> str: ...


class SegmentIndex(Protocol):
    """The index of closed segments."""

    async def add_segments(self, segments: Sequence[ClosedSegment]) -> None:
        """Insert rows (an existing path is replaced)."""
        ...

    async def segments_between(
        self, channel_id: str, start: datetime, end: datetime
    ) -> Sequence[SegmentRow]:
        """Segments of the channel overlapping [start, end), oldest first."""
        ...

    async def all_paths(self) -> set[str]:
        """Every indexed path."""
        ...

    async def delete_paths(self, paths: Sequence[str]) -> None:
        """Remove the rows of these paths."""
        ...

    async def oldest(
        self, limit: int, *, channel_id: str | None = None, ending_before: datetime | None = None
    ) -> Sequence[SegmentRow]:
        """The oldest segments (by start), optionally of one channel / ended before a time."""
        ...

    async def total_bytes(self) -> int:
        """The size of every indexed segment."""
        ...

    async def recorded_channels(self) -> list[str]:
        """Channels that have segments."""
        ...


class PlanRow(Protocol):
    """One stored plan: the plan's JSON and the channel's own retention."""

    @property
    def channel_id(self) -> str: ...
    @property
    def plan(self) -> Mapping[str, Any]: ...
    @property
    def retention_days(self) -> int | None: ...


class PlanStore(Protocol):
    """Where plans and group retention are kept."""

    async def load_plans(self) -> Sequence[PlanRow]:
        """Every channel's plan."""
        ...

    async def save_plan(
        self,
        channel_id: str,
        plan: Mapping[str, Any],
        retention_days: int | None,
        updated_by: str | None,
    ) -> None:
        """Create or replace a channel's plan."""
        ...

    async def group_retention(self, group_id: str) -> int | None:
        """A business group's retention days, if set."""
        ...

    async def set_group_retention(self, group_id: str, days: int | None) -> None:
        """Set (or with None, clear) a business group's retention days."""
        ...

    async def group_retention_of_channels(self) -> Mapping[str, int]:
        """Channel → retention days set on its business group (channels without one absent)."""
        ...
