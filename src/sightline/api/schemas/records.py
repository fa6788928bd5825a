"""Recordings, playback sessions and downloads as the API shows them.

Times are ISO 8601 with a zone (``2026-11-24T08:00:00Z``); answers are always UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_serializer, field_validator

from sightline.api.schemas.live import LiveUrls
from sightline.media.downloads import DownloadState
from sightline.media.playback import RecordSourceName

__all__ = [
    "DownloadIn",
    "DownloadOut",
    "DownloadStatusOut",
    "PlaybackControlIn",
    "PlaybackControlOut",
    "PlaybackIn",
    "PlaybackOut",
    "RecordOut",
    "RecordsOut",
]


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class RecordOut(BaseModel):
    """One recorded stretch of a channel."""

    channel_id: str
    start: datetime
    end: datetime
    source: RecordSourceName
    size_bytes: int | None = Field(default=None, description="as the recorder reports it")
    kind: str = Field(description="time (continuous or scheduled), alarm or manual")

    @field_serializer("start", "end")
    def _as_utc(self, value: datetime) -> str:
        return _utc(value)


class RecordsOut(BaseModel):
    """The recordings overlapping the asked range, oldest first."""

    items: list[RecordOut]


class PlaybackIn(BaseModel):
    """What to play."""

    model_config = {"extra": "forbid"}

    start: AwareDatetime = Field(description="from this instant (with a zone)")
    end: AwareDatetime = Field(description="until this instant (with a zone)")
    source: RecordSourceName = RecordSourceName.DEVICE


class PlaybackOut(BaseModel):
    """A running playback session and the URLs that play it."""

    session_id: str
    channel_id: str
    source: RecordSourceName
    start: datetime
    end: datetime
    urls: LiveUrls
    token: str = Field(description="the stream token; single user, channel and client")
    expires_at: datetime = Field(description="start playing before this (UTC)")

    @field_serializer("start", "end", "expires_at")
    def _as_utc(self, value: datetime) -> str:
        return _utc(value)


class PlaybackControlIn(BaseModel):
    """A VCR command for a running session."""

    model_config = {"extra": "forbid"}

    action: Literal["pause", "resume", "seek", "scale"]
    offset_s: float | None = Field(
        default=None, ge=0, le=31 * 86400, description="seek: seconds after the session's start"
    )
    scale: float | None = Field(default=None, description="scale: 0.5, 1, 2, 4 or 8")


class PlaybackControlOut(BaseModel):
    """The session after the command."""

    session_id: str
    action: str
    paused: bool | None = None
    scale: float | None = None


class DownloadIn(BaseModel):
    """What to export to MP4, and why (kept in the audit trail)."""

    model_config = {"extra": "forbid"}

    start: AwareDatetime
    end: AwareDatetime
    source: RecordSourceName = RecordSourceName.DEVICE
    purpose: str = Field(min_length=1, max_length=500, description="why the video is needed")

    @field_validator("purpose")
    @classmethod
    def _said_something(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("purpose must say why the video is needed")
        return text


class DownloadOut(BaseModel):
    """A started download."""

    download_id: str
    state: DownloadState


class DownloadStatusOut(BaseModel):
    """Where a download is."""

    download_id: str
    channel_id: str
    source: RecordSourceName
    start: datetime
    end: datetime
    state: DownloadState
    progress: float = Field(ge=0, le=1)
    size_bytes: int | None = None
    error: str | None = None

    @field_serializer("start", "end")
    def _as_utc(self, value: datetime) -> str:
        return _utc(value)
