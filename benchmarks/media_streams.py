"""K live streams of PS over RTP at 2 Mbit/s into sightline's receive path, each with a viewer.

What a platform holding many cameras at once does with their video, measured on one machine:

* a **sender** process (not the simulator's per-frame encoder: a clip of ``--clip-s`` seconds
  is encoded once with PyAV, muxed with ``PsMuxer`` and cut into 1,400-byte RTP packets, then
  looped, only the RTP header rewritten per packet) sends K streams at 25 frames/s, spread
  evenly over each frame interval, to K UDP ports on 127.0.0.1;
* a **receiver** process runs what ``sightline serve`` runs for a live stream, on uvloop
  with serve's garbage-collector settings (``node_tuning.tune_gc_for_serving``) and the optional C
  extension ``_fastrtp`` when it is built (its RTP fast lane included), as ``serve`` does:
  ``UdpRtpReceiver`` (RTP parse → SSRC check → ``JitterBuffer`` → ``PsDemuxer``, RTCP port and
  receiver reports) → ``StreamHub`` → one viewer per stream packaging fMP4 (``Fmp4Packager``);
* the **physical limit**: the same sender into ``udp_sink.c`` (epoll + recvmmsg, counts
  datagrams and does nothing else), built with the system's ``cc``.

For each K in ``--streams`` it prints packets/s, the receiver's CPU (user + system, % of one
core), loss (packets the sender sent that never reached the demuxer), frames and fMP4 bytes out,
and the C sink's CPU at the same load; the largest K with loss < 0.1 % is what one core
sustains. ``--profile S`` samples the receiver with py-spy for S seconds at the largest K;
``--pure-python`` runs the pure-Python reference instead of the C extension's functions
(the burst reader, the RTP fast lane, the start-code scans and the Annex-B conversion);
``--push`` lets the hub take frames pushed by the receivers (``RtpReceiver.attach``) where
serve's ``LiveUpstream`` does not offer that yet (by default the hub is fed as in serve).
``--first-frame N`` also opens N simulated cameras at once through a real ``sightline serve``
and prints the time from ``POST /live`` to the first fMP4 byte (``media_first_frame.py``).

Run: ``.venv/bin/python benchmarks/media_streams.py --streams 100,250,500``
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.media_roles import (  # noqa: E402
    hub_feed,
    make_clip,
    pipeline_cost_us,
    receive,
    receive_path,
    send,
    use_pure_python,
)

FIRST_PORT = 22000  # below Linux's ephemeral range (32768+), where other programs' sockets land
LOSS_TARGET = 0.001


@dataclass
class Step:
    """One load level's results."""

    streams: int
    seconds: float
    sent: int
    received: int
    lost: int
    frames: int
    fmp4_bytes: int
    cpu_s: float
    sender_lag_s: float
    window_packets: int = 0
    offered_pps: float = 0.0
    backlog_s: float = 0.0  # how long after the window the receiver still worked off queued packets
    load: float = 0.0  # the machine's 1-minute load average (other work skews every figure)
    sink_packets: int = 0
    sink_sent: int = 0
    sink_cpu_s: float = 0.0

    @property
    def loss(self) -> float:
        """Share of sent packets that never arrived."""
        return max(0, self.sent - self.received) / self.sent if self.sent else 1.0

    @property
    def sustained(self) -> bool:
        """Kept up with the offered load (no growing backlog) with loss under the target."""
        kept_up = self.window_packets / (self.seconds or 1.0) >= 0.97 * self.offered_pps
        return kept_up and self.backlog_s < 1.0 and self.loss < LOSS_TARGET and not self.lagged

    @property
    def lagged(self) -> bool:
        """The sender fell behind its schedule: the load offered was less than asked."""
        return self.sender_lag_s > 0.5

    @property
    def sink_loss(self) -> float:
        """The C sink's share of sent packets missing."""
        return (
            max(0, self.sink_sent - self.sink_packets) / self.sink_sent if self.sink_sent else 1.0
        )


