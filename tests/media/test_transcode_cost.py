"""What H.265 → H.264 transcoding costs: CPU seconds per second of input, latency per frame.

``python -m tests.media.test_transcode_cost`` measures 720p and 1080p at 25 fps (the numbers
in the media report); the test below runs the same measurement on a small clip.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.transcode import TranscodeOptions, Transcoder
from tests.media.video import encode_pattern

FPS = 25


@dataclass(frozen=True, slots=True)
class Cost:
    """One measurement: CPU per second of input, and per-frame times in milliseconds."""

    frames_in: int
    frames_out: int
    cpu_per_input_s: float
    wall_per_input_s: float
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_max: float


def measure(width: int, height: int, frames: int, bitrate: int, threads: int = 0) -> Cost:
    """Transcode an H.265 clip of the test pattern; time every push."""
    clip = encode_pattern("libx265", frames, width=width, height=height, bit_rate=bitrate)
    units = [AccessUnit(Codec.H265, 0xE0, f.pts_90k, f.dts_90k, f.data, f.keyframe) for f in clip]
    transcoder = Transcoder(TranscodeOptions(threads=threads))
    latencies, out = [], 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for unit in units:
        started = time.perf_counter()
        out += len(transcoder.push(unit))
        latencies.append((time.perf_counter() - started) * 1000)
    out += len(transcoder.flush())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    seconds = len(units) / FPS
    latencies.sort()
    return Cost(
        len(units),
        out,
        cpu / seconds,
        wall / seconds,
        statistics.median(latencies),
        latencies[int(0.95 * (len(latencies) - 1))],
        latencies[-1],
    )


def test_the_cost_measurement_runs_on_a_small_clip() -> None:
    cost = measure(320, 240, 25, 300_000)
    assert cost.frames_in == cost.frames_out == 25
    assert cost.cpu_per_input_s > 0 and 0 < cost.latency_ms_p50 <= cost.latency_ms_max


def main() -> None:
    """Print the cost at 720p and 1080p."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    for width, height, bitrate in ((1280, 720, 2_000_000), (1920, 1080, 4_000_000)):
        cost = measure(width, height, args.frames, bitrate, threads=args.threads)
        print(f"{height}p{FPS} H.265 {bitrate / 1e6:g} Mbps in: {cost}")


if __name__ == "__main__":
    main()
