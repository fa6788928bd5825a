"""``sightline sim``: run a fleet of simulated GB/T 28181 devices against a platform.

    sightline sim --server 127.0.0.1:5060 --server-id 34020000002000000001 \\
        --devices 100 --channels 1 --password 12345678

Prints registration progress (a live bar with ``rich`` when it is installed, plain lines
otherwise) and, on SIGINT/SIGTERM or after ``--duration``, unregisters (Expires 0) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import signal
import sys
from typing import Any

from sightline.errors import ConfigError
from sightline.logs import setup_logging
from sightline.sim.audio import SimAudio
from sightline.sim.config import DeviceGroup, SimConfig, Transport, VideoSource
from sightline.sim.host import SimHost
from sightline.sim.video import VideoCodec, VideoSettings

__all__ = ["add_parser", "config_from_args", "run", "run_async"]

_PROGRESS_EVERY_S = 1.0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sim`` sub-command to ``subparsers`` (from ``add_subparsers``)."""
    sim = subparsers.add_parser("sim", help="simulate GB/T 28181 IPCs and NVRs")
    sim.add_argument("--server", required=True, help="platform SIP address, HOST:PORT")
    sim.add_argument("--server-id", required=True, help="platform 20-digit SIP ID")
    sim.add_argument("--domain", help="SIP domain/realm (default: first 10 digits of server ID)")
    sim.add_argument("--devices", type=int, default=1, help="number of devices")
    sim.add_argument("--channels", type=int, default=1, help="channels per device (>1: NVR)")
    sim.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    sim.add_argument("--password", default="12345678", help="digest password of every device")
    sim.add_argument("--gb-version", choices=["2016", "2022"], default="2016")
    sim.add_argument("--id-prefix", default="34020000", help="8-digit center code of the IDs")
    sim.add_argument("--serial-start", type=int, default=1, help="serial of the first device")
    sim.add_argument("--keepalive-s", type=float, default=60.0)
    sim.add_argument("--expires-s", type=int, default=3600, help="registration lifetime asked")
    sim.add_argument("--register-rate", type=float, default=200.0, help="registrations/second")
    sim.add_argument("--retry-s", type=float, default=60.0, help="wait after a failed REGISTER")
    sim.add_argument("--charset", default="GB2312", help="MANSCDP body charset")
    sim.add_argument("--local-host", help="address to bind and advertise (default: automatic)")
    sim.add_argument("--local-port", type=int, default=0, help="UDP port to bind (0: any)")
    sim.add_argument("--duration", type=float, help="stop after this many seconds")
    sim.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default="WARNING",
        help="log to stderr from this level (INFO: each call, registration failure and stream)",
    )
    video = sim.add_argument_group("live video (sent when the platform INVITEs a channel)")
    video.add_argument("--codec", choices=[c.value for c in VideoCodec], default="h264")
    video.add_argument("--video-size", default="640x360", help="WIDTHxHEIGHT, at least 320x180")
    video.add_argument("--fps", type=int, default=25, help="frames per second")
    video.add_argument("--bitrate", type=int, default=1024, help="target bit rate, kbit/s")
    video.add_argument(
        "--audio",
        choices=[a.value for a in SimAudio],
        default="none",
        help="G.711 audio (an 8 kHz tone) in the same PS stream as the video",
    )
    video.add_argument(
        "--video-source",
        choices=[s.value for s in VideoSource],
        default="auto",
        help="live: an encoder per watched channel (its name, the clock and PTZ in the picture); "
        "loop: one pre-encoded clip for all (cheap; a channel whose head moves goes live); "
        "auto: loop above --loop-above-channels channels",
    )
    video.add_argument(
        "--loop-above-channels",
        type=int,
        default=64,
        help="with --video-source auto, fleets with more channels than this send the loop",
    )
    return sim  # type: ignore[no-any-return]


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--server must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _video(args: argparse.Namespace) -> VideoSettings:
    width, sep, height = args.video_size.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ConfigError(f"--video-size must be WIDTHxHEIGHT, got {args.video_size!r}")
    return VideoSettings(
        codec=VideoCodec(args.codec),
        width=int(width),
        height=int(height),
        fps=args.fps,
        bitrate_kbps=args.bitrate,
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The SimConfig the command line describes (raises ConfigError)."""
    host, port = _host_port(args.server)
    return SimConfig(
        server_host=host,
        server_port=port,
        server_id=args.server_id,
        domain=args.domain,
        groups=(DeviceGroup(count=args.devices, channels=args.channels),),
        transport=Transport(args.transport),
        password=args.password,
        gb_version=args.gb_version,
        id_prefix=args.id_prefix,
        serial_start=args.serial_start,
        keepalive_s=args.keepalive_s,
        expires_s=args.expires_s,
        register_rate=args.register_rate,
        retry_s=args.retry_s,
        charset=args.charset,
        local_host=args.local_host,
        local_port=args.local_port,
        video=_video(args),
        audio=SimAudio(args.audio),
        video_source=VideoSource(args.video_source),
        loop_above_channels=args.loop_above_channels,
    )


class _Progress:
    """Registered x/N, as a rich bar on a terminal when rich is installed, else plain lines."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._last = -1
        self._bar: Any = None
        self._task: Any = None
        if sys.stdout.isatty():
            with contextlib.suppress(ImportError):
                progress = importlib.import_module("rich.progress")
                self._bar = progress.Progress()
                self._task = self._bar.add_task("registered", total=total)
                self._bar.start()

    def show(self, host: SimHost) -> None:
        registered = host.registered
        if self._bar is not None:
            self._bar.update(self._task, completed=registered)
        elif registered != self._last:
            stats = host.stats
            print(
                f"registered {registered}/{self._total} "
                f"(failures {stats.register_failures}, "
                f"retransmissions {host.sip_stats.retransmissions})",
                flush=True,
            )
        self._last = registered

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


async def run_async(args: argparse.Namespace) -> int:
    """Run the simulator until signalled or ``--duration`` ends; the exit status."""
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"sightline sim: {exc}", file=sys.stderr)
        return 2
    host = SimHost(config)
    # the fleet lives as long as the process: keep its objects out of the cyclic collector's
    # scans, which a registration storm's allocations would otherwise trigger over and over
    gc.freeze()
    try:
        await host.start()
    except OSError as exc:
        print(f"sightline sim: cannot start: {exc}", file=sys.stderr)
        return 1
    print(
        f"simulating {config.device_count} devices ({config.channel_count} channels) "
        f"from {host.local_address[0]}:{host.local_address[1]} "
        f"to {config.server_host}:{config.server_port} over {config.transport.value}, "
        f"video {'from a pre-encoded loop' if config.loop_video else 'encoded live'}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    progress = _Progress(config.device_count)
    try:
        while not stop.is_set():
            progress.show(host)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _PROGRESS_EVERY_S)
        progress.show(host)
    finally:
        progress.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        print("unregistering...", flush=True)
        await host.stop(unregister=True)
    print(f"stopped; {host.registered} devices still registered", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point for ``sightline sim`` (uvloop when available)."""
    setup_logging(args.log_level)
    try:
        import uvloop
    except ImportError:  # uvloop is optional off Linux
        return asyncio.run(run_async(args))
    return uvloop.run(run_async(args))
