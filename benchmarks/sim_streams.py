"""CPU per simulated camera stream: the pre-encoded loop against live encoding, in one run.

For each K in ``--streams`` and each mode in ``--modes``, a fresh ``SimHost`` with K IPCs
(``video_source`` live or loop) registers to a loopback test platform (the real SipEndpoint and
Registrar), every channel is INVITEd over UDP to its own bound-but-unread socket on 127.0.0.1,
and the simulator process's CPU (user + system, all threads: encoders and event loop) is
measured over ``--seconds`` after a warm-up. Printed per run: CPU in % of one core, per stream,
frames per second each stream actually got (a live fleet that outgrows the machine skips
frames) and the bit rate per stream. The platform side only answers SIP, so the figure is the
simulator's.

Run: ``.venv/bin/python benchmarks/sim_streams.py --streams 50,200``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the tests package importable
    sys.path.insert(0, str(ROOT))

from tests.sim.media_peer import invite_request  # noqa: E402
from tests.sim.platform import FAST, PASSWORD, SERVER_ID, LoopbackPlatform, start_platform  # noqa: E402

from sightline.gb28181.invite import build_play_offer  # noqa: E402
from sightline.sim import DeviceGroup, SimConfig, SimHost  # noqa: E402
from sightline.sim.config import VideoSource  # noqa: E402
from sightline.sim.video import VideoSettings  # noqa: E402

__all__ = ["Result", "measure"]

_INVITES_AT_ONCE = 32


@dataclass(frozen=True)
class Result:
    """One mode at one load."""

    mode: VideoSource
    streams: int
    seconds: float
    cpu_s: float
    frames: int
    bytes: int
    fps: int
    late: int  # loop: times its clock slipped; live: frames the encoders skipped

    @property
    def cpu_pct(self) -> float:
        """CPU in % of one core."""
        return 100 * self.cpu_s / self.seconds

    @property
    def per_stream_pct(self) -> float:
        """CPU per stream in % of one core."""
        return self.cpu_pct / self.streams

    @property
    def stream_fps(self) -> float:
        """Frames per second each stream got."""
        return self.frames / self.seconds / self.streams

    def line(self) -> str:
        """A printable summary."""
        return (
            f"{self.mode.value:4} {self.streams:4d} streams: CPU {self.cpu_pct:5.1f}% of a core, "
            f"{self.per_stream_pct:5.2f}% per stream, {self.stream_fps:4.1f} of {self.fps} fps "
            f"per stream, {self.bytes * 8 / self.seconds / self.streams / 1000:5.0f} kbit/s "
            f"per stream, {self.late} {'slips' if self.mode is VideoSource.LOOP else 'skipped'}"
        )


async def _invite(
    platform: LoopbackPlatform, host: SimHost, device_id: str, channel_id: str, port: int
) -> None:
    offer = build_play_offer(
        platform_id=SERVER_ID,
        channel_id=channel_id,
        ssrc=f"02{port:08d}",
        media_ip="127.0.0.1",
        media_port=port,
    )
    request = invite_request(channel_id, offer.body, offer.subject)
    peer = platform.registrar.bindings[device_id].peer
    answer = await platform.endpoint.request(request, peer, timeout_s=10)
    if answer.status != 200:
        raise RuntimeError(f"channel {channel_id}: INVITE answered {answer.status}")


async def measure(
    mode: VideoSource, streams: int, video: VideoSettings, seconds: float, warmup_s: float
) -> Result:
    """Run ``streams`` live calls in ``mode`` and measure the simulator's CPU."""
    platform = await start_platform()
    host = SimHost(
        SimConfig(
            server_host="127.0.0.1",
            server_port=platform.udp.port,
            server_id=SERVER_ID,
            password=PASSWORD,
            local_host="127.0.0.1",
            timers=FAST,
            register_rate=5000.0,
            groups=(DeviceGroup(count=streams),),
            video=video,
            video_source=mode,
        )
    )
    sinks: list[socket.socket] = []
    try:
        await host.start()
        if not await host.wait_registered(streams, timeout_s=60):
            raise RuntimeError(f"only {host.registered} of {streams} devices registered")
        calls = []
        for device in host.devices.values():
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind(("127.0.0.1", 0))
            sinks.append(sink)
            port = sink.getsockname()[1]
            calls.append((device.device_id, device.channel_id(0), port))
        for at in range(0, len(calls), _INVITES_AT_ONCE):
            batch = calls[at : at + _INVITES_AT_ONCE]
            await asyncio.gather(*(_invite(platform, host, *call) for call in batch))
        await asyncio.sleep(warmup_s)
        sessions = host.calls.sessions()
        frames0 = sum(s.counters.frames for s in sessions)
        bytes0 = sum(s.counters.bytes for s in sessions)
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        frames = sum(s.counters.frames for s in sessions) - frames0
        sent = sum(s.counters.bytes for s in sessions) - bytes0
        hub = host.calls.hub
        late = hub.loop.slipped if hub.loop is not None else 0
        late += sum(feed.skipped for feed in hub.feeds.values())
        return Result(mode, streams, wall, cpu, frames, sent, video.fps, late)
    finally:
        await host.stop()
        await platform.close()
        for sink in sinks:
            sink.close()


def _run(coro: Coroutine[Any, Any, Result]) -> Result:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: Result = uvloop.run(coro)
    return result


def main() -> None:
    """Parse the command line, measure every (load, mode), print a line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", default="50,200", help="comma-separated loads")
    parser.add_argument("--modes", default="loop,live", help="comma-separated: loop, live")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--video-size", default="640x360")
    parser.add_argument("--bitrate", type=int, default=1024, help="kbit/s")
    args = parser.parse_args()
    width, _, height = args.video_size.partition("x")
    video = VideoSettings(width=int(width), height=int(height), bitrate_kbps=args.bitrate)
    print(
        f"simulator CPU per stream, {video.codec.value} {video.width}x{video.height}@{video.fps} "
        f"{video.bitrate_kbps} kbit/s, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results: dict[tuple[int, VideoSource], Result] = {}
    for streams in (int(s) for s in args.streams.split(",")):
        for mode in (VideoSource(m) for m in args.modes.split(",")):
            result = _run(measure(mode, streams, video, args.seconds, args.warmup_s))
            results[streams, mode] = result
            print(result.line(), flush=True)
        loop, live = (
            results.get((streams, VideoSource.LOOP)),
            results.get((streams, VideoSource.LIVE)),
        )
        if loop is not None and live is not None:
            # per delivered frame, so a live fleet that skips frames is not flattered
            ratio = (live.cpu_s / max(live.frames, 1)) / (loop.cpu_s / max(loop.frames, 1))
            print(f"  {streams} streams: live costs {ratio:.1f}x the loop's CPU per frame sent")


if __name__ == "__main__":
    main()
