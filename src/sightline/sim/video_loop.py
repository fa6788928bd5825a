"""A pre-encoded video loop: one clip per VideoSettings, played to every channel that uses them.

Encoding live costs one encoder per watched channel (:mod:`.video_feed`), a few percent of a
core each; a load test with hundreds or thousands of simulated cameras cannot pay that. So the
loop mode encodes a clip of whole GOPs (about :data:`LOOP_S` seconds) once, keeps its access
units, and sends the same bytes on every stream: a stream then costs only its PS muxing and RTP
sending. :func:`clip_for` encodes (on first use, then cached for the process) one clip per
distinct :class:`~.video.VideoSettings` (codec, size, rate, bit rate, GOP); a
:class:`VideoLoop` plays it.

How a loop is played (:class:`LoopPlayer` is the arithmetic, :class:`VideoLoop` the clock):

* one timer per loop, not per channel: every frame period the loop hands the next access unit
  to each subscriber in one pass;
* a subscriber starts at once on a key frame (its own phase into the clip, starting at the
  key frame of the GOP the loop is in), so joining costs no encoder and no wait for the next
  GOP: the first key frame goes out as soon as the clip is ready (call_soon, not the next tick);
* timestamps come from the loop clock, ``tick * 90000 // fps``: they keep rising at the frame
  rate across wraps of the clip, so the RTP/PS timestamps a platform sees never jump back;
* when the event loop falls behind, the clock slips (frames go out late, none are dropped),
  since dropping a P-frame would corrupt the picture up to the next key frame.

The picture (:class:`LoopPicture`) is the simulator's test pattern at the home position with a
caption (``SIGHTLINE SIM LOOP``, the codec, size, rate and bit rate), the position in the loop
and a block that crosses the picture once per loop, so a viewer sees that it is live. It cannot
carry a channel's name or the wall-clock time (every channel sends the same bytes): its time row
is blank, so :func:`~.video.read_time_ms` reads None, and its PTZ row reads the home position.
A channel whose head moves leaves the loop for a live encoder (see :class:`~.video_feed.VideoHub`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from sightline.sim.ptz_state import PtzPosition
from sightline.sim.video import BLACK, WHITE, Plane, TestPattern, VideoSettings
from sightline.sim.video_codec import EncodedFrame, FrameEncoder

__all__ = [
    "LOOP_S",
    "ClipFrame",
    "LoopClip",
    "LoopPicture",
    "LoopPlayer",
    "VideoLoop",
    "clip_for",
    "encode_clip",
]

log = logging.getLogger(__name__)

LOOP_S = 6.0  # the clip lasts at least this long, in whole GOPs (at least two)
_MAX_LATE_FRAMES = 2
HOME = PtzPosition(0.0, 0.0, 1.0, moving=False)

FrameSink = Callable[[EncodedFrame], None]


@dataclass(frozen=True, slots=True)
class ClipFrame:
    """One access unit of the clip."""

    data: bytes
    keyframe: bool


@dataclass(frozen=True, slots=True)
class LoopClip:
    """The encoded clip: whole GOPs, a key frame first."""

    settings: VideoSettings
    frames: tuple[ClipFrame, ...]
    keys: tuple[int, ...]  # indices of the key frames, ascending; keys[0] == 0

    @property
    def seconds(self) -> float:
        """Duration of one pass."""
        return len(self.frames) / self.settings.fps

    @property
    def size(self) -> int:
        """Bytes held."""
        return sum(len(f.data) for f in self.frames)

    def key_at_or_before(self, index: int) -> int:
        """The last key frame at or before clip frame ``index``."""
        best = 0
        for key in self.keys:
            if key > index:
                break
            best = key
        return best


class LoopPicture(TestPattern):
    """The loop's picture: the pattern at home, a caption instead of a clock, a moving block."""

    __test__ = False

    def __init__(self, settings: VideoSettings, frames: int) -> None:
        super().__init__(
            settings.width,
            settings.height,
            label="SIGHTLINE SIM LOOP",
            noise_rows=settings.noise_rows,
        )
        self._frames = frames
        self._caption = (
            f"{settings.codec.value.upper()} {settings.width}X{settings.height} "
            f"{settings.fps}FPS {settings.bitrate_kbps}K"
        )

    def render_loop(self, index: int) -> Plane:
        """Clip frame ``index`` as a yuv420p array."""
        frame = self.render(unix_ms=0, ptz=HOME, frame_index=index)
        layout = self.layout
        luma = frame[: layout.height]
        luma[layout.time_top : layout.time_top + layout.cell] = BLACK  # no clock in a loop
        scale = layout.scale
        line = 11 * scale
        left = 2 * layout.cell
        self._text(luma, layout.text_top + line, left, self._caption)
        self._text(
            luma, layout.text_top + 3 * line, left, f"LOOP {index + 1:03d}/{self._frames:03d}"
        )
        top = layout.text_top + 4 * line
        side = max(2, min(layout.pan_band[0] - top - 2 * scale, 4 * layout.cell))
        x = round(index / self._frames * (layout.width - side))
        luma[top : top + side, x : x + side] = WHITE
        return frame


