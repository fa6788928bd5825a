"""Time from ``POST /live`` to the first fMP4 byte, for a wall of simulated cameras at once.

``sightline serve`` and ``sightline sim --devices N`` run as children (320x180 cameras; the
simulator sends its pre-encoded loop by default, ``live`` encodes per camera); once all N
channels are listed, N threads each ask ``POST /api/v1/channels/{id}/live`` and read the HTTP
fMP4 URL until its first byte, released together by a barrier, as a video wall opening N tiles
does. That covers the INVITE, the device's answer and first key frame (the simulator starts
every new stream with one), PS demux, the fMP4 packager's wait for audio and the init segment.
Used by ``media_streams.py --first-frame N``; run alone it compares loop and live:

    .venv/bin/python benchmarks/media_first_frame.py --cameras 1,16 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the tests package importable
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient  # noqa: E402
from tests.e2e.server import start_sightline  # noqa: E402
from tests.e2e.test_simulator_fleet import SERVER_ID, Simulator  # noqa: E402

from benchmarks import exit_cleanly_on_sigterm  # noqa: E402

__all__ = ["first_frame_rounds", "first_frame_times", "main", "summary"]

_BETWEEN_ROUNDS_S = 3.0


def _first_byte(http: httpx.Client, token: str, channel: str, start: threading.Barrier) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    start.wait()
    started = time.monotonic()
    live = http.post(f"/api/v1/channels/{channel}/live", headers=headers)
    live.raise_for_status()
    with http.stream("GET", live.json()["urls"]["http"]) as body:
        body.raise_for_status()
        next(body.iter_raw())
    return time.monotonic() - started


def _open_wall(base_url: str, token: str, channels: list[str]) -> list[float]:
    # the clients are made first and the requests released together: making an httpx client
    # costs tens of ms of CPU (an SSL context), which would otherwise spread the "simultaneous"
    # opens over a second and charge the client's own start-up to the platform
    clients = [httpx.Client(base_url=base_url, timeout=30) for _ in channels]
    start = threading.Barrier(len(channels))
    try:
        with ThreadPoolExecutor(max_workers=len(channels)) as pool:
            return list(pool.map(lambda c, ch: _first_byte(c, token, ch, start), clients, channels))
    finally:
        for client in clients:
            client.close()


def first_frame_rounds(
    devices: int, work: Path, video_source: str = "loop", rounds: int = 1
) -> list[list[float]]:
    """Seconds from POST /live to the first media byte per camera, for each round of opens.

    Every round opens all ``devices`` cameras at once, and the streams are let go (1 s grace)
    before the next: round 0 meets a server that has never played a stream (cold), later
    rounds a warm one. ``video_source`` is the simulator's (``loop``: the pre-encoded clip,
    ``live``: an encoder per camera, which competes with the server for the CPU).
    """
    server = start_sightline(
        work,
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
            "SIGHTLINE_LOG__LEVEL": "WARNING",
            "SIGHTLINE_MEDIA__RTP_PORTS": "32000-32999",
            "SIGHTLINE_MEDIA__GRACE_S": "1",
        },
    )
    sim = Simulator(
        [
            *("--server", f"127.0.0.1:{server.sip_port}", "--server-id", SERVER_ID),
            *("--password", server.password, "--local-host", "127.0.0.1"),
            *("--devices", str(devices), "--video-size", "320x180", "--bitrate", "256"),
            *("--video-source", video_source),
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
        results = []
        for number in range(rounds):
            if number:
                time.sleep(_BETWEEN_ROUNDS_S)  # the streams close after their grace period
            results.append(_open_wall(server.http_url, token, channels))
        return results
    finally:
        sim.stop()
        server.stop()


def first_frame_times(devices: int, work: Path, video_source: str = "loop") -> list[float]:
    """Seconds from POST /live to the first media byte, one per camera, on a fresh server."""
    return first_frame_rounds(devices, work, video_source)[0]


def summary(times: list[float], cameras: int | None = None) -> str:
    """p50 / p95 / max in milliseconds (``cameras`` opened at once; default: all the times)."""
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{cameras or len(times)} cameras at once: POST /live -> first fMP4 byte"
        f" p50 {1000 * statistics.median(ordered):.0f} ms, p95 {1000 * p95:.0f} ms,"
        f" max {1000 * ordered[-1]:.0f} ms ({len(times)} opens)"
    )


def main() -> None:
    """Print p50/p95 for each number of cameras and each simulator video source."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", default="1,16", help="comma-separated wall sizes")
    parser.add_argument("--sources", default="loop,live", help="comma-separated: loop, live")
    parser.add_argument("--rounds", type=int, default=3, help="walls opened per server")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()  # a killed run still stops serve and the simulator
    for cameras in (int(c) for c in args.cameras.split(",")):
        for source in args.sources.split(","):
            with tempfile.TemporaryDirectory(prefix="sightline-ff-") as work:
                rounds = first_frame_rounds(cameras, Path(work), source, args.rounds)
            load = os.getloadavg()[0]
            print(f"{source:4} cold: {summary(rounds[0])} (load {load:.1f})", flush=True)
            if len(rounds) > 1:
                warm = [t for times in rounds[1:] for t in times]
                print(f"{source:4} warm: {summary(warm, cameras)}", flush=True)


if __name__ == "__main__":
    main()
