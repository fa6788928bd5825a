"""Platform recording through the whole system, with a crash in the middle.

``sightline demo`` (serve + a simulated IPC streaming H.264 whose picture carries the wall-clock
time) records the camera continuously in 2-3 s segments; the process is killed with SIGKILL in
the middle of a segment and started again on the same data directory. Then: every segment
closed before the crash is in the index and decodes with PyAV, the open ``.part`` was salvaged
(or removed), the index agrees with the disk, and a search and an MP4 export through
``PlatformRecordSource`` give the recorded time, checked against the time drawn in the picture.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import websockets

from sightline.media.recording import PlatformRecordSource
from sightline.media.recording.layout import PART_SUFFIX, start_of
from sightline.sim.video import read_time_ms
from sightline.store import Database
from sightline.store.repositories.recording import RecordingStore
from tests.e2e.records_support import frame_times
from tests.e2e.server import SightlineProcess, start_sightline
from tests.store.conftest import sqlite_url

pytestmark = pytest.mark.e2e

PASSWORD = "record-admin"
ENV = {
    "SIGHTLINE_ADMIN__PASSWORD": PASSWORD,
    "SIGHTLINE_MEDIA__RTP_PORTS": "31200-31299",
    "SIGHTLINE_RECORDING__SEGMENT_S": "2.5",
    "SIGHTLINE_RECORDING__FRAGMENT_S": "0.5",
    "SIGHTLINE_RECORDING__DISK_CEILING_PERCENT": "100",
}
DEMO = ("demo", "--ipcs", "1", "--nvr-channels", "0")


def _start(data_dir: Path) -> SightlineProcess:
    return start_sightline(data_dir, command=DEMO, env=ENV)


def _login(server: SightlineProcess) -> dict[str, str]:
    token = httpx.post(
        f"{server.http_url}/api/v1/auth/login",
        json={"username": "admin", "password": PASSWORD},
        timeout=10,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _channel(server: SightlineProcess, headers: dict[str, str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = httpx.get(f"{server.http_url}/api/v1/channels", headers=headers, timeout=10)
        if items.json()["items"]:
            return str(items.json()["items"][0]["id"])
        time.sleep(0.3)
    raise AssertionError("the simulated camera's channel never appeared")


def _status(server: SightlineProcess, headers: dict[str, str]) -> dict[str, object]:
    resp = httpx.get(f"{server.http_url}/api/v1/recordings/status", headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _segments(root: Path) -> tuple[set[str], set[str]]:
    closed = {p.relative_to(root).as_posix() for p in root.glob("*/*/*.mp4")}
    parts = {p.relative_to(root).as_posix() for p in root.glob(f"*/*/*.mp4{PART_SUFFIX}")}
    return closed, parts


async def _collect(url: str, fragments: int) -> bytes:
    data = bytearray()
    async with websockets.connect(url, max_size=None) as ws:
        while fragments > 0:
            message = await asyncio.wait_for(ws.recv(), 20)
            if isinstance(message, bytes):
                data += message
                fragments -= 1
    return bytes(data)


def _frame_times(path: Path) -> list[tuple[float, int | None]]:
    """(seconds from the file start, the time drawn in the picture in UNIX ms) per frame."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            luma = np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
            assert frame.time is not None
            out.append((float(frame.time), read_time_ms(luma)))
    return out


async def _index(data_dir: Path) -> tuple[list[str], PlatformRecordSource, Database]:
    database = await Database.connect(sqlite_url(data_dir / "sightline.db"))
    store = RecordingStore(database)
    return (
        sorted(await store.all_paths()),
        PlatformRecordSource(data_dir / "recordings", store),
        database,
    )


