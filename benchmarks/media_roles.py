"""The two processes of ``media_streams.py``: the looping RTP sender and sightline's receive path.

Stream ``i`` uses RTP port ``first_port + 2 * i`` (RTCP on the next one, as ``serve`` books
them) and SSRC ``SSRC_BASE + i``.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import socket
import struct
import sys
import time
from pathlib import Path

from sightline.media.fmp4 import Fmp4Packager
from sightline.media.hub import StreamHub, StreamKey, Upstream, Viewer
from sightline.media.pipeline import RtpPipeline
from sightline.media.ports import RtpPortAllocator
from sightline.media.ps_format import Codec
from sightline.media.ps_mux import PsMuxer
from sightline.media.receiver import ReceiverOptions, UdpRtpReceiver

__all__ = [
    "Clip",
    "hub_feed",
    "make_clip",
    "pipeline_cost_us",
    "receive",
    "receive_path",
    "send",
    "use_pure_python",
]

SSRC_BASE = 100_000_000
FPS = 25
MAX_PAYLOAD = 1400

Clip = list[tuple[list[bytes], int]]
"""Per frame: its RTP payloads (the last one gets the marker) and its 90 kHz time."""


def make_clip(seconds: float, bit_rate: int, size: str) -> Clip:
    """Encode, mux and packetise ``seconds`` of the test pattern once (GOP of 2 s)."""
    from tests.media.video import encode_pattern

    width, _, height = size.partition("x")
    frames = encode_pattern(
        "libx264",
        round(seconds * FPS),
        width=int(width),
        height=int(height),
        fps=FPS,
        bit_rate=bit_rate,
        gop=2 * FPS,
    )
    muxer = PsMuxer(Codec.H264)
    clip: Clip = []
    for index, f in enumerate(frames):
        pts = index * (90000 // FPS)
        pack = muxer.mux_frame(f.data, pts, keyframe=f.keyframe)
        payloads = [pack[i : i + MAX_PAYLOAD] for i in range(0, len(pack), MAX_PAYLOAD)]
        clip.append((payloads, pts))
    return clip


def pipeline_cost_us(
    clip: Clip, loops: int = 10, repeat: int = 5, *, bursts: bool = False
) -> tuple[float, float]:
    """CPU microseconds per datagram of the sans-IO path alone (RTP parse, SSRC check, reorder
    buffer, PS demux) and with one viewer's fMP4 packaging, best of ``repeat``, no I/O.

    One ``RtpPipeline.packet`` call per datagram, or with ``bursts`` one ``packets`` call per
    frame's datagrams (what a receiver reading a burst per wake-up does; the C lane's case).
    """
    header = struct.Struct("!BBHII").pack
    frames: list[list[bytes]] = []
    seq = 0
    for loop in range(loops):
        for payloads, pts in clip:
            ts = pts + loop * len(clip) * (90000 // FPS)
            frame = []
            for j, payload in enumerate(payloads):
                marker = 0xE0 if j == len(payloads) - 1 else 0x60
                frame.append(header(0x80, marker, seq & 0xFFFF, ts, 7) + payload)
                seq += 1
            frames.append(frame)
    count = sum(len(f) for f in frames)

    def run(package: bool) -> float:
        pipeline, packager = RtpPipeline(expected_ssrc=7), Fmp4Packager()
        started = time.process_time()
        for n, frame in enumerate(frames):
            now = n / FPS
            if bursts:
                units = pipeline.packets(frame, now)
            else:
                units = [u for data in frame for u in pipeline.packet(data, now)]
            if package:
                for unit in units:
                    packager.push(unit)
        return (time.process_time() - started) / count * 1e6

    return min(run(False) for _ in range(repeat)), min(run(True) for _ in range(repeat))


def receive_path() -> str:
    """Which receive path this process runs: the C extension's or the pure-Python one."""
    from sightline.media import receiver

    if receiver.recv_burst is None:
        return "pure Python (sightline.media._fastrtp not built, or --pure-python)"
    return (
        "C extension sightline.media._fastrtp (recvmmsg bursts with the RTP fast lane,"
        " start-code scans, Annex-B to length-prefixed)"
    )


def use_pure_python() -> None:
    """Run the pure-Python reference even where the C extension is built (for comparison)."""
    from sightline.media import es, pipeline, ps_demux, ps_frames, receiver

    receiver.recv_burst = None
    receiver.rtp_burst = None
    pipeline.rtp_run = None
    ps_demux.packet_start = ps_demux.packet_start_py
    ps_frames.start_code = ps_frames.start_code_py
    es._find_start = es._find_start_py
    es._length_prefixed = None