def loop_frames(settings: VideoSettings, loop_s: float = LOOP_S) -> tuple[int, int]:
    """Frames per GOP and frames in the clip (whole GOPs, at least two, at least ``loop_s``)."""
    gop = max(1, round(settings.gop_s * settings.fps))
    gops = max(2, math.ceil(loop_s * settings.fps / gop))
    return gop, gop * gops


def encode_clip(settings: VideoSettings, *, loop_s: float = LOOP_S) -> LoopClip:
    """Render and encode the clip (CPU-bound: run it off the event loop)."""
    gop, count = loop_frames(settings, loop_s)
    picture = LoopPicture(settings, count)
    encoder = FrameEncoder(settings)
    units: list[tuple[bytes, bool]] = []
    for index in range(count):
        units += encoder.encode(picture.render_loop(index), index, force_key=index % gop == 0)
    units += encoder.flush()
    frames = tuple(ClipFrame(data, key) for data, key in units)
    keys = tuple(i for i, f in enumerate(frames) if f.keyframe)
    if not keys or keys[0] != 0:
        raise RuntimeError(f"the {settings.codec.value} loop clip does not start on a key frame")
    log.info(
        "video loop %s %dx%d@%d %d kbit/s: %d frames (%.1f s, %d key frames), %d bytes",
        settings.codec.value,
        settings.width,
        settings.height,
        settings.fps,
        settings.bitrate_kbps,
        len(frames),
        len(frames) / settings.fps,
        len(keys),
        sum(len(f.data) for f in frames),
    )
    return LoopClip(settings, frames, keys)


_CLIPS: dict[VideoSettings, LoopClip] = {}
_CLIPS_LOCK = threading.Lock()


def clip_for(settings: VideoSettings) -> LoopClip:
    """The process's clip for ``settings``, encoded on first use (thread-safe)."""
    with _CLIPS_LOCK:
        clip = _CLIPS.get(settings)
        if clip is None:
            clip = _CLIPS[settings] = encode_clip(settings)
        return clip


