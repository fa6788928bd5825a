"""K simulated 2 Mbit/s cameras into one whole ``sightline serve``, each played by a viewer.

Where ``media_streams.py`` runs serve's receive code in a process of its own, this runs the
whole system as an operator would, on one machine:

* ``sightline serve`` (SQLite in a temporary directory, loopback only, an RTP port range
  for every stream, SIP rate limits raised because every device comes from 127.0.0.1);
* ``sightline sim`` (``--sims`` processes, consecutive serial ranges) with enough IPCs,
  sending the pre-encoded loop (``--video-source loop``) at ``--bitrate`` and 25 fps over
  UDP when serve INVITEs them;
* ``--viewers`` viewer processes (``media_serve_viewers.py``): log in, ``POST
  /api/v1/channels/{id}/live`` and play the answer's WebSocket URL (what the web console
  plays), counting fMP4 bytes and fragments.

For each K in ``--streams`` (streams are kept from one level to the next) it opens the new
streams (``--open-at-once`` at a time), waits ``--warmup-s``, then measures over
``--seconds``: streams held (every viewer got media throughout, no silence over 1 s), RTP
packet loss from serve's own per-stream counters (``sightline_stream_rtp_packets`` and
``_lost`` in ``/metrics``), the kernel's UDP receive-buffer drops, CPU in % of one core of
serve (with its worker processes), the simulators and the viewers, the load average, and
``POST /live`` → first fMP4 byte (p50/p95) of the level's opens. After the last level,
``--burst`` more cameras are opened at once (a video wall) on top of the running streams.
Then, with everything stopped, the physical limit: ``udp_sink.c`` (epoll + recvmmsg) fed by
``media_streams.py``'s sender at each K, and the ratio of CPU per datagram.

``--workers N`` runs serve with ``media.workers = N``: live video received and delivered by
N worker processes (the play URLs name their ports), SIP and the API in the main process.

``--profile S`` samples serve with py-spy for S seconds at the largest K. With ``--keep`` the
work directory keeps serve's and the simulators' logs (``--serve-log INFO`` for a line per
step of each open) and ``opens.jsonl``: per open, the viewer's wall clock at POST /live, its
answer, the WebSocket connected and the first fMP4 byte, to line up with those logs.

Run: ``.venv/bin/python benchmarks/media_serve.py --streams 100,250,500``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the packages importable
    sys.path.insert(0, str(ROOT))

from tests.e2e.api_client import ApiClient  # noqa: E402
from tests.e2e.server import SightlineProcess, start_sightline  # noqa: E402

from benchmarks import exit_cleanly_on_sigterm  # noqa: E402
from benchmarks.media_serve_viewers import ViewerProcess, ask_all  # noqa: E402
from benchmarks.procs import (  # noqa: E402
    children,
    cmdline,
    cpu_s,
    profile,
    show_profile,
    udp_receive_errors,
)
from benchmarks.sim_fleet import Simulator  # noqa: E402
from benchmarks.udp_sink_peer import sink_peer  # noqa: E402

__all__ = ["Level", "main"]

SERVER_ID = "34020000002000000001"
PASSWORD = "bench-device-password"
ADMIN = "bench-admin-password"
FIRST_RTP_PORT = 24000  # below Linux's ephemeral range, away from media_streams.py's 22000
LOSS_TARGET = 0.001
MAX_GAP_S = 1.0  # a viewer silent for longer than this in the window did not hold its stream


@dataclass
class Level:
    """One load level's figures."""

    streams: int
    seconds: float = 0.0
    held: int = 0
    packets: float = 0.0
    lost: float = 0.0
    fragments: int = 0
    fmp4_bytes: int = 0
    serve_cpu_s: float = 0.0
    sims_cpu_s: float = 0.0
    viewers_cpu_s: float = 0.0
    udp_drops: int = 0
    load: str = ""
    opens: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    worst_gap_s: float = 0.0
    silent: int = 0  # viewers that never got a byte
    sink_cpu_per_packet_us: float | None = None

    @property
    def loss(self) -> float:
        """Share of RTP packets lost, by serve's own counters."""
        total = self.packets + self.lost
        return self.lost / total if total else 1.0

    @property
    def ok(self) -> bool:
        """Every stream held with loss under the target."""
        return self.held == self.streams and self.loss < LOSS_TARGET

    def cpu(self, seconds: float) -> float:
        """``seconds`` of CPU in % of one core over the window."""
        return 100 * seconds / (self.seconds or 1.0)


