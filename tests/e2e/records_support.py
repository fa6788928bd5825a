"""Shared parts of the recording e2e tests: a demo node with one simulated camera, the
simulator's own history (to know what the device must answer), and reading the time the
simulator burns into each frame back out of fMP4 or MP4 with PyAV."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import httpx

from sightline.sim.history import SimRecording, recordings
from sightline.sim.video import read_time_ms
from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient
from tests.e2e.server import SightlineProcess, start_sightline

__all__ = [
    "DemoNode",
    "auth_headers",
    "demo_node",
    "frame_times",
    "full_hour_file",
    "iso",
]


@dataclass
class DemoNode:
    """A running ``sightline demo`` with one IPC, logged in as admin."""

    server: SightlineProcess
    api: ApiClient
    channel_id: str

    @property
    def headers(self) -> dict[str, str]:
        """A fresh admin login's ``Authorization`` header, for raw httpx calls."""
        return auth_headers(self.server.http_url)


def auth_headers(
    base_url: str, username: str = "admin", password: str = ADMIN_PASSWORD
) -> dict[str, str]:
    """Log in and return the bearer header."""
    answer = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=20,
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@contextmanager
def demo_node(tmp_path: Path, rtp_ports: str) -> Iterator[DemoNode]:
    """``sightline demo --ipcs 1``, platform recording off; stops it and checks its log."""
    server = start_sightline(
        tmp_path,
        command=("demo", "--ipcs", "1", "--nvr-channels", "0"),
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
            "SIGHTLINE_MEDIA__RTP_PORTS": rtp_ports,
            "SIGHTLINE_RECORDING__ENABLED": "false",
            "SIGHTLINE_PLAYBACK__DEVICE_TIME_ZONE": "Asia/Shanghai",
        },
    )
    try:
        with ApiClient(server.http_url) as api:
            channels, _ = api.wait_for(
                lambda a: a.get("/api/v1/channels")["items"], bool, timeout_s=30
            )
            assert channels, "the simulated camera's channel never appeared"
            yield DemoNode(server, api, channels[0]["id"])
    finally:
        code = server.stop()
        problems = server.log_problems()
        assert code == 0, server.log()[-3000:]
        assert problems == [], "\n".join(problems)


def iso(moment: float) -> str:
    """Unix seconds as ISO 8601 UTC."""
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def full_hour_file(channel_id: str, hours_back: int = 3) -> SimRecording:
    """A whole recorded hour (no gap) of the channel, at least ``hours_back`` hours ago."""
    now = time.time()
    files = recordings(channel_id, now - 48 * 3600, now - hours_back * 3600, now)
    return next(f for f in reversed(files) if f.end - f.start == 3600)


def frame_times(data: bytes, container_format: str = "mp4") -> list[float]:
    """The recorded instant (Unix s) burnt into each decoded frame, in decoding order."""
    times = []
    with av.open(io.BytesIO(data), mode="r", format=container_format) as container:
        for frame in container.decode(video=0):
            value = read_time_ms(frame.to_ndarray(format="gray"))
            assert value is not None, "a frame without a readable time row"
            times.append(value / 1000)
    return times
