"""One channel's recorder: a viewer of the channel's live stream that writes segments.

The recorder joins the shared stream through the same ``join``/``leave`` live viewers use
(``LiveService.join``), so recording a watched channel costs no second INVITE and keeps the
stream up as a viewer would. While :attr:`ChannelRecorder.recording` is off (an alarm plan
waiting for its alarm) units go into a :class:`PreRoll` buffer of whole GOPs covering at least
``pre_s``; switching it on replays the buffer into the new segment first.

A failed stream (device offline, BYE, no media) is retried every ``retry_s`` while the plan
wants the channel; the task never lets an exception escape.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sightline.media.hub import Viewer, is_video_key
from sightline.media.ps_frames import AccessUnit
from sightline.media.recording.files import SegmentFiles
from sightline.media.recording.segments import AppendFragment, SegmentAssembler, SegmentOp

__all__ = ["ChannelRecorder", "Join", "Leave", "PreRoll", "RecorderStatus"]

log = logging.getLogger(__name__)

Join = Callable[[str], Awaitable[Viewer]]
Leave = Callable[[Viewer], None]
_TICKS = 90000


class PreRoll:
    """The last ``pre_s`` seconds of a stream, from a key frame, bounded by ``max_bytes``."""

    def __init__(self, pre_s: float, max_bytes: int = 64 << 20) -> None:
        self.pre_ticks = round(pre_s * _TICKS)
        self.max_bytes = max_bytes
        self._units: deque[tuple[AccessUnit, datetime]] = deque()
        self._keys: deque[int] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._units)

    def add(self, unit: AccessUnit, wall: datetime) -> None:
        """Keep ``unit``; drop whole GOPs no longer needed to cover ``pre_s``."""
        if unit.stream_id < 0xE0:
            return
        key = is_video_key(unit)
        if not self._units and not key:
            return
        if key:
            self._keys.append(unit.dts_90k)
        self._units.append((unit, wall))
        self._bytes += len(unit.data)
        newest = unit.dts_90k
        while len(self._keys) >= 2 and (
            self._keys[1] <= newest - self.pre_ticks or self._bytes > self.max_bytes
        ):
            self._keys.popleft()
            while self._units[0][0].dts_90k < self._keys[0]:
                self._bytes -= len(self._units.popleft()[0].data)

    def drain(self) -> list[tuple[AccessUnit, datetime]]:
        """Everything buffered, oldest first; the buffer is empty afterwards."""
        units = list(self._units)
        self._units.clear()
        self._keys.clear()
        self._bytes = 0
        return units


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """What one recorder is doing, for ``/api/v1/recordings/status`` and metrics."""

    channel_id: str
    state: str  # connecting, recording, armed, retrying
    recording: bool
    bytes_written: int
    frames: int
    segments: int
    dropped_frames: int
    last_error: str | None


class ChannelRecorder:
    """Records one channel while :attr:`recording`; see the module docstring."""

    def __init__(
        self,
        channel_id: str,
        *,
        join: Join,
        leave: Leave,
        files: SegmentFiles,
        clock: Callable[[], datetime],
        segment_s: float,
        fragment_s: float = 1.0,
        pre_s: float = 0.0,
        retry_s: float = 5.0,
        kind: str = "time",
    ) -> None:
        self.channel_id = channel_id
        self.kind = kind  # record type of its segments: time, or alarm
        self.recording = False
        self.state = "connecting"
        self.bytes_written = 0
        self.frames = 0  # video frames written into segments
        self.segments = 0
        self.last_error: str | None = None
        self._join, self._leave, self._files, self._clock = join, leave, files, clock
        self._segment_s, self._fragment_s, self._retry_s = segment_s, fragment_s, retry_s
        self._assembler = self._new_assembler()
        self._preroll = PreRoll(pre_s)
        self._viewer: Viewer | None = None
        self._viewer_drops = 0
        self._task: asyncio.Task[None] | None = None

    def _new_assembler(self) -> SegmentAssembler:
        return SegmentAssembler(segment_s=self._segment_s, fragment_s=self._fragment_s)

    @property
    def dropped_frames(self) -> int:
        """Frames lost on the way: skipped by the viewer queue and refused by the writer."""
        live = self._viewer.dropped_frames if self._viewer is not None else 0
        return self._viewer_drops + live + self._files.dropped.get(self.channel_id, 0)

    def status(self) -> RecorderStatus:
        """A snapshot of this recorder."""
        return RecorderStatus(
            self.channel_id,
            self.state,
            self.recording,
            self.bytes_written,
            self.frames,
            self.segments,
            self.dropped_frames,
            self.last_error,
        )

    def start(self) -> None:
        """Start watching the stream in a task of its own."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"recorder {self.channel_id}")

    async def stop(self) -> None:
        """Close the open segment and leave the stream."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._submit(self._assembler.close())

    def set_recording(self, on: bool) -> None:
        """Start or stop writing segments (the stream stays joined)."""
        if on == self.recording:
            return
        self.recording = on
        if on:
            for unit, wall in self._preroll.drain():
                self._submit(self._assembler.push(unit, wall))
        else:
            self._submit(self._assembler.close())
            self._assembler = self._new_assembler()
        if self.state in ("recording", "armed"):
            self.state = "recording" if on else "armed"

    def segment_closed(self) -> None:
        """Count a segment of this channel closed by the writer."""
        self.segments += 1

    def on_unit(self, unit: AccessUnit) -> None:
        """Record (or buffer) one access unit; the hot path, never blocks."""
        wall = self._clock()
        if self.recording:
            self._submit(self._assembler.push(unit, wall))
            self.frames += int(self._assembler.recording and unit.stream_id >= 0xE0)
        elif self._preroll.pre_ticks:
            self._preroll.add(unit, wall)

    def _submit(self, ops: list[SegmentOp]) -> None:
        if ops:
            self.bytes_written += sum(len(op.data) for op in ops if isinstance(op, AppendFragment))
            self._files.submit(self.channel_id, ops, self.kind)

    async def _run(self) -> None:
        while True:
            try:
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = str(exc) or type(exc).__name__
                # an offline camera fails the same way every retry_s: say it once
                level = logging.DEBUG if error == self.last_error else logging.WARNING
                self.last_error = error
                log.log(
                    level,
                    "channel %s: recording stream failed (%s); retrying in %.0f s",
                    self.channel_id,
                    self.last_error,
                    self._retry_s,
                )
            self._submit(self._assembler.close())
            self._assembler = self._new_assembler()
            self._preroll.drain()
            self.state = "retrying"
            await asyncio.sleep(self._retry_s)
            self.state = "connecting"

    async def _watch(self) -> None:
        viewer = await self._join(self.channel_id)
        self._viewer = viewer
        self.last_error = None
        self.state = "recording" if self.recording else "armed"
        log.info("channel %s: recorder joined the live stream", self.channel_id)
        try:
            async for unit in viewer:
                self.on_unit(unit)
        finally:
            self._viewer = None
            self._viewer_drops += viewer.dropped_frames
            self._leave(viewer)
        raise RuntimeError("the live stream ended")