# -- processes ---------------------------------------------------------------------------------


def rtp_counters(server: SightlineProcess) -> tuple[float, float]:
    """Sum of every live stream's RTP packets and lost packets, from serve's /metrics."""
    packets = lost = 0.0
    for name, value in server.metrics().items():
        if name.startswith("sightline_stream_rtp_packets_total"):
            packets += value
        elif name.startswith("sightline_stream_rtp_lost_total"):
            lost += value
    return packets, lost


def start_server(
    work: Path, ports: int, log_level: str = "WARNING", workers: int = 0
) -> SightlineProcess:
    """``serve`` with an RTP port range for every stream and SIP limits for one source; with
    ``workers`` media workers, each worker's share of the range holds every stream."""
    if workers:
        ports = (ports // workers + 2) * (workers + 1)
    data = work / "serve"
    data.mkdir()
    return start_sightline(
        data,
        password=PASSWORD,
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN,
            "SIGHTLINE_LOG__LEVEL": log_level,
            "SIGHTLINE_MEDIA__RTP_PORTS": f"{FIRST_RTP_PORT}-{FIRST_RTP_PORT + ports - 1}",
            "SIGHTLINE_MEDIA__GRACE_S": "2",
            "SIGHTLINE_MEDIA__WORKERS": str(workers),
            "SIGHTLINE_SIP__RATE_PER_SOURCE": "1000000",
            "SIGHTLINE_SIP__RATE_BURST": "1000000",
            "SIGHTLINE_SIP__BAN_AFTER_FAILURES": "1000000",
        },
        startup_timeout_s=60,
    )


def start_sims(server: SightlineProcess, devices: int, args: argparse.Namespace) -> list[Simulator]:
    """``--sims`` simulators, consecutive serial ranges, every IPC on the pre-encoded loop."""
    sims = []
    serial = 1
    for i in range(args.sims):
        count = devices // args.sims + (1 if i < devices % args.sims else 0)
        sim = Simulator(
            [
                *("--server", f"127.0.0.1:{server.sip_port}", "--server-id", SERVER_ID),
                *("--password", PASSWORD, "--local-host", "127.0.0.1"),
                *("--devices", str(count), "--channels", "1", "--serial-start", str(serial)),
                *("--register-rate", "2000", "--video-source", "loop"),
                *("--video-size", args.size, "--fps", "25", "--bitrate", str(args.bitrate)),
                *("--log-level", args.serve_log),
            ],
            devices=count,
        )
        sim.start()
        sims.append(sim)
        serial += count
    return sims


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Run:
    """What every level shares."""

    server: SightlineProcess
    sims: list[Simulator]
    viewers: list[ViewerProcess]
    args: argparse.Namespace
    work: Path


def open_streams(run: Run, channels: list[str], at_once: int) -> tuple[list[float], list[str]]:
    """Spread ``channels`` over the viewers and open them; times to first byte, failures."""
    n = len(run.viewers)
    each = max(1, math.ceil(at_once / n))
    answers = ask_all(run.viewers, [f"open {each} " + " ".join(channels[i::n]) for i in range(n)])
    times = [float(t) for a in answers for t in a["times"]]
    failed = [str(f) for a in answers for f in a["failed"]]
    with (run.work / "opens.jsonl").open("a") as steps:  # each open's steps, wall clock
        steps.writelines(json.dumps(s) + "\n" for a in answers for s in a["steps"])
    return times, failed


def snapshot(run: Run) -> dict[str, Any]:
    """Counters of every party at one moment."""
    marks = ask_all(run.viewers, ["mark"] * len(run.viewers))
    packets, lost = rtp_counters(run.server)
    return {
        "streams": {k: v for m in marks for k, v in m["streams"].items()},
        "packets": packets,
        "lost": lost,
        "serve": cpu_s(run.server.pid),
        "sims": sum(cpu_s(s.pid) for s in run.sims),
        "viewers": sum(cpu_s(v.process.pid) for v in run.viewers),
        "udp": udp_receive_errors(),
        "at": time.monotonic(),
    }


