"""K channels recorded at once: disk write rate, CPU, and frames lost, on this machine.

What runs is the real recording path of a node, minus the network: ``--channels`` upstreams
each deliver a looped clip of real H.264 (drawn by the simulator's test pattern, encoded by its
encoder at ``--bitrate-kbps``, GOP 2 s, 25 fps) paced at real time into a ``StreamHub``; a
``RecordingService`` with a continuous plan per channel joins each stream as a viewer and
writes fMP4 segments (``--segment-s``) through its writer thread, indexing them in SQLite.

Reported:

* **write rate**: bytes written to segment files per second, against the offered rate;
* **CPU**: this process's user + system time in % of one core (the machine has ``os.cpu_count``);
* **lost frames**: frames the hub passed on minus the frames found in the segment files after
  the service stopped (every file is parsed), plus recorder/writer drop counters; and how late
  the pacing ran (a sign the loop could not keep up);
* **disk speed**: a sequential write of the same number of bytes with fsync, in the same run.

Run: ``.venv/bin/python benchmarks/recording.py --channels 200 --seconds 30``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from sightline.media.hub import StreamHub, StreamKey, Upstream, Viewer  # noqa: E402
from sightline.media.ps_format import Codec  # noqa: E402
from sightline.media.ps_frames import AccessUnit  # noqa: E402
from sightline.media.recording import (  # noqa: E402
    PlanMode,
    RecordingOptions,
    RecordingPlan,
    RecordingService,
)
from sightline.media.recording.mp4_reader import parse_segment  # noqa: E402
from sightline.sim.ptz_state import PtzPosition  # noqa: E402
from sightline.sim.video import TestPattern, VideoSettings  # noqa: E402
from sightline.sim.video_feed import FrameEncoder  # noqa: E402
from sightline.store import Database, migrate  # noqa: E402
from sightline.store.repositories.recording import RecordingStore  # noqa: E402

FPS = 25
STEP_90K = 90000 // FPS


@dataclass(frozen=True, slots=True)
class Clip:
    """A looped clip: Annex-B frames and key-frame flags."""

    frames: tuple[tuple[bytes, bool], ...]

    @property
    def bitrate_bps(self) -> float:
        """The clip's average bit rate."""
        return sum(len(f) for f, _ in self.frames) * 8 * FPS / len(self.frames)