class LoopPlayer:
    """Which access unit each subscriber gets at each tick of the loop clock (no I/O, no time).

    A subscriber has a *phase*: at tick ``t`` it gets clip frame ``(t + phase) % len(clip)``
    with the timestamp ``t * 90000 // fps``, the same for every subscriber.
    """

    def __init__(self, clip: LoopClip) -> None:
        self.clip = clip
        self._count = len(clip.frames)
        self._fps = clip.settings.fps

    def join(self, tick: int) -> int:
        """The phase of a subscriber that starts at ``tick``: its first frame is a key frame."""
        key = self.clip.key_at_or_before(tick % self._count)
        return (key - tick) % self._count

    def frame(self, tick: int, phase: int) -> EncodedFrame:
        """What a subscriber with ``phase`` gets at ``tick``."""
        unit = self.clip.frames[(tick + phase) % self._count]
        return EncodedFrame(unit.data, tick * 90000 // self._fps, unit.keyframe, 0)


class _Member:
    __slots__ = ("from_tick", "phase")

    def __init__(self) -> None:
        self.phase: int | None = None
        self.from_tick = 0


class VideoLoop:
    """Plays one clip to every subscriber on one timer (see the module docstring)."""

    def __init__(self, settings: VideoSettings, executor: Executor | None) -> None:
        """A loop of ``settings``; its clip is encoded on ``executor`` (None: on the event loop)."""
        self.settings = settings
        self._executor = executor
        self._player: LoopPlayer | None = None
        self._members: dict[FrameSink, _Member] = {}
        self._task: asyncio.Task[None] | None = None
        self._tick = 0
        self.frames = 0  # ticks played
        self.slipped = 0  # times the clock slipped because the event loop was late

    @property
    def subscribers(self) -> int:
        """Sinks receiving this loop."""
        return len(self._members)

    @property
    def clip(self) -> LoopClip | None:
        """The clip, once encoded."""
        return None if self._player is None else self._player.clip

    def subscribe(self, sink: FrameSink) -> None:
        """Deliver the loop to ``sink``, starting on a key frame as soon as the clip is ready."""
        self._members[sink] = _Member()
        if self._player is not None:
            asyncio.get_running_loop().call_soon(self._greet, sink)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def unsubscribe(self, sink: FrameSink) -> None:
        """Stop delivering to ``sink`` (the timer stops with the last subscriber)."""
        self._members.pop(sink, None)
        if not self._members and self._task is not None:
            self._task.cancel()  # now, not at the next tick: the hub may be shutting down
            self._task = None

    async def close(self) -> None:
        """Stop playing now."""
        self._members.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _greet(self, sink: FrameSink) -> None:
        # the first key frame goes out now, stamped with the coming tick; the tick skips it
        member = self._members.get(sink)
        if member is None or member.phase is not None or self._player is None:
            return
        tick = self._tick
        member.phase = self._player.join(tick)
        member.from_tick = tick + 1
        self._deliver(sink, self._player.frame(tick, member.phase))

    async def _load(self) -> LoopPlayer:
        # on first use, not when the simulator starts: a fleet that is never invited (a
        # registration load test) pays nothing; the first call waits for the encode once
        # (0.13 s of CPU at 640x360), later ones and other hosts in the process find it cached
        if self._executor is None:
            return LoopPlayer(clip_for(self.settings))
        loop = asyncio.get_running_loop()
        return LoopPlayer(await loop.run_in_executor(self._executor, clip_for, self.settings))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        fps = self.settings.fps
        try:
            if self._player is None:
                self._player = await self._load()
            start = loop.time() - self._tick / fps
            while self._members:
                late = loop.time() - (start + self._tick / fps)
                if late < 0:
                    await asyncio.sleep(-late)
                elif late > _MAX_LATE_FRAMES / fps:
                    start += late
                    self.slipped += 1
                self._play(self._player, self._tick)
                self._tick += 1
                self.frames += 1
        except Exception:  # task boundary: the loop's subscribers see their streams stop
            log.exception("video loop %s: stopped", self.settings)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _play(self, player: LoopPlayer, tick: int) -> None:
        for sink, member in list(self._members.items()):
            if member.phase is None:
                member.phase = player.join(tick)
            elif tick < member.from_tick:
                continue
            self._deliver(sink, player.frame(tick, member.phase))

    def _deliver(self, sink: FrameSink, frame: EncodedFrame) -> None:
        try:
            sink(frame)
        except Exception:  # one broken session must not stop a thousand others
            log.exception("video loop %s: a subscriber failed; dropping it", self.settings)
            self._members.pop(sink, None)
