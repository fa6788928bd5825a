"""Live video through the whole system: `sightline demo` (serve + simulated cameras that
stream H.264 in PS over RTP), the REST API, and fMP4 over WebSocket decoded by PyAV."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from pathlib import Path

import av
import httpx
import pytest
import websockets

from tests.e2e.server import start_sightline

pytestmark = pytest.mark.e2e


async def _collect(url: str, want_fragments: int) -> tuple[bytes, list[dict[str, object]]]:
    data = bytearray()
    status: list[dict[str, object]] = []
    fragments = 0
    async with websockets.connect(url, max_size=None) as ws:  # offers permessage-deflate
        # video does not compress: the server declines what browsers offer too
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        while fragments < want_fragments:
            message = await asyncio.wait_for(ws.recv(), 15)
            if isinstance(message, str):
                status.append(json.loads(message))
                continue
            data += message
            fragments += 1
    return bytes(data), status


async def _send_huge(url: str, size: int) -> int | None:
    async with websockets.connect(url, max_size=None) as ws:
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            await ws.send(b"x" * size)
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 15)
    return ws.close_code


def test_demo_camera_plays_in_fmp4_over_websocket(tmp_path: Path) -> None:
    server = start_sightline(
        tmp_path,
        command=("demo", "--ipcs", "1", "--nvr-channels", "0"),
        env={
            "SIGHTLINE_ADMIN__PASSWORD": "live-admin",
            "SIGHTLINE_MEDIA__RTP_PORTS": "31000-31099",
        },
    )
    try:
        token = httpx.post(
            f"{server.http_url}/api/v1/auth/login",
            json={"username": "admin", "password": "live-admin"},
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 30
        channels: dict[str, object] = {"items": []}
        while time.monotonic() < deadline and not channels["items"]:
            channels = httpx.get(
                f"{server.http_url}/api/v1/channels", headers=headers, timeout=10
            ).json()
            time.sleep(0.3)
        items = channels["items"]
        assert isinstance(items, list) and items, channels
        channel_id = items[0]["id"]
        started = time.monotonic()
        live = httpx.post(
            f"{server.http_url}/api/v1/channels/{channel_id}/live", headers=headers, timeout=20
        )
        assert live.status_code == 200, live.text
        ws_url = live.json()["urls"]["ws"]
        assert ws_url.startswith("ws://")
        data, status = asyncio.run(_collect(ws_url, 40))
        assert not [m for m in status if m.get("type") == "error"], status
        first_picture_s = time.monotonic() - started
        with av.open(io.BytesIO(data), mode="r", format="mp4") as container:
            frames = [f for f in container.decode(video=0)]
        assert len(frames) >= 30
        assert frames[0].width == 640 and frames[0].height == 360
        assert first_picture_s < 15
        # the same channel through the RTSP output, PyAV (FFmpeg) as the client
        rtsp_url = live.json()["urls"]["rtsp"]
        assert rtsp_url.startswith("rtsp://")
        with av.open(
            rtsp_url, mode="r", options={"rtsp_transport": "tcp"}, timeout=15
        ) as container:
            rtsp_frames = []
            for frame in container.decode(video=0):
                rtsp_frames.append(frame)
                if len(rtsp_frames) >= 10:
                    break
        assert (rtsp_frames[0].width, rtsp_frames[0].height) == (640, 360)
        # a forged token is refused
        forged = ws_url.rsplit("token=", 1)[0] + "token=forged"
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            asyncio.run(_collect(forged, 1))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        # a client message larger than the server accepts closes the socket (1009) ...
        assert asyncio.run(_send_huge(ws_url, 64 * 1024 + 1)) == 1009
        # ... and a far larger one too; the server closes with most of it unread, so the
        # kernel may answer the rest with a reset that overtakes the close frame (1006)
        assert asyncio.run(_send_huge(ws_url, 1 << 20)) in (1009, 1006)
        # the server still serves the channel afterwards
        data, status = asyncio.run(_collect(ws_url, 3))
        assert data and not [m for m in status if m.get("type") == "error"], status
    finally:
        assert server.stop() == 0
    assert server.log_problems() == []
