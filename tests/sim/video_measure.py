"""Measure the simulator's CPU per live stream (run by hand, not collected by pytest).

    .venv/bin/python -m tests.sim.video_measure --channels 16 --codec h264 --seconds 5

Starts a loopback platform and ``--channels`` IPCs, INVITEs every channel over UDP
(``--viewers`` calls per channel) and measures the process CPU (all threads: encoders, event
loop) over ``--seconds`` after a one-second warm-up. The receive sockets are bound but never
read, so the platform side costs (almost) nothing and the number is the simulator's.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time

from sightline.gb28181.invite import build_play_offer
from sightline.sim import DeviceGroup, SimConfig, SimHost
from sightline.sim.video import VideoCodec, VideoSettings
from tests.sim.media_peer import invite_request
from tests.sim.platform import FAST, PASSWORD, SERVER_ID, start_platform


async def measure(channels: int, viewers: int, codec: VideoCodec, seconds: float) -> None:
    """Print CPU per stream for ``channels`` x ``viewers`` live calls."""
    platform = await start_platform()
    config = SimConfig(
        server_host="127.0.0.1",
        server_port=platform.udp.port,
        server_id=SERVER_ID,
        password=PASSWORD,
        local_host="127.0.0.1",
        timers=FAST,
        groups=(DeviceGroup(count=channels),),
        video=VideoSettings(codec=codec),
    )
    host = SimHost(config)
    await host.start()
    assert await host.wait_registered(channels, timeout_s=10)
    sinks: list[socket.socket] = []
    serial = 0
    for device in host.devices.values():
        for _ in range(viewers):
            serial += 1
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind(("127.0.0.1", 0))
            sinks.append(sink)
            offer = build_play_offer(
                platform_id=SERVER_ID,
                channel_id=device.channel_id(0),
                ssrc=f"02000{serial:05d}",
                media_ip="127.0.0.1",
                media_port=sink.getsockname()[1],
            )
            request = invite_request(device.channel_id(0), offer.body, offer.subject)
            peer = platform.registrar.bindings[device.device_id].peer
            answer = await platform.endpoint.request(request, peer, timeout_s=5)
            assert answer.status == 200, answer.status
    await asyncio.sleep(1.0)
    feeds = list(host.calls.hub.feeds.values())
    cpu0, wall0 = time.process_time(), time.monotonic()
    enc0 = sum(f.encode_s for f in feeds)
    sent0 = sum(s.counters.bytes for s in host.calls.sessions())
    frames0 = sum(f.frames for f in feeds)
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    enc = sum(f.encode_s for f in feeds) - enc0
    sent = sum(s.counters.bytes for s in host.calls.sessions()) - sent0
    frames = sum(f.frames for f in feeds) - frames0
    skipped = sum(f.skipped for f in feeds)
    streams = channels * viewers
    video = config.video
    print(
        f"{codec.value} {video.width}x{video.height}@{video.fps} {channels} channels x "
        f"{viewers} viewers: CPU {cpu / wall * 100:.0f}% of one core "
        f"({cpu / wall / streams * 100:.1f}% per stream, draw+encode "
        f"{enc / wall / channels * 100:.1f}% per channel); "
        f"{frames / wall / channels:.1f} fps per channel, {skipped} skipped; "
        f"{sent * 8 / wall / streams / 1000:.0f} kbit/s per stream; "
        f"{cpu / max(frames, 1) * 1000:.2f} ms CPU per frame produced "
        f"(= {cpu / max(frames, 1) * video.fps * 100:.1f}% of a core per channel at full rate)"
    )
    await host.stop()
    await platform.close()
    for sink in sinks:
        sink.close()


def main() -> None:
    """Parse the command line and measure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--viewers", type=int, default=1)
    parser.add_argument("--codec", choices=[c.value for c in VideoCodec], default="h264")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(measure(args.channels, args.viewers, VideoCodec(args.codec), args.seconds))


if __name__ == "__main__":
    main()
