"""An outside camera for whole-system tests: SIPp plays its SIP side, FFmpeg muxes its video.

Nothing of sightline's own stands in for the device. SIPp runs ``gb_device.xml`` (digest
REGISTER and keepalives) with an answering scenario for the INVITE (``-oocsf``) that writes,
on the ACK, where the offer asked for media (``-key invite_file``). The video is H.264 muxed
into MPEG-PS by FFmpeg's own muxer (PyAV's ``mpeg`` format), which writes no PSM and cuts frames
across packs differently from sightline's muxer; :func:`send_rtp` cuts that byte stream into
RTP packets (PT 96, no marker bits: it does not know where frames end) and paces it.
"""

from __future__ import annotations

import io
import socket
import struct
import time
from fractions import Fraction
from pathlib import Path

import av

from tests.e2e.server import SightlineProcess
from tests.e2e.sipp import SCENARIOS, SippResult, run_sipp
from tests.media.video import encode_pattern

__all__ = ["FPS", "PAYLOAD", "ffmpeg_ps", "run_camera", "send_rtp"]

FPS = 25
PAYLOAD = 1400


def ffmpeg_ps(seconds: int, width: int = 320, height: int = 240) -> bytes:
    """``seconds`` of H.264 in MPEG-PS written by FFmpeg's muxer (not sightline's)."""
    frames = encode_pattern("libx264", seconds * FPS, width=width, height=height, fps=FPS, gop=FPS)
    out = io.BytesIO()
    with av.open(out, "w", format="mpeg") as container:
        stream = container.add_stream("h264", rate=FPS)
        stream.width, stream.height = width, height
        stream.time_base = Fraction(1, 90000)
        for f in frames:
            packet = av.Packet(f.data)
            packet.pts, packet.dts, packet.stream = f.pts_90k, f.dts_90k, stream
            packet.time_base = Fraction(1, 90000)
            container.mux(packet)
    return out.getvalue()


def send_rtp(ps: bytes, target: tuple[str, int], ssrc: int, seconds: float) -> int:
    """Send ``ps`` as RTP/PS payloads (PT 96) spread evenly over ``seconds``; the packet count."""
    chunks = [ps[i : i + PAYLOAD] for i in range(0, len(ps), PAYLOAD)]
    header = struct.Struct("!BBHII").pack
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n, chunk in enumerate(chunks):
            at = n * seconds / len(chunks)
            timestamp = round(at * 90000) & 0xFFFFFFFF
            sock.sendto(header(0x80, 96, n & 0xFFFF, timestamp, ssrc) + chunk, target)
            ahead = started + at - time.monotonic()
            if ahead > 0.005:
                time.sleep(ahead)
    return len(chunks)


def run_camera(
    server: SightlineProcess,
    workdir: Path,
    invite_file: Path,
    *,
    device_id: str,
    keepalives: int,
    answers: str,
    timeout_s: float,
    recv_timeout_ms: int,
) -> SippResult:
    """SIPp as the camera: register, keep alive ``keepalives`` seconds, answer with ``answers``."""
    workdir.mkdir(parents=True, exist_ok=True)
    injection = workdir / "camera.csv"
    auth = f"[authentication username={device_id} password={server.password}]"
    injection.write_text(f"SEQUENTIAL\n{device_id};{auth};{server.domain};{keepalives};\n")
    return run_sipp(
        "gb_device.xml",
        server.sip_target,
        injection=injection,
        workdir=workdir,
        calls=1,
        timeout_s=timeout_s,
        recv_timeout_ms=recv_timeout_ms,
        trace_messages=True,
        extra_args=[
            *("-oocsf", str(SCENARIOS / answers)),
            *("-key", "invite_file", str(invite_file)),
        ],
    )
