"""Outside peers only: a SIPp camera answers sightline's INVITE, FFmpeg's PS muxer makes the video.

Nothing of sightline's own stands in for the device. SIPp plays the camera's SIP side
(``gb_device.xml``: digest REGISTER and keepalives; ``gb_camera_answers.xml``: the 200 with an
SDP answer to the INVITE, the BYE); on the ACK it writes where the offer asked for media. The
video is H.264 muxed into MPEG-PS by FFmpeg's own muxer (PyAV's ``mpeg`` format), which writes
no PSM and cuts frames across packs differently from sightline's muxer; a small sender
(``tests.e2e.outside_camera``) cuts that byte stream into 1,400-byte RTP packets (PT 96, the
offer's SSRC, no marker bits: it does not know where frames end) and paces it in real time.
The play URL's chunked fMP4 must decode in PyAV, and the platform must hang up (BYE) once the
viewer has left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest

from tests.e2e import outside_camera
from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient
from tests.e2e.outside_camera import ffmpeg_ps, send_rtp
from tests.e2e.server import SightlineProcess, StartServer
from tests.e2e.sipp import SippResult

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("sipp_binary")]

DEVICE_ID = "34020000001320000009"  # an IPC (type 132): its own ID is its channel
KEEPALIVES = 12  # one a second: the camera stays registered for the whole test
ENV = {
    "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
    "SIGHTLINE_MEDIA__RTP_PORTS": "31400-31499",
    "SIGHTLINE_MEDIA__GRACE_S": "0.5",
}


def run_camera(server: SightlineProcess, workdir: Path, invite_file: Path) -> SippResult:
    """SIPp as this test's camera (see ``tests.e2e.outside_camera``)."""
    return outside_camera.run_camera(
        server,
        workdir,
        invite_file,
        device_id=DEVICE_ID,
        keepalives=KEEPALIVES,
        answers="gb_camera_answers.xml",
        timeout_s=KEEPALIVES + 20,
        recv_timeout_ms=10_000,
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
    ps = ffmpeg_ps(seconds=4, width=640, height=360)
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
