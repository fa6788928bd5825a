"""What a camera's audio costs a browser view: G.711 → AAC per stream, and the ``+aac`` hop.

1. **transcode**: ``G711ToAac`` (PyAV: pcm_alaw decode, resample 8 → 16 kHz, FFmpeg's native
   ``aac`` encoder at 32 kbit/s) over ``--seconds`` of the simulator's tone in 40 ms units, as
   a camera sends them. CPU seconds (this process, user + system) per second of audio is the
   share of one core one stream with audio costs; its inverse is how many streams one core
   transcodes in real time. Also the time one unit takes (p50 / p99 wall clock, and p99 / max
   of the thread's own CPU time, which a busy machine does not inflate), since it runs on the
   event loop.
2. **hop**: what a browser view of a stream *without* audio pays for going through the
   ``+aac`` variant: ``--units`` access units through ``StreamHub`` → viewer, directly and via
   ``aac_key``/``aac_opener`` (one more hub stream and viewer), CPU µs per unit.

Run: ``.venv/bin/python benchmarks/audio_transcode.py`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from collections.abc import AsyncIterator

from sightline.media.audio import G711ToAac, aac_key, aac_opener
from sightline.media.hub import StreamHub, StreamKey, Upstream
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.sim.audio import FRAME_90K, AudioClock


def cpu_s() -> float:
    """User + system CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def g711_units(seconds: int, codec: Codec) -> list[AccessUnit]:
    """``seconds`` of the simulator's tone, 40 ms per unit."""
    clock = AudioClock(codec)
    chunks = [c for t in range(0, seconds * 90000, FRAME_90K) for c in clock.chunks_until(t)]
    return [AccessUnit(codec, 0xC0, c.pts_90k, c.pts_90k, c.data, True) for c in chunks]


def transcode(seconds: int, codec: Codec) -> None:
    units = g711_units(seconds, codec)
    transcoder = G711ToAac()
    timings: list[float] = []
    cpu_timings: list[float] = []
    out = 0
    started = cpu_s()
    for unit in units:
        t0, c0 = time.perf_counter(), time.thread_time()
        out += len(transcoder.push(unit))
        timings.append(time.perf_counter() - t0)
        cpu_timings.append(time.thread_time() - c0)
    used = cpu_s() - started
    timings.sort()
    cpu_timings.sort()
    p99 = timings[len(timings) * 99 // 100]
    cpu_p99 = cpu_timings[len(cpu_timings) * 99 // 100]
    share = used / seconds
    print(
        f"transcode {codec.value}: {seconds} s of audio, {len(units)} units in, {out} AAC out: "
        f"{used:.3f} CPU s = {100 * share:.2f} % of a core per stream "
        f"(~{1 / share:.0f} streams per core); per unit p50 "
        f"{1e6 * statistics.median(timings):.0f} µs, p99 {1e6 * p99:.0f} µs wall; "
        f"p99 {1e6 * cpu_p99:.0f} µs, max {1e6 * cpu_timings[-1]:.0f} µs CPU"
    )


class Burst:
    """An upstream that hands out ``count`` video units as fast as the hub takes them."""

    def __init__(self, count: int) -> None:
        self.count = count

    async def frames(self) -> AsyncIterator[AccessUnit]:
        data = bytes(4000)
        for i in range(self.count):
            yield AccessUnit(Codec.H264, 0xE0, i * 3600, i * 3600, data, i % 50 == 0)
            if i % 50 == 49:
                await asyncio.sleep(0)  # let the viewers drain, as a paced camera would

    async def close(self) -> None:
        pass


async def through_hub(count: int, variant: bool) -> float:
    hub = StreamHub(grace_s=0, viewer_max_frames=10_000)
    source = StreamKey("34020000001320000001")

    async def opener() -> Upstream:
        return Burst(count)

    key, open_it = (
        (aac_key(source), aac_opener(hub, source, opener)) if variant else (source, opener)
    )
    started = cpu_s()
    got = 0
    async with hub.view(key, open_it) as viewer:
        async for _ in viewer:
            got += 1
            if got == count:
                break
    used = cpu_s() - started
    await hub.close()
    return used


def hop(count: int) -> None:
    direct = asyncio.run(through_hub(count, False))
    variant = asyncio.run(through_hub(count, True))
    per_unit = 1e6 * (variant - direct) / count
    print(
        f"hop: {count} units, direct {1e6 * direct / count:.1f} µs/unit, via +aac "
        f"{1e6 * variant / count:.1f} µs/unit: +{per_unit:.1f} µs/unit "
        f"(= {100 * per_unit * 25 / 1e6:.3f} % of a core for a 25 fps stream)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120, help="seconds of audio")
    parser.add_argument("--units", type=int, default=100_000, help="units through the hub")
    args = parser.parse_args()
    for codec in (Codec.G711A, Codec.G711U):
        transcode(args.seconds, codec)
    hop(args.units)


if __name__ == "__main__":
    main()
