"""Errors of platform recording.

MediaError
└── RecordingError            platform recording cannot do what was asked
    ├── Mp4FormatError        a segment file is not the fragmented MP4 this package writes
    ├── PlanError             a recording plan is malformed (bad time range, weekday)
    ├── NoRecordingError      nothing is recorded for the channel in the requested time
    └── ExportCancelledError  an export was cancelled; its partial file is gone
"""

from __future__ import annotations

from sightline.media.errors import MediaError

__all__ = [
    "ExportCancelledError",
    "Mp4FormatError",
    "NoRecordingError",
    "PlanError",
    "RecordingError",
]


class RecordingError(MediaError):
    """Platform recording cannot do what was asked."""


class Mp4FormatError(RecordingError):
    """A segment file is truncated or not the fragmented MP4 written by the recorder."""


class PlanError(RecordingError, ValueError):
    """A recording plan is malformed."""


class NoRecordingError(RecordingError, LookupError):
    """No recorded segment covers the requested time."""


class ExportCancelledError(RecordingError):
    """An export was cancelled while its worker thread was writing; the partial file is gone."""
