"""Outside peers only: a SIPp camera answers sightline's INVITE, FFmpeg's PS muxer makes the video.

Nothing of sightline's own stands in for the device. SIPp plays the camera's SIP side
(``gb_device.xml``: digest REGISTER and keepalives; ``gb_camera_answers.xml``: the 200 with an
SDP answer to the INVITE, the BYE); on the ACK it writes where the offer asked for media. The
video is H.264 muxed into MPEG-PS by FFmpeg's own muxer (PyAV's ``mpeg`` format), which writes
no PSM and cuts frames across packs differently from sightline's muxer; a small sender here cuts
that byte stream into 1,400-byte RTP packets (PT 96, the offer's SSRC, no marker bits: it does
not know where frames end) and paces it in real time. The play URL's chunked fMP4 must decode
in PyAV, and the platform must hang up (BYE) once the viewer has left.
"""

from __future__ import annotations

import io
import socket
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient
from tests.e2e.server import SightlineProcess, StartServer
from tests.e2e.sipp import SCENARIOS, SippResult, run_sipp
from tests.media.video import encode_pattern

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("sipp_binary")]

DEVICE_ID = "34020000001320000009"  # an IPC (type 132): its own ID is its channel
KEEPALIVES = 12  # one a second: the camera stays registered for the whole test
ENV = {
    "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
    "SIGHTLINE_MEDIA__RTP_PORTS": "31400-31499",
    "SIGHTLINE_MEDIA__GRACE_S": "0.5",
}
FPS = 25
PAYLOAD = 1400


def ffmpeg_ps(seconds: int) -> bytes:
    """``seconds`` of 640x360 H.264 in MPEG-PS written by FFmpeg's muxer (not sightline's)."""
    frames = encode_pattern("libx264", seconds * FPS, width=640, height=360, gop=FPS)
    out = io.BytesIO()
    with av.open(out, "w", format="mpeg") as container:
        stream = container.add_stream("h264", rate=FPS)
        stream.width, stream.height = 640, 360
        stream.time_base = Fraction(1, 90000)
        for f in frames:
            packet = av.Packet(f.data)
            packet.pts, packet.dts, packet.stream = f.pts_90k, f.dts_90k, stream
            packet.time_base = Fraction(1, 90000)
            container.mux(packet)
    return out.getvalue()


def send_rtp(ps: bytes, target: tuple[str, int], ssrc: int, seconds: float) -> int:
    """Send ``ps`` as RTP/PS payloads spread evenly over ``seconds``; the packet count."""
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


def run_camera(server: SightlineProcess, workdir: Path, invite_file: Path) -> SippResult:
    """SIPp as the camera: register, keep alive KEEPALIVES seconds, answer what comes."""
    workdir.mkdir(parents=True, exist_ok=True)
    injection = workdir / "camera.csv"
    auth = f"[authentication username={DEVICE_ID} password={server.password}]"
    injection.write_text(f"SEQUENTIAL\n{DEVICE_ID};{auth};{server.domain};{KEEPALIVES};\n")
    return run_sipp(
        "gb_device.xml",
        server.sip_target,
        injection=injection,
        workdir=workdir,
        calls=1,
        timeout_s=KEEPALIVES + 20,
        recv_timeout_ms=10_000,
        trace_messages=True,
        extra_args=[
            *("-oocsf", str(SCENARIOS / "gb_camera_answers.xml")),
            *("-key", "invite_file", str(invite_file)),
        ],
    )


def decode_url(url: str, want: int) -> tuple[str, list[av.VideoFrame]]:
    """The codec and first ``want`` pictures of an endless fMP4 URL, read by PyAV."""
    frames: list[av.VideoFrame] = []
    with av.open(url, mode="r", format="mp4", timeout=20) as container:
        codec = str(container.streams.video[0].codec_context.name)
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) >= want:
                break
    return codec, frames


def wait_for_file(path: Path, timeout_s: float, alive: Callable[[], bool]) -> str:
    """The file's text once it exists (SIPp writes it on the INVITE's ACK)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        if path.exists():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"no INVITE reached the SIPp camera within {timeout_s:g}s")


def test_sipp_camera_with_ffmpeg_muxed_ps_plays_as_fmp4(
    sightline_server: StartServer, tmp_path: Path
) -> None:
    server = sightline_server(env=ENV)
    ps = ffmpeg_ps(seconds=4)
    invite_file = tmp_path / "invite.txt"
    with ThreadPoolExecutor(max_workers=2) as pool, ApiClient(server.http_url) as api:
        camera = pool.submit(run_camera, server, tmp_path / "sipp", invite_file)
        device, _ = api.wait_for(
            lambda a: next((d for d in a.page("/api/v1/devices").items), None),
            lambda d: d is not None and d["online"],
            timeout_s=15,
        )
        assert device is not None and device["id"] == DEVICE_ID, camera.done() and camera.result()
        live = api.post(f"/api/v1/channels/{DEVICE_ID}/live")
        viewer = pool.submit(decode_url, live["urls"]["http"], 40)  # sends the INVITE
        ip, port, ssrc = wait_for_file(invite_file, 15, lambda: not camera.done()).split()
        assert ip == "127.0.0.1"
        sent = send_rtp(ps, (ip, int(port)), int(ssrc), seconds=4.0)
        codec, frames = viewer.result(timeout=30)
        assert codec == "h264" and len(frames) == 40
        assert {(f.width, f.height) for f in frames} == {(640, 360)}
        result = camera.result(timeout=KEEPALIVES + 30)
    assert sent > 100
    assert result.exit_code == 0 and result.failed == 0, result.describe()
    assert "BYE sip:" in result.messages  # the platform hung up once the viewer had left
