"""Request and response shapes of recording plans and recording status."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sightline.media.recording import PlanMode, RecorderStatus, RecordingPlan, RecordingStatus
from sightline.media.recording.plans import WEEKDAYS

__all__ = [
    "GroupRetentionIn",
    "GroupRetentionOut",
    "RecorderOut",
    "RecordingPlanIn",
    "RecordingPlanOut",
    "RecordingStatusOut",
]

_SCHEDULE_DOC = (
    "weekday (" + ", ".join(WEEKDAYS) + ") → time ranges HH:MM-HH:MM in the platform's time "
    "zone, end exclusive, 24:00 allowed; a range may not cross midnight"
)


class RecordingPlanIn(BaseModel):
    """A channel's recording plan."""

    model_config = ConfigDict(extra="forbid")

    mode: PlanMode = Field(description="off, continuous, scheduled or alarm")
    schedule: dict[str, list[str]] = Field(
        default_factory=dict, max_length=7, description=_SCHEDULE_DOC
    )
    pre_s: float = Field(default=0.0, ge=0, le=600, description="alarm: seconds kept before it")
    post_s: float = Field(default=0.0, ge=0, le=600, description="alarm: seconds recorded after")
    retention_days: int | None = Field(
        default=None, ge=1, le=3650, description="days kept; empty: the group's or the default"
    )

    def plan(self) -> RecordingPlan:
        """As the recorder's plan; raises PlanError on a bad table."""
        return RecordingPlan.from_json(
            {
                "mode": self.mode.value,
                "schedule": self.schedule,
                "pre_s": self.pre_s,
                "post_s": self.post_s,
            },
            self.retention_days,
        )


class RecordingPlanOut(BaseModel):
    """A channel's plan as stored, and whether it records now."""

    channel_id: str
    mode: PlanMode
    schedule: dict[str, list[str]]
    pre_s: float
    post_s: float
    retention_days: int | None
    recording_now: bool

    @classmethod
    def of(cls, channel_id: str, plan: RecordingPlan, recording_now: bool) -> RecordingPlanOut:
        """From the recorder's plan."""
        return cls(
            channel_id=channel_id,
            mode=plan.mode,
            schedule=plan.schedule.as_table(),
            pre_s=plan.pre_s,
            post_s=plan.post_s,
            retention_days=plan.retention_days,
            recording_now=recording_now,
        )


class RecorderOut(BaseModel):
    """One channel's recorder."""

    channel_id: str
    state: str = Field(description="connecting, recording, armed (alarm pre-roll), retrying")
    recording: bool
    bytes_written: int
    frames: int
    segments: int
    dropped_frames: int
    last_error: str | None

    @classmethod
    def of(cls, status: RecorderStatus) -> RecorderOut:
        """From the service's snapshot."""
        return cls(
            channel_id=status.channel_id,
            state=status.state,
            recording=status.recording,
            bytes_written=status.bytes_written,
            frames=status.frames,
            segments=status.segments,
            dropped_frames=status.dropped_frames,
            last_error=status.last_error,
        )


class RecordingStatusOut(BaseModel):
    """What is recording now."""

    channels: list[RecorderOut]
    disk_full: bool
    stored_bytes: int
    written_bytes: int
    queued_bytes: int
    dropped_frames: int
    segments_deleted: int

    @classmethod
    def of(cls, status: RecordingStatus) -> RecordingStatusOut:
        """From the service's snapshot."""
        channels = [RecorderOut.of(r) for r in status.recorders]
        return cls(
            channels=channels,
            disk_full=status.disk_full,
            stored_bytes=status.recordings_bytes,
            written_bytes=status.bytes_written,
            queued_bytes=status.queued_bytes,
            dropped_frames=sum(c.dropped_frames for c in channels),
            segments_deleted=status.segments_deleted,
        )


class GroupRetentionIn(BaseModel):
    """Retention of a business group's channels."""

    model_config = ConfigDict(extra="forbid")

    retention_days: int | None = Field(
        ge=1, le=3650, description="days kept for the group's channels; empty clears it"
    )


class GroupRetentionOut(BaseModel):
    """A group's retention (None: the platform default applies)."""

    group_id: str
    retention_days: int | None
    default_days: int