def encode_clip(bitrate_kbps: int, seconds: float) -> Clip:
    """Draw and encode the simulator's picture (GOP 2 s); a multiple of the GOP long."""
    settings = VideoSettings(bitrate_kbps=bitrate_kbps, gop_s=2.0, fps=FPS)
    pattern = TestPattern(
        settings.width,
        settings.height,
        label="34020000001310000001",
        noise_rows=settings.noise_rows,
    )
    encoder = FrameEncoder(settings)
    out: list[tuple[bytes, bool]] = []
    count = int(seconds // 2 * 2 * FPS)
    still = PtzPosition(0.0, 0.0, 1.0, False)
    for i in range(count + FPS):
        picture = pattern.render(unix_ms=1_764_000_000_000 + 40 * i, ptz=still, frame_index=i)
        out += encoder.encode(picture, i, force_key=False)
    encoder.close()
    first_key = next(i for i, (_, key) in enumerate(out) if key)
    frames = out[first_key : first_key + count]
    return Clip(tuple(frames))


class LoopUpstream:
    """One channel: the clip looped at real time, with increasing timestamps."""

    def __init__(self, clip: Clip, stats: Stats) -> None:
        self.clip = clip
        self.stats = stats
        self.closed = False

    async def frames(self) -> AsyncIterator[AccessUnit]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        index = 0
        while not self.closed:
            data, key = self.clip.frames[index % len(self.clip.frames)]
            dts = 90000 + index * STEP_90K
            yield AccessUnit(Codec.H264, 0xE0, dts, dts, data, key)
            self.stats.sent += 1
            index += 1
            delay = start + index / FPS - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.stats.max_late_s = max(self.stats.max_late_s, -delay)
                if -delay > 1 / FPS:
                    self.stats.late_frames += 1

    async def close(self) -> None:
        self.closed = True


@dataclass
class Stats:
    """Counters shared by every upstream."""

    sent: int = 0
    late_frames: int = 0
    max_late_s: float = 0.0


def disk_speed(directory: Path, total_bytes: int) -> float:
    """Sequential write of ``total_bytes`` in 1 MiB blocks, then fsync; bytes per second."""
    block = os.urandom(1 << 20)
    path = directory / "dd.bin"
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        while written < total_bytes:
            written += os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - started
    path.unlink()
    return written / elapsed


def count_samples(root: Path) -> tuple[int, int]:
    """Frames and files in every closed segment under ``root``."""
    frames = files = 0
    for path in root.glob("*/*/*.mp4"):
        frames += len(parse_segment(path.read_bytes()).samples)
        files += 1
    return frames, files


async def record(args: argparse.Namespace, clip: Clip, work: Path) -> dict[str, float]:
    """Run the recording service for ``args.seconds`` over ``args.channels`` looped streams."""
    url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    await migrate(url)
    database = await Database.connect(url)
    store = RecordingStore(database)
    hub = StreamHub(grace_s=0.5, no_media_timeout_s=30)
    stats = Stats()

    async def join(channel_id: str) -> Viewer:
        async def open_loop() -> Upstream:
            return LoopUpstream(clip, stats)

        return await hub.join(StreamKey(channel_id), open_loop)

    service = RecordingService(
        work / "recordings",
        index=store,
        plans=store,
        join=join,
        leave=hub.leave,
        options=RecordingOptions(
            segment_s=args.segment_s, disk_ceiling_percent=None, check_interval_s=3600
        ),
    )
    await service.start()
    channels = [f"3402000000131{i:07d}" for i in range(args.channels)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for channel in channels:
        await service.set_plan(channel, RecordingPlan(PlanMode.CONTINUOUS))
    await asyncio.sleep(args.seconds)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    written = service.files.bytes_written
    await service.stop()
    final = service.final_status
    assert final is not None
    await hub.close()
    indexed = len(await store.all_paths())
    await database.close()
    recorded, files = await asyncio.to_thread(count_samples, work / "recordings")
    return {
        "wall_s": wall1 - wall0,
        "cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "written": written,
        "total_written": service.files.bytes_written,
        "frames_in": sum(r.frames for r in final.recorders),
        "recorded": recorded,
        "files": files,
        "indexed": indexed,
        "drops": sum(r.dropped_frames for r in final.recorders),
        "late": stats.late_frames,
        "max_late_s": stats.max_late_s,
        "queued_peak": service.files.peak_queued_bytes,
    }


def main() -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--bitrate-kbps", type=int, default=2000)
    parser.add_argument("--segment-s", type=float, default=10.0)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    clip = encode_clip(args.bitrate_kbps, 8.0)
    offered = clip.bitrate_bps / 8 * args.channels
    work = Path(tempfile.mkdtemp(prefix="sightline-rec-bench-", dir=args.dir))
    try:
        dd = disk_speed(work, int(offered * args.seconds))
        gigabytes = offered * args.seconds / 1e9
        print(f"clip: {len(clip.frames)} frames, {clip.bitrate_bps / 1e6:.2f} Mbit/s, GOP 2 s")
        print(f"disk: sequential write + fsync of {gigabytes:.2f} GB: {dd / 1e6:.0f} MB/s")
        started = datetime.now(UTC)
        r = asyncio.run(record(args, clip, work))
        wall = r["wall_s"]
        lost = r["frames_in"] - r["recorded"]
        mbps = clip.bitrate_bps / 1e6
        print(
            f"{args.channels} channels x {mbps:.2f} Mbit/s for {wall:.1f} s ({started:%H:%M} UTC)"
        )
        print(f"  offered     {offered / 1e6:8.1f} MB/s")
        print(f"  written     {r['written'] / wall / 1e6:8.1f} MB/s", end=" ")
        print(
            f"({r['total_written'] / 1e9:.2f} GB, {r['files']:.0f} files, "
            f"{r['indexed']:.0f} indexed)"
        )
        load = os.getloadavg()[0]
        print(f"  CPU         {r['cpu_pct']:8.1f} % of one core", end=" ")
        print(f"({os.cpu_count()} cores, load average {load:.1f})")
        print(
            f"  frames      {r['frames_in']:.0f} taken by recorders, {r['recorded']:.0f} in files"
        )
        print(f"  lost        {lost:8.0f} frames (drop counters {r['drops']:.0f})")
        print(f"  pacing      {r['late']:8.0f} frames over one frame late", end=" ")
        print(f"(worst {r['max_late_s'] * 1000:.0f} ms)")
        print(f"  write queue {r['queued_peak'] / 1e6:8.1f} MB at most (bound 256 MB)")
        print(f"  disk speed  {dd / 1e6:8.1f} MB/s ({100 * offered / dd:.0f}% used by recording)")
        return 0 if lost == 0 and r["drops"] == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
