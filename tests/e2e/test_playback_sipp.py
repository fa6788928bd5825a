"""An outside peer plays back: a SIPp camera answers sightline's Playback INVITE.

SIPp plays the camera's SIP side (``gb_device.xml``: digest REGISTER and keepalives;
``gb_camera_playback.xml``: checks the offer's ``s=Playback``, ``u=<id>:0``, ``t=`` in Unix
seconds and history SSRC, answers 200, and four seconds after the ACK sends the in-dialog
MESSAGE MediaStatus 121). The video is H.264 muxed into MPEG-PS by FFmpeg's own muxer and sent
as RTP by a small sender here. The session's fMP4 must decode in PyAV, the offer's ``t=`` must be
the asked range, and the end-of-file MESSAGE must make the platform end the session with a BYE
(SIPp fails the call otherwise).
"""

from __future__ import annotations

import io
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient, ApiError
from tests.e2e.records_support import iso
from tests.e2e.server import SightlineProcess, StartServer
from tests.e2e.sipp import SCENARIOS, SippResult, run_sipp
from tests.media.video import encode_pattern

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("sipp_binary")]

DEVICE_ID = "34020000001320000008"  # an IPC: its own ID is its channel
KEEPALIVES = 14
ENV = {
    "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
    "SIGHTLINE_MEDIA__RTP_PORTS": "31600-31699",
    "SIGHTLINE_RECORDING__ENABLED": "false",
}
FPS = 25
PAYLOAD = 1400


def ffmpeg_ps(seconds: int) -> bytes:
    """``seconds`` of 320x240 H.264 in MPEG-PS written by FFmpeg's muxer."""
    frames = encode_pattern("libx264", seconds * FPS, fps=FPS, gop=FPS)
    out = io.BytesIO()
    with av.open(out, "w", format="mpeg") as container:
        stream = container.add_stream("h264", rate=FPS)
        stream.width, stream.height = 320, 240
        stream.time_base = Fraction(1, 90000)
        for f in frames:
            packet = av.Packet(f.data)
            packet.pts, packet.dts, packet.stream = f.pts_90k, f.dts_90k, stream
            packet.time_base = Fraction(1, 90000)
            container.mux(packet)
    return out.getvalue()


def send_rtp(ps: bytes, target: tuple[str, int], ssrc: int, seconds: float) -> int:
    """Send ``ps`` as RTP/PS payloads (PT 96) spread over ``seconds``; the packet count."""
    chunks = [ps[i : i + PAYLOAD] for i in range(0, len(ps), PAYLOAD)]
    header = struct.Struct("!BBHII").pack
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n, chunk in enumerate(chunks):
            at = n * seconds / len(chunks)
            sock.sendto(header(0x80, 96, n, round(at * 90000), ssrc) + chunk, target)
            ahead = started + at - time.monotonic()
            if ahead > 0.005:
                time.sleep(ahead)
    return len(chunks)


def run_camera(server: SightlineProcess, workdir: Path, invite_file: Path) -> SippResult:
    """SIPp as the camera: register, keep alive, answer the Playback INVITE."""
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
        timeout_s=KEEPALIVES + 25,
        recv_timeout_ms=15_000,
        trace_messages=True,
        extra_args=[
            *("-oocsf", str(SCENARIOS / "gb_camera_playback.xml")),
            *("-key", "invite_file", str(invite_file)),
        ],
    )


def decode_url(url: str) -> list[av.VideoFrame]:
    """Every picture of a playback's fMP4 URL, until the platform ends it."""
    with av.open(url, mode="r", format="mp4", timeout=20) as container:
        return list(container.decode(video=0))


def wait_for_file(path: Path, timeout_s: float) -> str:
    """The file's text once SIPp wrote it (on the INVITE's ACK)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"no INVITE reached the SIPp camera within {timeout_s:g}s")


def test_sipp_camera_plays_back_and_ends_the_file(
    sightline_server: StartServer, tmp_path: Path
) -> None:
    server = sightline_server(env=ENV)
    ps = ffmpeg_ps(seconds=3)
    invite_file = tmp_path / "invite.txt"
    start = int(time.time()) - 86400
    with ThreadPoolExecutor(max_workers=2) as pool, ApiClient(server.http_url) as api:
        camera = pool.submit(run_camera, server, tmp_path / "sipp", invite_file)
        device, _ = api.wait_for(
            lambda a: next((d for d in a.page("/api/v1/devices").items), None),
            lambda d: d is not None and d["online"],
            timeout_s=15,
        )
        assert device is not None and device["id"] == DEVICE_ID, camera.done() and camera.result()
        session = api.post(
            f"/api/v1/channels/{DEVICE_ID}/playback",
            {"start": iso(start), "end": iso(start + 600), "source": "device"},
        )
        viewer = pool.submit(decode_url, session["urls"]["http"])
        ip, port, ssrc, t_start, t_end = wait_for_file(invite_file, 15).split()
        assert (int(t_start), int(t_end)) == (start, start + 600)
        assert ssrc.startswith("1") and ip == "127.0.0.1"
        sent = send_rtp(ps, (ip, int(port)), int(ssrc), seconds=3.0)
        frames = viewer.result(timeout=30)  # ends when the platform ends the session
        assert len(frames) >= 50 and {(f.width, f.height) for f in frames} == {(320, 240)}
        with pytest.raises(ApiError) as error:
            api.post(f"/api/v1/playback/{session['session_id']}/control", {"action": "pause"})
        assert error.value.status == 404
        result = camera.result(timeout=KEEPALIVES + 40)
    assert sent > 20
    assert result.exit_code == 0 and result.failed == 0, result.describe()
    assert "BYE sip:" in result.messages  # the end of file made the platform hang up
    assert "end of file (call" in server.log()  # because of MediaStatus 121, not media loss
    assert "no media for" not in server.log()
