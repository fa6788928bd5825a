"""Recorded video, wherever it is kept: the seam between recordings and their viewers.

Two sources answer the same questions: the device's own recordings (GB/T 28181 RecordInfo,
Playback and Download INVITEs; ``sightline.gb28181``) and sightline's platform recordings
(segment files in ``data_dir``; ``sightline.media.recording``). The API picks a source by name
(``device`` or ``platform``) and never needs to know which one it drives.

A playback session is an :class:`~sightline.media.hub.Upstream` (frames out, close) with VCR
controls, so it is delivered to browsers exactly like live video, by the same fMP4 packager.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from sightline.media.hub import Upstream

__all__ = [
    "SCALES",
    "PlaybackUpstream",
    "RecordSegment",
    "RecordSource",
    "RecordSourceName",
]

# Playback speeds the console offers; sources refuse others with ValueError.
SCALES: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)


class RecordSourceName(StrEnum):
    """Where a recording is kept."""

    DEVICE = "device"
    PLATFORM = "platform"


@dataclass(frozen=True, slots=True)
class RecordSegment:
    """One recorded stretch of a channel; times are timezone-aware (UTC)."""

    channel_id: str
    start: datetime
    end: datetime
    source: RecordSourceName
    size_bytes: int | None = None
    kind: str = "time"  # GB/T 28181 record Type: time, alarm, manual


class PlaybackUpstream(Upstream, Protocol):
    """A playback session: access units in presentation order, plus VCR controls."""

    async def pause(self) -> None:
        """Stop sending frames until :meth:`resume`."""
        ...

    async def resume(self) -> None:
        """Continue after :meth:`pause`."""
        ...

    async def seek(self, offset_s: float) -> None:
        """Jump to ``offset_s`` seconds after the session's start time."""
        ...

    async def set_scale(self, scale: float) -> None:
        """Play at ``scale`` × real time (one of :data:`SCALES`)."""
        ...


class RecordSource(Protocol):
    """Search, play and export the recordings of one kind of store."""

    name: RecordSourceName

    async def search(self, channel_id: str, start: datetime, end: datetime) -> list[RecordSegment]:
        """The recorded segments of ``channel_id`` overlapping [start, end), oldest first."""
        ...

    async def open_playback(
        self, channel_id: str, start: datetime, end: datetime
    ) -> PlaybackUpstream:
        """Start playing ``channel_id`` from ``start`` until ``end``."""
        ...

    async def export(
        self,
        channel_id: str,
        start: datetime,
        end: datetime,
        destination: Path,
        progress: Callable[[float], None],
    ) -> Path:
        """Write [start, end) as a standard MP4 file; ``progress`` gets 0.0…1.0 as it goes."""
        ...
