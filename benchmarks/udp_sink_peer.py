"""The physical limit beside ``media_serve.py``'s levels: ``udp_sink.c`` (epoll + recvmmsg,
counts datagrams and does nothing else) fed by ``media_streams.py``'s sender at the same
streams and packets per stream, and its CPU per packet."""

from __future__ import annotations

import argparse
import pickle
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.media_serve import Level

SINK_PORT = 27000  # the C sink's ports: above serve's range, away from media_streams.py's


def sink_peer(levels: list[Level], args: argparse.Namespace, work: Path) -> None:
    """The physical limit at each level: udp_sink.c fed by media_streams.py's sender."""
    from benchmarks.media_roles import make_clip
    from benchmarks.media_streams import build_sink

    binary = build_sink(work)
    if binary is None:
        return
    # the same packets per second per stream as the simulator sent: media_streams.py's clip
    # makes ~233 RTP packets/s per stream at 2,000 kbit/s (its test pattern compresses less)
    per_stream = max(lv.packets / (lv.seconds or 1.0) / lv.streams for lv in levels)
    kbps = max(200, round(2000 * per_stream / 233))
    clip = work / "clip.pickle"
    clip.write_bytes(pickle.dumps(make_clip(2.0, kbps * 1000, args.size)))
    for level in levels:
        got = sink_level(binary, clip, level.streams, args.seconds)
        if got is None:
            print("the C sink could not bind its ports; comparison skipped", flush=True)
            continue
        packets, sent, cpu = got
        level.sink_cpu_per_packet_us = 1e6 * cpu / max(packets, 1)
        print(
            f"{level.streams:>5} streams, C recvmmsg sink: {packets / args.seconds:,.0f}"
            f" packets/s, {level.sink_cpu_per_packet_us:.2f} us of CPU per packet, loss"
            f" {100 * max(0, sent - packets) / max(sent, 1):.3f} %",
            flush=True,
        )


def sink_level(
    binary: Path, clip: Path, streams: int, seconds: float
) -> tuple[int, int, float] | None:
    """(packets counted, packets sent, CPU seconds) of the C sink at one load; None when its
    ports are taken. Its own port range, so it never meets another benchmark's receiver."""
    from benchmarks.media_streams import _send, _sent

    sink = subprocess.Popen(
        [str(binary), str(SINK_PORT), str(streams), "2", f"{seconds + 2:g}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    if sink.stdout.readline().strip() != "ready":
        sink.wait(10)
        return None
    sent = _sent(_send(clip, streams, seconds, SINK_PORT))
    out = dict(kv.split("=") for kv in sink.stdout.readline().split())
    sink.wait(10)
    return int(out["packets"]), int(sent["packets"]), float(out["cpu_s"]) * seconds / (seconds + 2)