def measure(run: Run, level: Level, profile_s: float) -> None:
    """Warm up, then count over the window."""
    time.sleep(run.args.warmup_s)
    before = snapshot(run)
    rows: list[tuple[str, float]] = []
    profiler = None
    if profile_s:
        out = run.work / f"serve-{level.streams}.txt"
        seconds = min(profile_s, run.args.seconds)
        # with media workers the media is in the first worker, the main process nearly idle
        workers = [c for c in children(run.server.pid) if "media_worker" in cmdline(c)]
        pid = workers[0] if workers else run.server.pid
        profiler = threading.Thread(target=lambda: rows.extend(profile(pid, seconds, out)))
        profiler.start()
    time.sleep(max(0.0, run.args.seconds - (time.monotonic() - before["at"])))
    after = snapshot(run)
    if profiler is not None:
        profiler.join()
    level.seconds = after["at"] - before["at"]
    level.packets = after["packets"] - before["packets"]
    level.lost = after["lost"] - before["lost"]
    level.serve_cpu_s = after["serve"] - before["serve"]
    level.sims_cpu_s = after["sims"] - before["sims"]
    level.viewers_cpu_s = after["viewers"] - before["viewers"]
    level.udp_drops = after["udp"] - before["udp"]
    level.load = Path("/proc/loadavg").read_text().split()[0]
    for channel, (size, fragments, gap) in after["streams"].items():
        old = before["streams"].get(channel, [0, 0, 0.0])
        got = fragments - old[1]
        level.fragments += got
        level.fmp4_bytes += size - old[0]
        if gap < 0:  # never got a byte
            level.silent += 1
            continue
        level.worst_gap_s = max(level.worst_gap_s, gap)
        if got and gap <= MAX_GAP_S:
            level.held += 1
    if rows:
        show_profile(f"serve at {level.streams} streams", rows)


