"""Loop-mode simulated cameras through a real ``sightline serve``: fMP4 that PyAV decodes.

Both sides run as a user runs them: ``sightline serve`` and ``sightline sim --video-source
loop`` as child processes on loopback; two channels are opened at once through the REST API and
their fMP4 over WebSocket is decoded, and each picture is the loop's (no clock, head at home).
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
import websockets

from sightline.sim.video import read_ptz, read_time_ms
from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient
from tests.e2e.server import start_sightline
from tests.e2e.test_simulator_fleet import SERVER_ID, Simulator

pytestmark = pytest.mark.e2e


async def _fragments(url: str, count: int) -> bytes:
    data = bytearray()
    async with websockets.connect(url, max_size=None) as ws:
        while count:
            message = await asyncio.wait_for(ws.recv(), 15)
            if isinstance(message, str):
                assert json.loads(message).get("type") != "error", message
                continue
            data += message
            count -= 1
    return bytes(data)


async def _watch(urls: list[str], count: int) -> list[bytes]:
    return list(await asyncio.gather(*(_fragments(u, count) for u in urls)))


def test_loop_cameras_play_through_serve(tmp_path: Path) -> None:
    server = start_sightline(
        tmp_path,
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
            "SIGHTLINE_MEDIA__RTP_PORTS": "33100-33199",
        },
    )
    sim = Simulator(
        [
            *("--server", f"127.0.0.1:{server.sip_port}", "--server-id", SERVER_ID),
            *("--password", server.password, "--local-host", "127.0.0.1"),
            *("--devices", "2", "--video-size", "320x180", "--bitrate", "256"),
            *("--video-source", "loop"),
        ],
        cwd=tmp_path,
    )
    try:
        with ApiClient(server.http_url) as api:
            total, _ = api.wait_for(
                lambda a: a.page("/api/v1/channels", limit=1).total,
                lambda n: n >= 2,
                timeout_s=30,
            )
            assert total == 2, sim.output()
            channels = [c["id"] for c in api.all_items("/api/v1/channels").items]
            urls = [api.post(f"/api/v1/channels/{c}/live")["urls"]["ws"] for c in channels]
        streams = asyncio.run(_watch(urls, 30))
        for data in streams:
            with av.open(io.BytesIO(data), mode="r", format="mp4") as container:
                frames = list(container.decode(video=0))
            assert len(frames) >= 25
            assert (frames[0].width, frames[0].height) == (320, 180)
            for frame in frames[:: len(frames) // 5]:
                luma = np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
                assert read_time_ms(luma) is None  # the loop's picture: no clock
                reading = read_ptz(luma)
                assert reading is not None and (reading.pan, reading.zoom) == (0.0, 1.0)
        assert "video from a pre-encoded loop" in sim.output()
    finally:
        assert sim.stop() == 0
        assert server.stop() == 0
    assert server.log_problems() == []
