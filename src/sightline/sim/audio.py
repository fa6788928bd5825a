"""The simulator's audio: an 8 kHz G.711 tone that rides in the PS stream next to the video.

Real GB/T 28181 cameras with a microphone put G.711 (A-law or µ-law, PSM stream type 0x90 /
0x91, PES stream id 0xC0) into the same program stream as the video. A simulated channel with
audio does the same: a 440 Hz tone with a short 880 Hz beep at the start of every second, so a
listener (or a test looking at the spectrum) recognises it and can tell the seconds apart.

The tone is encoded once per codec with PyAV (``pcm_alaw`` / ``pcm_mulaw``) into a one-second
loop, and each session slices 40 ms frames (320 bytes) out of it: audio costs a camera no
encoding per stream. :class:`AudioClock` decides which audio frames go with each video frame,
from the video's own 90 kHz timestamps, so audio and video share one timeline. Nothing here
does I/O.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from fractions import Fraction

import av
import numpy as np

from sightline.media.ps_format import Codec
from sightline.media.ps_mux import AudioChunk

__all__ = [
    "BEEP_HZ",
    "FRAME_90K",
    "SAMPLE_RATE",
    "TONE_HZ",
    "AudioClock",
    "SimAudio",
    "g711_loop",
]

SAMPLE_RATE = 8000
FRAME_SAMPLES = 320  # 40 ms: what many cameras put in one audio PES
FRAME_90K = FRAME_SAMPLES * 90000 // SAMPLE_RATE
TONE_HZ = 440.0
BEEP_HZ = 880.0
_BEEP_S = 0.1
_AMPLITUDE = 0.25  # of full scale: clearly audible, never clipping
_MAX_BEHIND_90K = 90000  # the video jumped ahead (frames dropped): resynchronise, don't burst


class SimAudio(StrEnum):
    """Audio of a simulated channel."""

    NONE = "none"
    G711A = "g711a"
    G711U = "g711u"

    @property
    def ps_codec(self) -> Codec | None:
        """The PS codec it is sent as; None for no audio."""
        return {SimAudio.G711A: Codec.G711A, SimAudio.G711U: Codec.G711U}.get(self)


def tone_samples() -> np.ndarray[tuple[int], np.dtype[np.int16]]:
    """One second of the test tone as signed 16-bit samples at 8 kHz."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    freq = np.where(t < _BEEP_S, BEEP_HZ, TONE_HZ)
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE  # continuous phase across the beep
    return (np.sin(phase) * _AMPLITUDE * 32767).astype(np.int16)


@functools.cache
def g711_loop(codec: Codec) -> bytes:
    """One second of the tone encoded as G.711 (8000 bytes, one per sample)."""
    name = {Codec.G711A: "pcm_alaw", Codec.G711U: "pcm_mulaw"}.get(codec)
    if name is None:
        raise ValueError(f"{codec.value} is not G.711")
    ctx = av.CodecContext.create(name, "w")
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate, ctx.format, ctx.layout = SAMPLE_RATE, "s16", "mono"
    ctx.time_base = Fraction(1, SAMPLE_RATE)
    frame = av.AudioFrame.from_ndarray(tone_samples().reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate, frame.pts = SAMPLE_RATE, 0
    data = b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])
    assert len(data) == SAMPLE_RATE
    return data


class AudioClock:
    """Which 40 ms G.711 frames to send with each video frame (times relative to the first)."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self._loop = g711_loop(codec)
        self._next_90k = 0
        self._index = 0

    def chunks_until(self, video_90k: int) -> list[AudioChunk]:
        """The audio frames starting at or before ``video_90k``, stamped on the same clock."""
        if video_90k - self._next_90k > _MAX_BEHIND_90K:
            self._next_90k = video_90k
        out: list[AudioChunk] = []
        frames_per_loop = SAMPLE_RATE // FRAME_SAMPLES
        while self._next_90k <= video_90k:
            start = self._index * FRAME_SAMPLES
            out.append(AudioChunk(self._loop[start : start + FRAME_SAMPLES], self._next_90k))
            self._index = (self._index + 1) % frames_per_loop
            self._next_90k += FRAME_90K
        return out