def percentile(times: list[float], share: float) -> float:
    """The ``share`` percentile (nearest rank) of ``times``."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else 0.0


def opens_text(times: list[float]) -> str:
    """``p50 / p95 ms`` of times to first byte."""
    if not times:
        return "-"
    return f"{1000 * statistics.median(times):.0f} / {1000 * percentile(times, 0.95):.0f} ms"


def report(level: Level) -> None:
    """One line per level as it is measured."""
    t = level.seconds or 1.0
    per_stream = level.packets / t / level.streams
    mbps = level.fmp4_bytes * 8 / t / level.streams / 1e6
    print(
        f"{level.streams:>5} streams ({'held' if level.ok else 'NOT held'}, load {level.load}):"
        f" {level.held} held, {level.silent} never started, worst silence"
        f" {level.worst_gap_s:.2f} s;"
        f" {level.packets / t:,.0f} RTP packets/s ({per_stream:.0f} per stream),"
        f" loss {100 * level.loss:.3f} %, kernel UDP drops {level.udp_drops};"
        f" fMP4 {level.fragments / t / level.streams:.1f} messages/s and {mbps:.2f} Mbit/s"
        f" per viewer\n{'':>7}CPU (% of one core): serve {level.cpu(level.serve_cpu_s):.1f},"
        f" simulators {level.cpu(level.sims_cpu_s):.1f}, viewers"
        f" {level.cpu(level.viewers_cpu_s):.1f}; POST /live -> first fMP4 byte p50/p95"
        f" {opens_text(level.opens)} ({len(level.opens)} opens, {len(level.failed)} failed)",
        flush=True,
    )
    for failure in level.failed[:5]:
        print(f"{'':>7}failed: {failure}", flush=True)


def table(levels: list[Level]) -> None:
    """The Markdown table of every level."""
    print(
        "\n| streams | held | RTP packets/s | loss | serve CPU | µs per packet | sims CPU"
        " | viewers CPU | load | first byte p50 / p95 | C sink µs per packet | serve / C |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for lv in levels:
        t = lv.seconds or 1.0
        us = 1e6 * lv.serve_cpu_s / max(lv.packets, 1.0)
        sink = lv.sink_cpu_per_packet_us
        print(
            f"| {lv.streams} | {lv.held} | {lv.packets / t:,.0f} | {100 * lv.loss:.3f} % |"
            f" {lv.cpu(lv.serve_cpu_s):.1f} % | {us:.1f} | {lv.cpu(lv.sims_cpu_s):.1f} % |"
            f" {lv.cpu(lv.viewers_cpu_s):.1f} % | {lv.load} | {opens_text(lv.opens)} |"
            f" {'-' if sink is None else f'{sink:.1f}'} |"
            f" {'-' if sink is None else f'{us / sink:.1f}'} |"
        )


def bench(args: argparse.Namespace, work: Path) -> list[Level]:
    """Start serve, simulators and viewers; measure every level and the burst."""
    from benchmarks.media_delivery import clip_units, delivery_cost_us

    steps = sorted(int(s) for s in args.streams.split(","))
    devices = steps[-1] + args.burst
    cost = delivery_cost_us(clip_units(args.size))
    print(
        f"serve's delivery path alone (hub -> +aac variant -> viewer -> fMP4), no I/O:"
        f" {cost:.1f} us of CPU per frame",
        flush=True,
    )
    server = start_server(work, 2 * devices + 64, args.serve_log, args.workers)
    sims: list[Simulator] = []
    viewers: list[ViewerProcess] = []
    levels: list[Level] = []
    try:
        sims = start_sims(server, devices, args)
        with ApiClient(server.http_url, password=ADMIN, timeout_s=120) as api:
            total, _ = api.wait_for(
                lambda a: a.page("/api/v1/channels", limit=1).total,
                lambda n: n >= devices,
                timeout_s=300,
            )
            if total < devices:
                raise RuntimeError(f"only {total} of {devices} channels listed")
            channels = sorted(c["id"] for c in api.all_items("/api/v1/channels").items)
        print(
            f"serve pid {server.pid}, {len(sims)} simulator(s), {devices} channels listed;"
            f" {os.cpu_count()} cores, load {Path('/proc/loadavg').read_text().split()[0]}",
            flush=True,
        )
        command = [sys.executable, __file__, "--role", "view", "--base-url", server.http_url]
        viewers = [ViewerProcess(command, ROOT) for _ in range(args.viewers)]
        run = Run(server, sims, viewers, args, work)
        opened = 0
        for k in steps:
            level = Level(k)
            level.opens, level.failed = open_streams(run, channels[opened:k], args.open_at_once)
            opened = k
            measure(run, level, args.profile if k == steps[-1] else 0.0)
            report(level)
            levels.append(level)
        if args.burst:
            times, failed = open_streams(run, channels[opened : opened + args.burst], args.burst)
            print(
                f"{args.burst} more opened at once on top of {opened} streams: POST /live ->"
                f" first fMP4 byte p50/p95 {opens_text(times)}, max"
                f" {1000 * max(times, default=0):.0f} ms, {len(failed)} failed"
                f" (load {Path('/proc/loadavg').read_text().split()[0]})",
                flush=True,
            )
            for failure in failed[:5]:
                print(f"       failed: {failure}", flush=True)
    finally:
        for viewer in viewers:
            viewer.stop()
        for sim in sims:
            sim.stop()
        for i, sim in enumerate(sims):  # their INVITE answers, with times
            (work / f"sim{i}.log").write_text("".join(sim.lines))
        code = server.stop(60)
        (work / "serve.log").write_text(server.log())
        problems = server.log_problems()
        if code != 0 or problems:
            print(f"serve exit {code}; log:\n{server.log()[-3000:]}", flush=True)
    return levels


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--role view``, be a viewer process)."""
    args = _parse(argv)
    if args.role == "view":
        from benchmarks.media_serve_viewers import run as run_viewers

        return run_viewers(args.base_url, ADMIN)
    exit_cleanly_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="sightline-media-serve-"))
    try:
        levels = bench(args, work)
        if args.sink:
            sink_peer(levels, args, work)
        table(levels)
        held = [lv.streams for lv in levels if lv.ok]
        print(
            f"\nheld (every viewer fed, < {100 * LOSS_TARGET:g} % loss):"
            f" {max(held) if held else 0} streams",
            flush=True,
        )
    finally:
        if args.keep:
            print(f"work directory: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="100,250,500", help="load levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per level")
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument(
        "--bitrate", type=int, default=2650, help="the simulator's target, kbit/s (2650: ~2 Mbit/s)"
    )
    parser.add_argument("--size", default="1280x720", help="the simulator's WIDTHxHEIGHT")
    parser.add_argument("--sims", type=int, default=2, help="simulator processes")
    parser.add_argument("--workers", type=int, default=0, help="serve's media.workers")
    parser.add_argument("--viewers", type=int, default=1, help="viewer processes")
    parser.add_argument("--open-at-once", type=int, default=16, help="concurrent opens")
    parser.add_argument("--burst", type=int, default=16, help="opened at once at the end")
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy seconds at max K")
    parser.add_argument("--no-sink", dest="sink", action="store_false", help="skip the C peer")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--serve-log",
        default="WARNING",
        help="serve's and the simulators' log level (INFO: a timeline of each open)",
    )
    parser.add_argument("--role", choices=["view"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
