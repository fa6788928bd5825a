"""Recording plans: when a channel is recorded (continuous, a weekly time table, or on alarm).

A plan is pure data with a pure evaluation, :meth:`RecordingPlan.records_at`: the caller passes
the time (a fake clock in tests) and the platform's time zone, in which the weekly table is
read. Ranges are ``HH:MM-HH:MM`` with the end exclusive; ``24:00`` ends a range at midnight,
and a range may not cross midnight (write two ranges, one per day).

Stored as JSON (:meth:`RecordingPlan.to_json` / :meth:`RecordingPlan.from_json`), so the store
does not need to know the plan's shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

from sightline.media.recording.errors import PlanError

__all__ = ["WEEKDAYS", "PlanMode", "RecordingPlan", "TimeRange", "WeeklySchedule"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_MIN = 24 * 60
_MAX_PRE_POST_S = 600.0


class PlanMode(StrEnum):
    """How a channel is recorded."""

    OFF = "off"
    CONTINUOUS = "continuous"
    SCHEDULED = "scheduled"
    ALARM = "alarm"


def _minutes(text: str) -> int:
    hours, sep, minutes = text.strip().partition(":")
    digits = hours + minutes
    if not sep or not digits.isascii() or not digits.isdigit() or len(minutes) != 2 or not hours:
        raise PlanError(f"time {text!r} must look like HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > _DAY_MIN:
        raise PlanError(f"time {text!r} is not between 00:00 and 24:00")
    return value


def _text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes after local midnight, [start_min, end_min)."""

    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_min < self.end_min <= _DAY_MIN:
            raise PlanError(
                f"time range {_text(self.start_min)}-{_text(self.end_min)} is empty or "
                "crosses midnight (split it into two days)"
            )

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """``08:00-18:30`` → TimeRange; raises PlanError."""
        start, sep, end = text.partition("-")
        if not sep:
            raise PlanError(f"time range {text!r} must look like 08:00-18:30")
        return cls(_minutes(start), _minutes(end))

    def __str__(self) -> str:
        return f"{_text(self.start_min)}-{_text(self.end_min)}"

    def contains(self, minute: float) -> bool:
        """Whether minute-of-day ``minute`` (fractions allowed) is inside."""
        return self.start_min <= minute < self.end_min


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Per weekday (0 = Monday) the time ranges to record."""

    days: tuple[tuple[TimeRange, ...], ...] = ((),) * 7

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise PlanError("a weekly schedule has exactly seven days")

    @classmethod
    def parse(cls, table: Mapping[str, Sequence[str]]) -> WeeklySchedule:
        """``{"mon": ["08:00-12:00"], ...}`` → WeeklySchedule; unknown days raise PlanError."""
        unknown = set(table) - set(WEEKDAYS)
        if unknown:
            raise PlanError(f"unknown weekday(s) {sorted(unknown)}; use {', '.join(WEEKDAYS)}")
        days = []
        for name in WEEKDAYS:
            ranges = sorted(
                (TimeRange.parse(text) for text in table.get(name, ())), key=lambda r: r.start_min
            )
            days.append(tuple(ranges))
        return cls(tuple(days))

    def as_table(self) -> dict[str, list[str]]:
        """The JSON/API form: weekday name → ``HH:MM-HH:MM`` strings."""
        return {name: [str(r) for r in day] for name, day in zip(WEEKDAYS, self.days, strict=True)}

    def active(self, local: datetime) -> bool:
        """Whether the local (wall-clock) time ``local`` falls in a range of its weekday."""
        minute = local.hour * 60 + local.minute + local.second / 60
        return any(r.contains(minute) for r in self.days[local.weekday()])


@dataclass(frozen=True, slots=True)
class RecordingPlan:
    """One channel's plan; ``retention_days`` None means the group's or the default."""

    mode: PlanMode = PlanMode.OFF
    schedule: WeeklySchedule = field(default_factory=WeeklySchedule)
    pre_s: float = 0.0
    post_s: float = 0.0
    retention_days: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("pre_s", self.pre_s), ("post_s", self.post_s)):
            if not 0 <= value <= _MAX_PRE_POST_S:
                raise PlanError(f"{name} must be between 0 and {_MAX_PRE_POST_S:g} s")
        if self.retention_days is not None and self.retention_days < 1:
            raise PlanError("retention_days must be at least 1")

    @property
    def needs_stream_when_idle(self) -> bool:
        """An alarm plan with pre-roll watches the stream all the time to keep the buffer."""
        return self.mode is PlanMode.ALARM and self.pre_s > 0

    def records_at(self, now: datetime, zone: tzinfo, alarm_until: datetime | None) -> bool:
        """Whether the channel should be recording at ``now`` (aware)."""
        if self.mode is PlanMode.CONTINUOUS:
            return True
        if self.mode is PlanMode.SCHEDULED:
            return self.schedule.active(now.astimezone(zone))
        if self.mode is PlanMode.ALARM:
            return alarm_until is not None and now < alarm_until
        return False

    def to_json(self) -> dict[str, Any]:
        """The stored form (retention is stored in its own column)."""
        return {
            "mode": self.mode.value,
            "schedule": self.schedule.as_table(),
            "pre_s": self.pre_s,
            "post_s": self.post_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], retention_days: int | None = None) -> RecordingPlan:
        """Back from :meth:`to_json`; raises PlanError on anything malformed."""
        try:
            return cls(
                mode=PlanMode(data.get("mode", "off")),
                schedule=WeeklySchedule.parse(data.get("schedule") or {}),
                pre_s=float(data.get("pre_s", 0.0)),
                post_s=float(data.get("post_s", 0.0)),
                retention_days=retention_days,
            )
        except (TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, PlanError):
                raise
            raise PlanError(f"malformed recording plan: {exc}") from None