def _child(role: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _line(stream: IO[str] | None, timeout_s: float = 120.0) -> str:
    assert stream is not None
    line = stream.readline()
    if not line:
        raise RuntimeError("a benchmark child ended early")
    return line.strip()


def _send(clip: Path, streams: int, seconds: float, first_port: int) -> subprocess.Popen[str]:
    return _child(
        "send", "--clip", str(clip), "--streams", str(streams), "--seconds", f"{seconds:g}",
        "--first-port", str(first_port),
    )  # fmt: skip


def _sent(sender: subprocess.Popen[str]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_line(sender.stdout))
    sender.wait(30)
    return result


def run_step(
    clip: Path,
    streams: int,
    *,
    seconds: float,
    warmup_s: float,
    profile_s: float,
    work: Path,
    pure: bool = False,
    push: bool = False,
) -> Step:
    """Receiver + sender at one load; then the C sink at the same load."""
    receiver = _child(
        "receive", "--streams", str(streams), "--first-port", str(FIRST_PORT),
        *(["--pure-python"] if pure else []), *(["--push"] if push else []),
    )  # fmt: skip
    try:
        assert _line(receiver.stdout) == "ready"
        sender = _send(clip, streams, warmup_s + seconds, FIRST_PORT)
        time.sleep(warmup_s)
        assert receiver.stdin is not None
        before = _mark(receiver)
        rows = []
        if profile_s:
            from benchmarks.procs import profile

            rows = profile(receiver.pid, min(profile_s, seconds), work / f"media-{streams}.txt")
        time.sleep(max(0.0, seconds - (time.monotonic() - before["at"])))
        after = _mark(receiver)
        sent = _sent(sender)
        drained = _drained(receiver, after["at"])
        final = _mark(receiver, "final")
        receiver.wait(30)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    if rows:
        from benchmarks.procs import show_profile

        show_profile(f"receiver at {streams} streams", rows)
    step = Step(
        streams=streams,
        seconds=after["at"] - before["at"],
        sent=sent["packets"],
        received=final["packets"],
        lost=final["lost"],
        frames=after["frames"] - before["frames"],
        fmp4_bytes=after["fmp4_bytes"] - before["fmp4_bytes"],
        cpu_s=after["cpu_s"] - before["cpu_s"],
        sender_lag_s=sent["lag_s"],
        window_packets=after["packets"] - before["packets"],
        offered_pps=sent["packets"] / (warmup_s + seconds),
        backlog_s=drained,
        load=os.getloadavg()[0],
    )
    step.received = min(final["packets"], step.sent)
    _sink_step(step, clip, seconds, work)
    return step


def _mark(receiver: subprocess.Popen[str], command: str = "mark") -> dict[str, Any]:
    """The receiver's counters now (``final`` also ends it)."""
    assert receiver.stdin is not None
    receiver.stdin.write(command + "\n")
    receiver.stdin.flush()
    counters: dict[str, Any] = json.loads(_line(receiver.stdout))
    return counters


def _drained(receiver: subprocess.Popen[str], window_end: float, limit_s: float = 60.0) -> float:
    """Wait until the receiver stops counting packets (it may be working off its socket
    buffers); how long past the window's end that took."""
    last = -1
    while True:
        time.sleep(0.5)
        now = _mark(receiver)
        if now["packets"] == last or now["at"] - window_end > limit_s:
            return float(max(0.0, now["at"] - window_end - 1.0))
        last = now["packets"]


def _sink_step(step: Step, clip: Path, seconds: float, work: Path) -> None:
    binary = build_sink(work)
    if binary is None:
        return
    sink = subprocess.Popen(
        [str(binary), str(FIRST_PORT), str(step.streams), "2", f"{seconds + 2:g}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    if sink.stdout.readline().strip() != "ready":
        sink.wait(10)
        print("the C sink could not bind its ports; comparison skipped", flush=True)
        return
    sender = _send(clip, step.streams, seconds, FIRST_PORT)
    sent = _sent(sender)
    out = dict(kv.split("=") for kv in _line(sink.stdout).split())
    sink.wait(10)
    step.sink_sent = sent["packets"]
    step.sink_packets = int(out["packets"])
    step.sink_cpu_s = float(out["cpu_s"]) * seconds / (seconds + 2)  # its idle tail excluded


def build_sink(work: Path) -> Path | None:
    """Compile udp_sink.c with the system's cc (None, with a note, when there is none)."""
    binary = work / "udp_sink"
    if binary.exists():
        return binary
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        print("no C compiler: the physical-limit comparison is skipped", flush=True)
        return None
    source = Path(__file__).with_name("udp_sink.c")
    subprocess.run([cc, "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def report(step: Step) -> None:
    """One line per load level (and one for the C sink at the same load)."""
    t = step.seconds or 1.0
    cpu = step.cpu_s / t
    mbps = step.fmp4_bytes * 8 / t / 1e6
    verdict = "held" if step.sustained else "NOT held"
    stream_pps = step.offered_pps / step.streams
    per_core = step.window_packets / t / max(cpu, 1e-3) / stream_pps
    print(
        f"{step.streams:>6} streams ({verdict}, load average {step.load:.1f}):"
        f" {step.window_packets / t:,.0f} of {step.offered_pps:,.0f} packets/s offered,"
        f" backlog {step.backlog_s:.1f} s, loss {100 * step.loss:.3f} % (jitter lost {step.lost}),"
        f" sender lag {step.sender_lag_s:.2f} s\n"
        f"{'':>8}receiver CPU {100 * cpu:5.1f} % of a core, {step.frames / t:,.0f} frames/s,"
        f" fMP4 {mbps:.1f} Mbit/s; at this cost one core: ~{per_core:,.0f} streams",
        flush=True,
    )
    if step.sink_sent:
        sink = step.sink_cpu_s / t
        print(
            f"{'':>8}C recvmmsg sink, same load: CPU {100 * sink:5.1f} %,"
            f" loss {100 * step.sink_loss:6.3f} %; CPU per packet sightline / C ="
            f" {cpu / max(sink, 1e-4):.1f}; one core: ~{step.streams / max(sink, 1e-4):,.0f}"
            " streams",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """Prepare the clip, run every load level, print the summary."""
    args = _parse(argv)
    if args.role == "send":
        return send(Path(args.clip), args.streams, args.seconds, args.first_port)
    if args.pure_python:
        use_pure_python()
    if args.role == "receive":
        return receive(args.streams, args.first_port, args.push)
    work = Path(tempfile.mkdtemp(prefix="sightline-media-bench-"))
    clip = work / "clip.pickle"
    frames = make_clip(args.clip_s, args.bitrate * 1000, args.size)
    clip.write_bytes(pickle.dumps(frames))
    packets = sum(len(f[0]) for f in frames)
    size = sum(len(p) for f in frames for p in f[0])
    print(
        f"clip: {len(frames)} frames {args.size}, {size * 8 / args.clip_s / 1e6:.2f} Mbit/s in PS,"
        f" {packets / args.clip_s:.0f} RTP packets/s per stream; {os.cpu_count()} cores",
        flush=True,
    )
    print(f"receive path: {receive_path()}; hub fed by {hub_feed(args.push)}", flush=True)
    alone, packaged = pipeline_cost_us(frames)
    print(
        f"sans-IO receive path, no I/O: {alone:.2f} us of CPU per datagram"
        f" ({packaged:.2f} with one viewer's fMP4 packaging)",
        flush=True,
    )
    alone, packaged = pipeline_cost_us(frames, bursts=True)
    print(
        f"the same, a frame's datagrams per call (RtpPipeline.packets): {alone:.2f} us"
        f" ({packaged:.2f} with fMP4)",
        flush=True,
    )
    steps = [int(s) for s in args.streams.split(",")]
    results = []
    for streams in steps:
        profile_s = args.profile if streams == max(steps) else 0.0
        step = run_step(
            clip,
            streams,
            seconds=args.seconds,
            warmup_s=args.warmup_s,
            profile_s=profile_s,
            work=work,
            pure=args.pure_python,
            push=args.push,
        )
        report(step)
        results.append(step)
    if args.first_frame:
        from benchmarks.media_first_frame import first_frame_times, summary

        (work / "serve").mkdir()
        print(summary(first_frame_times(args.first_frame, work / "serve")), flush=True)
    held = [s.streams for s in results if s.sustained]
    print(
        f"held (kept up, < {100 * LOSS_TARGET:g} % loss): {max(held) if held else 0} streams",
        flush=True,
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="100,250,500", help="load levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per level")
    parser.add_argument("--warmup-s", type=float, default=3.0)
    parser.add_argument("--bitrate", type=int, default=2000, help="video kbit/s")
    parser.add_argument("--size", default="1280x720", help="video WIDTHxHEIGHT")
    parser.add_argument("--clip-s", type=float, default=2.0, help="length of the looped clip")
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy seconds at max K")
    parser.add_argument(
        "--first-frame", type=int, default=16, help="cameras for time to first byte (0: skip)"
    )
    parser.add_argument(
        "--pure-python",
        action="store_true",
        help="receive with the pure-Python reference even where the C extension is built",
    )
    parser.add_argument(
        "--push",
        action="store_true",
        help="the hub takes frames pushed by the receivers (attach) even where serve's"
        " LiveUpstream does not offer that yet",
    )
    parser.add_argument("--role", choices=["send", "receive"], help=argparse.SUPPRESS)
    parser.add_argument("--clip", help=argparse.SUPPRESS)
    parser.add_argument("--first-port", type=int, default=FIRST_PORT, help=argparse.SUPPRESS)
    if argv is None:
        argv = sys.argv[1:]
    args = parser.parse_args(argv)
    if args.role is not None:
        args.streams = int(args.streams)
    return args


if __name__ == "__main__":
    raise SystemExit(main())
