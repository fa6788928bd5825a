"""serve's per-frame delivery path alone, no I/O: hub → ``+aac`` variant → viewer → fMP4.

What a browser view of a live channel costs ``serve`` per frame beyond receiving it, the
way the WebSocket route drives it (``media.py``: ``hub.join(aac_key(...), aac_opener(...))``,
``async for`` over the viewer, ``Fmp4Packager.push`` per unit), with the socket write left
out: an upstream hands the hub one frame of a real 720p H.264 clip per event-loop turn, as
the receiver does, and a consumer task packages what its viewer gets. Printed by
``media_serve.py`` at the start of a run; ``PYTHONPATH=<other tree>/src`` measures another
version of the same code.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the tests package importable
    sys.path.insert(0, str(ROOT))

from sightline.media.audio import aac_key, aac_opener  # noqa: E402
from sightline.media.fmp4 import Fmp4Packager  # noqa: E402
from sightline.media.hub import StreamHub, StreamKey, Upstream  # noqa: E402
from sightline.media.ps_format import Codec  # noqa: E402
from sightline.media.ps_frames import AccessUnit  # noqa: E402

__all__ = ["clip_units", "delivery_cost_us"]

_FPS = 25


def clip_units(
    size: str = "1280x720", bit_rate: int = 2_000_000, frames: int = 50
) -> list[AccessUnit]:
    """A clip's frames as the demuxer hands them out (key frames: the PSM listed no audio)."""
    from tests.media.video import encode_pattern

    width, _, height = size.partition("x")
    encoded = encode_pattern(
        "libx264", frames, width=int(width), height=int(height), fps=_FPS, bit_rate=bit_rate,
        gop=2 * _FPS,
    )  # fmt: skip
    return [
        AccessUnit(
            Codec.H264,
            0xE0,
            f.pts_90k,
            f.dts_90k,
            f.data,
            f.keyframe,
            audio_declared=False if f.keyframe else None,
        )
        for f in encoded
    ]


class _Clip:
    """An upstream looping the clip, one frame per loop turn, ``count`` frames in all."""

    def __init__(self, units: list[AccessUnit], count: int) -> None:
        self.units = units
        self.count = count

    async def frames(self) -> AsyncIterator[AccessUnit]:
        span = len(self.units) * (90000 // _FPS)
        for n in range(self.count):
            u = self.units[n % len(self.units)]
            shift = n // len(self.units) * span
            yield AccessUnit(
                u.codec, u.stream_id, u.pts_90k + shift, u.dts_90k + shift, u.data, u.keyframe,
                audio_declared=u.audio_declared,
            )  # fmt: skip
            await asyncio.sleep(0)

    async def close(self) -> None:
        """Nothing to release."""


async def _run(units: list[AccessUnit], count: int) -> float:
    hub = StreamHub(grace_s=0.0)
    key = StreamKey("34020000001310000001")

    async def opener() -> Upstream:
        return _Clip(units, count)

    viewer = await hub.join(aac_key(key), aac_opener(hub, key, opener))
    packager = Fmp4Packager(audio=True)
    sent = 0
    started = time.process_time()
    got = 0
    async for unit in viewer:
        for segment in packager.push(unit):
            sent += len(segment.data)
        got += 1
        if got == count:
            break
    spent = time.process_time() - started
    hub.leave(viewer)
    await hub.close()
    assert sent > 0
    return spent / count * 1e6


def delivery_cost_us(units: list[AccessUnit], count: int = 1000, repeat: int = 3) -> float:
    """CPU microseconds per frame of the delivery path (best of ``repeat``), no I/O."""
    import uvloop

    return min(uvloop.run(_run(units, count)) for _ in range(repeat))


if __name__ == "__main__":
    print(f"{delivery_cost_us(clip_units()):.1f} us of CPU per frame")
