"""An outside peer plays back: a SIPp camera answers sightline's Playback INVITE.

SIPp plays the camera's SIP side (``gb_device.xml``: digest REGISTER and keepalives;
``gb_camera_playback.xml``: checks the offer's ``s=Playback``, ``u=<id>:0``, ``t=`` in Unix
seconds and history SSRC, answers 200, and four seconds after the ACK sends the in-dialog
MESSAGE MediaStatus 121). The video is H.264 muxed into MPEG-PS by FFmpeg's own muxer and sent
as RTP by a small sender (``tests.e2e.outside_camera``). The session's fMP4 must decode in
PyAV, the offer's ``t=`` must be the asked range, and the end-of-file MESSAGE must make the
platform end the session with a BYE (SIPp fails the call otherwise).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest

from tests.e2e import outside_camera
from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient, ApiError
from tests.e2e.outside_camera import ffmpeg_ps, send_rtp
from tests.e2e.records_support import iso
from tests.e2e.server import SightlineProcess, StartServer
from tests.e2e.sipp import SippResult

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("sipp_binary")]

DEVICE_ID = "34020000001320000008"  # an IPC: its own ID is its channel
KEEPALIVES = 14
ENV = {
    "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
    "SIGHTLINE_MEDIA__RTP_PORTS": "31600-31699",
    "SIGHTLINE_RECORDING__ENABLED": "false",
}


def run_camera(server: SightlineProcess, workdir: Path, invite_file: Path) -> SippResult:
    """SIPp as this test's camera (see ``tests.e2e.outside_camera``)."""
    return outside_camera.run_camera(
        server,
        workdir,
        invite_file,
        device_id=DEVICE_ID,
        keepalives=KEEPALIVES,
        answers="gb_camera_playback.xml",
        timeout_s=KEEPALIVES + 25,
        recv_timeout_ms=15_000,
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
