"""Time from ``POST /live`` to the first fMP4 byte, for a wall of simulated cameras at once.

``sightline serve`` and ``sightline sim --devices N`` run as children (the simulator encodes
320x180 live, so N stays small on a 2-core machine); once all N channels are listed, N threads
each ask ``POST /api/v1/channels/{id}/live`` and read the HTTP fMP4 URL until its first byte,
all at the same moment, as a video wall opening N tiles does. That covers the INVITE, the
device's answer and first key frame (the simulator starts every new stream with one), PS
demux and the init segment. Used by ``media_streams.py --first-frame N``.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient
from tests.e2e.server import start_sightline
from tests.e2e.test_simulator_fleet import SERVER_ID, Simulator

__all__ = ["first_frame_times", "summary"]


def _first_byte(base_url: str, token: str, channel: str) -> float:
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        live = http.post(f"/api/v1/channels/{channel}/live", headers=headers)
        live.raise_for_status()
        with http.stream("GET", live.json()["urls"]["http"]) as body:
            body.raise_for_status()
            next(body.iter_raw())
    return time.monotonic() - started


def first_frame_times(devices: int, work: Path) -> list[float]:
    """Seconds from POST /live to the first media byte, one per simulated camera."""
    server = start_sightline(
        work,
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
            "SIGHTLINE_LOG__LEVEL": "WARNING",
            "SIGHTLINE_MEDIA__RTP_PORTS": "32000-32999",
        },
    )
    sim = Simulator(
        [
            *("--server", f"127.0.0.1:{server.sip_port}", "--server-id", SERVER_ID),
            *("--password", server.password, "--local-host", "127.0.0.1"),
            *("--devices", str(devices), "--video-size", "320x180", "--bitrate", "256"),
        ],
        cwd=work,
    )
    try:
        with ApiClient(server.http_url) as api:
            total, _ = api.wait_for(
                lambda a: a.page("/api/v1/channels", limit=1).total,
                lambda n: n >= devices,
                timeout_s=60,
            )
            if total < devices:
                raise RuntimeError(f"only {total} of {devices} channels listed\n{sim.output()}")
            channels = [c["id"] for c in api.all_items("/api/v1/channels").items]
        token = httpx.post(
            f"{server.http_url}/api/v1/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
            timeout=10,
        ).json()["access_token"]
        with ThreadPoolExecutor(max_workers=len(channels)) as pool:
            return list(pool.map(lambda c: _first_byte(server.http_url, token, c), channels))
    finally:
        sim.stop()
        server.stop()


def summary(times: list[float]) -> str:
    """p50 / p95 / max in milliseconds."""
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{len(times)} cameras at once: POST /live -> first fMP4 byte"
        f" p50 {1000 * statistics.median(ordered):.0f} ms, p95 {1000 * p95:.0f} ms,"
        f" max {1000 * ordered[-1]:.0f} ms"
    )
