"""Platform recording: plans, segmented fMP4 files, crash repair, retention, playback, export.

plans        when a channel records (continuous, weekly table, on alarm)      pure
segments     access units → open/append/close operations (cuts on key frames) sans-IO
files        the writer thread: .part files, fsync, rename, ENOSPC
recorder     one channel: a hub viewer feeding the assembler; pre-roll buffer
repair       salvage .part files, list files for index reconciliation
retention    how long and how much to keep                                     pure
service      RecordingService: ties the above to the index and the clock
mp4_reader   reads the segments back                                           pure
player       SegmentPlayback: paced frames with pause/resume/seek/scale
source       PlatformRecordSource: search, open_playback, export (RecordSource)
"""

from __future__ import annotations

from sightline.media.recording.errors import (
    Mp4FormatError,
    NoRecordingError,
    PlanError,
    RecordingError,
)
from sightline.media.recording.index import (
    ClosedSegment,
    PlanRow,
    PlanStore,
    SegmentIndex,
    SegmentRow,
)
from sightline.media.recording.metrics import RecordingCollector
from sightline.media.recording.plans import PlanMode, RecordingPlan, TimeRange, WeeklySchedule
from sightline.media.recording.player import SegmentPlayback
from sightline.media.recording.recorder import RecorderStatus
from sightline.media.recording.retention import DeletedSegment, DeletionReason
from sightline.media.recording.service import RecordingOptions, RecordingService, RecordingStatus
from sightline.media.recording.source import PlatformRecordSource

__all__ = [
    "ClosedSegment",
    "DeletedSegment",
    "DeletionReason",
    "Mp4FormatError",
    "NoRecordingError",
    "PlanError",
    "PlanMode",
    "PlanRow",
    "PlanStore",
    "PlatformRecordSource",
    "RecorderStatus",
    "RecordingCollector",
    "RecordingError",
    "RecordingOptions",
    "RecordingPlan",
    "RecordingService",
    "RecordingStatus",
    "SegmentIndex",
    "SegmentPlayback",
    "SegmentRow",
    "TimeRange",
    "WeeklySchedule",
]
