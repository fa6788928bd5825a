"""Retention rules as pure functions: how long a channel keeps video, how much must go.

A channel keeps its segments for its plan's ``retention_days``, else its business group's,
else the platform default. Independently, the disk ceiling (bytes of recordings, and/or a
percentage of the filesystem) is enforced by deleting the oldest segments of any channel
first. The service applies these; every deletion is audited by its caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = ["DeletedSegment", "DeletionReason", "DiskUsage", "bytes_to_free", "retention_days"]


class DeletionReason(StrEnum):
    """Why a segment was deleted."""

    AGE = "retention"
    CEILING = "disk-ceiling"


@dataclass(frozen=True, slots=True)
class DeletedSegment:
    """A segment removed by retention (for the audit log)."""

    channel_id: str
    start: datetime
    end: datetime
    path: str
    size_bytes: int
    reason: DeletionReason


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """Bytes held by recordings, and the filesystem's used/total bytes."""

    recordings: int
    fs_used: int
    fs_total: int


def retention_days(
    channel_id: str,
    plan_days: Mapping[str, int | None],
    group_days: Mapping[str, int],
    default_days: int,
) -> int:
    """The channel's own setting, else its group's, else the default."""
    return plan_days.get(channel_id) or group_days.get(channel_id) or default_days


def cutoff(now: datetime, days: int) -> datetime:
    """Segments ending before this are expired."""
    return now - timedelta(days=days)


def bytes_to_free(
    usage: DiskUsage, ceiling_bytes: int | None, ceiling_percent: float | None
) -> int:
    """How many bytes of recordings must go to get under both ceilings (0 when under)."""
    need = 0
    if ceiling_bytes is not None:
        need = max(need, usage.recordings - ceiling_bytes)
    if ceiling_percent is not None and usage.fs_total > 0:
        allowed = int(usage.fs_total * ceiling_percent / 100)
        need = max(need, usage.fs_used - allowed)
    return max(0, min(need, usage.recordings))