def send(clip_path: Path, streams: int, seconds: float, first_port: int) -> int:
    """Send ``streams`` looping copies of the clip for ``seconds``; print what was sent."""
    clip: Clip = pickle.loads(clip_path.read_bytes())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    addrs = [("127.0.0.1", first_port + 2 * i) for i in range(streams)]
    sequence = [0] * streams
    header = struct.Struct("!BBHII").pack
    loop_90k = len(clip) * (90000 // FPS)
    interval = 1.0 / FPS / streams  # frames of all streams spread evenly
    total = int(seconds * FPS * streams)
    sent = errors = event = 0
    started = time.monotonic()
    while event < total:
        due = min(total, int((time.monotonic() - started) / interval) + 1)
        while event < due:
            k, i = divmod(event, streams)
            payloads, pts = clip[k % len(clip)]
            ts = (pts + (k // len(clip)) * loop_90k) & 0xFFFFFFFF
            seq, last, addr, ssrc = sequence[i], len(payloads) - 1, addrs[i], SSRC_BASE + i
            for j, payload in enumerate(payloads):
                marker = 0xE0 if j == last else 0x60  # PT 96
                try:
                    sock.sendto(header(0x80, marker, (seq + j) & 0xFFFF, ts, ssrc) + payload, addr)
                except OSError:
                    errors += 1
            sequence[i] = seq + len(payloads)
            sent += len(payloads)
            event += 1
        ahead = started + event * interval - time.monotonic()
        if ahead > 0:
            time.sleep(max(ahead, 0.001))
    lag = time.monotonic() - (started + total * interval)
    print(json.dumps({"packets": sent, "errors": errors, "lag_s": max(0.0, lag)}), flush=True)
    return 0


class _Counted:
    """A viewer packaging fMP4, counting what it would send."""

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0

    async def run(self, viewer: Viewer) -> None:
        packager = Fmp4Packager()
        async for unit in viewer:
            self.frames += 1
            for segment in packager.push(unit):
                self.bytes += len(segment.data)


class _FramesOnly:
    """A receiver as an upstream that only offers ``frames()`` (the hub's pull path)."""

    def __init__(self, receiver: UdpRtpReceiver) -> None:
        self.frames = receiver.frames
        self.close = receiver.close


def hub_feed(push: bool = False) -> str:
    """How the hub takes a receiver's frames here: as serve does (``LiveUpstream`` pushes
    when it has ``attach``, else the hub iterates ``frames()``), or pushed when asked."""
    from sightline.gb28181.live import LiveUpstream

    return "push" if push or hasattr(LiveUpstream, "attach") else "frames"


async def _receive(streams: int, first_port: int, push: bool) -> None:
    from sightline.node_tuning import tune_gc_for_serving

    tune_gc_for_serving()  # as serve does at start-up (gc.freeze, young threshold 10,000)
    allocator = RtpPortAllocator(first_port, first_port + 2 * streams - 1, step=2)
    hub = StreamHub(first_frame_timeout_s=120.0)
    receivers: list[UdpRtpReceiver] = []
    viewers: list[_Counted] = []
    tasks = []
    for i in range(streams):
        options = ReceiverOptions(host="127.0.0.1", expected_ssrc=SSRC_BASE + i)
        receiver = await UdpRtpReceiver(allocator, options).start()
        if receiver.port != first_port + 2 * i:
            raise SystemExit(f"port {first_port + 2 * i} is taken; choose another --first-port")
        receivers.append(receiver)

        async def opener(r: UdpRtpReceiver = receiver) -> Upstream:
            return r if push else _FramesOnly(r)

        counted = _Counted()
        viewers.append(counted)
        viewer = await hub.join(StreamKey(f"bench-{i}"), opener)
        tasks.append(asyncio.create_task(counted.run(viewer)))
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(sys.stdin.fileno(), lambda: lines.put_nowait(sys.stdin.readline()))
    while True:
        command = (await lines.get()).strip()
        times = os.times()
        print(
            json.dumps(
                {
                    "at": time.monotonic(),
                    "cpu_s": times.user + times.system,
                    "packets": sum(r.pipeline.counters.packets for r in receivers),
                    "lost": sum(r.pipeline.jitter.stats.lost for r in receivers),
                    "frames": sum(v.frames for v in viewers),
                    "fmp4_bytes": sum(v.bytes for v in viewers),
                }
            ),
            flush=True,
        )
        if command != "mark":
            break
    loop.remove_reader(sys.stdin.fileno())
    for task in tasks:
        task.cancel()
    await hub.close()


def receive(streams: int, first_port: int, push: bool = False) -> int:
    """Run the receive path for ``streams`` streams until told ``final`` on stdin."""
    import uvloop

    uvloop.run(_receive(streams, first_port, hub_feed(push) == "push"))
    return 0