def test_recording_survives_kill_9_and_plays_back(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    server = _start(tmp_path)
    try:
        headers = _login(server)
        channel = _channel(server, headers)
        plan = httpx.put(
            f"{server.http_url}/api/v1/channels/{channel}/recording-plan",
            json={"mode": "continuous"},
            headers=headers,
            timeout=10,
        )
        assert plan.status_code == 200, plan.text
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len(_segments(root)[0]) < 4:
            time.sleep(0.2)
        status = _status(server, headers)
        recorders = status["channels"]
        assert isinstance(recorders, list) and len(recorders) == 1, status
        assert recorders[0]["recording"] and recorders[0]["segments"] >= 3, status
        time.sleep(1.2)  # into the next segment
        closed_before, parts_before = _segments(root)
        assert len(closed_before) >= 4 and len(parts_before) == 1
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        server.stop()
    killed_at = datetime.now(UTC)

    restarted = _start(tmp_path)
    try:
        closed_after, _ = _segments(root)
        assert closed_before <= closed_after  # nothing closed was lost
        (part,) = parts_before
        salvaged = part.removesuffix(PART_SUFFIX)
        paths, source, database = asyncio.run(_index(tmp_path))
        assert set(paths) >= closed_before
        assert (salvaged in paths) == (root / salvaged).exists()  # salvaged and indexed, or gone
        assert not (root / part).exists()
        for rel in sorted(closed_before | ({salvaged} & closed_after)):
            times = _frame_times(root / rel)
            assert len(times) >= 10, rel
            start = start_of(Path(rel))
            assert start is not None
            drawn = times[0][1]
            assert drawn is not None, f"{rel}: no time in the picture"
            # the file's start time is when its first frame arrived, the picture says when
            # it was drawn: the same instant, give or take encoding and the network
            assert abs(drawn / 1000 - start.timestamp()) < 0.5, rel

        async def search_and_export() -> tuple[list[tuple[datetime, datetime]], Path, list[float]]:
            first = min(start_of(Path(p)) or killed_at for p in closed_before)
            found = await source.search(channel, first - timedelta(minutes=1), killed_at)
            progress: list[float] = []
            clip = await source.export(
                channel,
                first + timedelta(seconds=1),
                first + timedelta(seconds=6),
                tmp_path / "clip.mp4",
                progress.append,
            )
            await database.close()
            return [(s.start, s.end) for s in found], clip, progress

        found, clip, progress = asyncio.run(search_and_export())
        assert found and found[0][1] - found[0][0] >= timedelta(seconds=8)
        first = found[0][0]
        assert progress[-1] == 1.0
        times = _frame_times(clip)
        with av.open(str(clip)) as container:
            assert container.duration is not None
            duration_s = container.duration / 1_000_000
        # the clip starts at the key frame at or before first+1 s (GOP 2 s) and ends at first+6 s
        assert 5.0 - 0.1 <= duration_s <= 7.0 + 0.1
        drawn_first, drawn_last = times[0][1], times[-1][1]
        assert drawn_first is not None and drawn_last is not None
        wanted_start = (first + timedelta(seconds=1)).timestamp()
        assert wanted_start - 2.5 <= drawn_first / 1000 <= wanted_start + 0.5
        assert drawn_last / 1000 <= (first + timedelta(seconds=6)).timestamp() + 0.5
        # the same through the API: search, then play from first+3 s in fMP4 over WebSocket
        headers = _login(restarted)
        query = {
            "source": "platform",
            "start": (first - timedelta(minutes=1)).isoformat(),
            "end": killed_at.isoformat(),
        }
        resp = httpx.get(
            f"{restarted.http_url}/api/v1/channels/{channel}/records",
            params=query,
            headers=headers,
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        items = resp.json()["items"]
        assert items[0]["source"] == "platform"
        assert datetime.fromisoformat(items[0]["start"]) == found[0][0]
        assert datetime.fromisoformat(items[0]["end"]) == found[0][1]
        play_from = first + timedelta(seconds=3)
        session = httpx.post(
            f"{restarted.http_url}/api/v1/channels/{channel}/playback",
            json={
                "source": "platform",
                "start": play_from.isoformat(),
                "end": (play_from + timedelta(seconds=20)).isoformat(),
            },
            headers=headers,
            timeout=20,
        )
        assert session.status_code == 200, session.text
        data = asyncio.run(_collect(session.json()["urls"]["ws"], 30))
        played = frame_times(data)
        # from the key frame at or before the asked time (GOP 2 s), in order, 25 frames a second
        assert play_from.timestamp() - 2.5 <= played[0] <= play_from.timestamp() + 0.5
        assert played == sorted(played)
        assert played[-1] - played[0] == pytest.approx(1.16, abs=0.1)
    finally:
        assert restarted.stop() == 0
    assert restarted.log_problems() == []
