"""Real H.264/H.265 test streams, encoded with PyAV from a numpy test pattern."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import av
import numpy as np

__all__ = ["EncodedFrame", "encode_pattern"]


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded access unit (Annex-B) with 90 kHz times."""

    data: bytes
    pts_90k: int
    dts_90k: int
    keyframe: bool


def _pattern(index: int, width: int, height: int) -> np.ndarray:
    """A moving gradient with a bright block whose place encodes the frame number."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = (x + 4 * index) % 256
    image[..., 1] = (y + 2 * index) % 256
    image[..., 2] = ((x // 16 + y // 16 + index) % 2) * 255
    block = 16
    bx = (index * block) % max(block, width - block)
    image[: block * 2, bx : bx + block] = 255
    return image


@cache
def encode_pattern(
    codec: str = "libx264",
    frames: int = 50,
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    bframes: int = 0,
    bit_rate: int = 0,
    gop: int = 25,
) -> tuple[EncodedFrame, ...]:
    """Encode ``frames`` frames of the pattern; cached, since several tests share them."""
    ctx = av.CodecContext.create(codec, "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps, 1)
    ctx.gop_size = gop
    if bit_rate:
        ctx.bit_rate = bit_rate
    if codec == "libx264":
        ctx.options = {"preset": "ultrafast", "bf": str(bframes)}
    else:
        ctx.options = {
            "preset": "ultrafast",
            "x265-params": f"log-level=error:bframes={bframes}:repeat-headers=1",
        }
    scale = 90000 // fps
    out: list[EncodedFrame] = []
    for i in range(frames + 1):
        frame = None
        if i < frames:
            frame = av.VideoFrame.from_ndarray(_pattern(i, width, height), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
        for packet in ctx.encode(frame):
            assert packet.pts is not None and packet.dts is not None
            out.append(
                EncodedFrame(
                    bytes(packet),
                    (packet.pts + 2) * scale,
                    (packet.dts + 2) * scale,
                    packet.is_keyframe,
                )
            )
    return tuple(out)
