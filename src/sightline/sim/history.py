"""A simulated channel's recording history, and the clock of one playback of it (sans-IO).

History: every channel "recorded" continuously for the last :data:`RETENTION_DAYS` days, in
one file per hour (as NVRs cut them), up to the current hour. Some hours have a gap: their
file ends early, at minute 20, 30 or 40. Which hours, and how long, follows from a CRC of the
channel ID and the hour, so every run (and every test) sees the same history without storing
anything, and two channels differ. A day has a few gaps, so a day's search returns several
segments.

RecordInfo answers are local times of the simulator's zone (Beijing), split into messages of
``page_size`` items that all carry the total ``SumNum``, as real NVRs send them.

:class:`PlaybackClock` says which recorded instant each frame of a playback or download shows:
it starts at the asked start, advances ``scale / fps`` recorded seconds per frame, jumps over
gaps, can be paused, sought and sped up, and finishes at the asked end. Pacing (how fast frames
go out) is the feed's business: one frame per ``1 / (fps * speed)`` wall seconds.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from sightline.gb28181.manscdp import RecordInfoResponse, RecordItem
from sightline.media.playback import SCALES

__all__ = [
    "RETENTION_DAYS",
    "SIM_ZONE",
    "PlaybackClock",
    "SimRecording",
    "record_info_pages",
    "recordings",
]

RETENTION_DAYS = 30
SIM_ZONE = timezone(timedelta(hours=8), "CST")  # simulated devices keep Beijing time
_HOUR = 3600
_GAP_EVERY = 5  # about one hour in five has a gap
_GAP_ENDS_MIN = (20, 30, 40)  # where a gapped hour's file stops
_MAX_ITEMS = 2000  # per answer: a month of hourly files fits


@dataclass(frozen=True, slots=True)
class SimRecording:
    """One recorded file: [start, end) in Unix seconds."""

    start: int
    end: int
    kind: str = "time"


def _hour_end(channel_id: str, hour: int) -> int:
    mark = zlib.crc32(f"{channel_id}/{hour}".encode())
    if mark % _GAP_EVERY:
        return (hour + 1) * _HOUR
    return hour * _HOUR + _GAP_ENDS_MIN[(mark >> 8) % len(_GAP_ENDS_MIN)] * 60


def recordings(channel_id: str, start: float, end: float, now: float) -> list[SimRecording]:
    """The channel's files overlapping [start, end), oldest first (none after ``now``)."""
    first_hour = max(int(start) // _HOUR, int(now) // _HOUR - RETENTION_DAYS * 24)
    last_hour = min(int(end - 1e-9) // _HOUR, int(now) // _HOUR)
    found = []
    for hour in range(first_hour, last_hour + 1):
        begin, finish = hour * _HOUR, min(_hour_end(channel_id, hour), int(now))
        if finish > begin and finish > start and begin < end:
            found.append(SimRecording(begin, finish))
        if len(found) >= _MAX_ITEMS:
            break
    return found


def _local(unix_s: int, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(unix_s, UTC).astimezone(zone).replace(tzinfo=None)


def record_info_pages(
    sn: int,
    channel_id: str,
    files: list[SimRecording],
    zone: tzinfo,
    page_size: int,
    *,
    name: str | None = None,
) -> tuple[RecordInfoResponse, ...]:
    """A RecordInfo answer split into messages of at most ``page_size`` items."""
    items = [
        RecordItem(
            device_id=channel_id,
            name=name or channel_id,
            file_path=f"/record/{channel_id}/{f.start}.ps",
            address="sim",
            start_time=_local(f.start, zone),
            end_time=_local(f.end, zone),
            secrecy=0,
            record_type=f.kind,
            file_size=(f.end - f.start) * 128_000,  # about 1 Mbit/s
        )
        for f in files
    ]
    if not items:
        return (RecordInfoResponse(sn=sn, device_id=channel_id, name=name, sum_num=0),)
    return tuple(
        RecordInfoResponse(
            sn=sn,
            device_id=channel_id,
            name=name,
            sum_num=len(items),
            items=tuple(items[i : i + page_size]),
        )
        for i in range(0, len(items), page_size)
    )


class PlaybackClock:
    """The recorded instant of each frame of one playback or download (module docstring)."""

    def __init__(
        self,
        channel_id: str,
        start: float,
        end: float,
        *,
        fps: int,
        now: float,
        speed: int = 1,
    ) -> None:
        if end <= start:
            raise ValueError(f"playback end {end} is not after start {start}")
        self.channel_id = channel_id
        self.start = start
        self.end = end
        self.fps = fps
        self.speed = speed
        self.scale = 1.0
        self.paused = False
        self.frames = 0
        self._files = recordings(channel_id, start, end, now)
        # position = anchor + steps * scale / fps: counted, so no rounding error builds up
        self._anchor = self._recorded_from(start)
        self._steps = 0

    @property
    def position(self) -> float:
        """The recorded instant the next frame shows."""
        return self._anchor + self._steps * self.scale / self.fps

    def _move_to(self, moment: float) -> None:
        self._anchor, self._steps = moment, 0

    @property
    def frame_interval_s(self) -> float:
        """Wall seconds between two frames."""
        return 1.0 / (self.fps * self.speed)

    @property
    def finished(self) -> bool:
        """Whether the end of the asked range (or of the last file in it) was reached."""
        return self.position >= self.end

    def _recorded_from(self, moment: float) -> float:
        for f in self._files:
            if moment < f.end:
                return max(moment, float(f.start))
        return self.end  # nothing recorded from here on

    def next_frame(self) -> float | None:
        """The recorded instant of the next frame, or None when finished or paused."""
        if self.paused or self.finished:
            return None
        shown = self.position
        self.frames += 1
        self._steps += 1
        following = self.position
        recorded = self._recorded_from(following)
        if recorded != following:
            self._move_to(recorded)  # over a gap, or past the last file
        return shown

    def pause(self) -> None:
        """Stop at the current position."""
        self.paused = True

    def resume(self) -> None:
        """Go on from the current position."""
        self.paused = False

    def seek(self, offset_s: float) -> None:
        """Go to ``offset_s`` seconds after the asked start (over gaps to the next file)."""
        if offset_s < 0:
            raise ValueError(f"seek offset {offset_s} is negative")
        self._move_to(self._recorded_from(min(self.start + offset_s, self.end)))

    def set_scale(self, scale: float) -> None:
        """Play at ``scale`` times real time (one of SCALES; the simulator plays forward only)."""
        if scale not in SCALES:
            raise ValueError(f"scale {scale} is not one of {SCALES}")
        self._move_to(self.position)
        self.scale = scale
