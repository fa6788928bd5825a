"""Privacy masks through the whole system: `sightline demo`, REST, WebSocket fMP4 and RTSP.

The administrator sets a mask over the top-left quarter of a simulated camera. Their own
browser and RTSP views stay unmasked (the node's real policy gives an administrator the
unmasked right); a viewer of another department granted only live video gets the masked
picture over RTSP, decided per token holder as the browser routes decide. PyAV decodes each
view and compares the quarter.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import websockets

from tests.e2e.server import start_sightline

pytestmark = pytest.mark.e2e

QUARTER = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]


async def _collect(url: str, want_fragments: int) -> bytes:
    data, fragments, init = bytearray(), 0, False
    async with websockets.connect(url, max_size=None) as ws:
        while fragments < want_fragments:
            message = await asyncio.wait_for(ws.recv(), 15)
            if isinstance(message, str):
                kind = json.loads(message).get("type")
                assert kind != "error", message
                init = kind == "init"
                continue
            data += message
            fragments += not init
            init = False
    return bytes(data)


def _quarter(picture: np.ndarray) -> float:
    height, width = picture.shape
    return float(picture[: height // 2, : width // 2].mean())


def _rest(picture: np.ndarray) -> float:
    height, width = picture.shape
    return float(picture[height // 2 + 4 :, width // 2 + 4 :].mean())


def _rtsp_frames(url: str, count: int = 10) -> list[np.ndarray]:
    with av.open(url, mode="r", options={"rtsp_transport": "tcp"}, timeout=15) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="gray"))
            if len(frames) >= count:
                break
    return frames


def _granted_viewer(base: str, admin: dict[str, str], channel_id: str) -> dict[str, str]:
    """A user of another department with a live-only grant on the channel (no unmasked right)."""
    department = httpx.post(
        f"{base}/api/v1/departments",
        headers=admin,
        json={"name": "transport", "parent_id": 1},
        timeout=10,
    ).json()
    user = httpx.post(
        f"{base}/api/v1/users",
        headers=admin,
        json={
            "username": "tv",
            "password": "transport-viewer-1",
            "department_id": department["id"],
            "roles": ["viewer"],
        },
        timeout=10,
    )
    assert user.status_code == 201, user.text
    now = datetime.now(UTC)
    grant = httpx.post(
        f"{base}/api/v1/grants",
        headers=admin,
        json={
            "grantee_department_id": department["id"],
            "scope": {"kind": "channel", "id": channel_id},
            "actions": ["live"],
            "not_before": (now - timedelta(minutes=1)).isoformat(),
            "not_after": (now + timedelta(hours=1)).isoformat(),
        },
        timeout=10,
    )
    assert grant.status_code == 201, grant.text
    token = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"username": "tv", "password": "transport-viewer-1"},
        timeout=10,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_masked_channel_is_black_over_rtsp_for_a_viewer_and_unmasked_for_the_admin(
    tmp_path: Path,
) -> None:
    server = start_sightline(
        tmp_path,
        command=("demo", "--ipcs", "1", "--nvr-channels", "0"),
        env={
            "SIGHTLINE_ADMIN__PASSWORD": "mask-admin",
            "SIGHTLINE_MEDIA__RTP_PORTS": "31500-31599",
        },
    )
    try:
        token = httpx.post(
            f"{server.http_url}/api/v1/auth/login",
            json={"username": "admin", "password": "mask-admin"},
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline, items = time.monotonic() + 30, list[dict[str, str]]()
        while time.monotonic() < deadline and not items:
            items = httpx.get(
                f"{server.http_url}/api/v1/channels", headers=headers, timeout=10
            ).json()["items"]
            time.sleep(0.3)
        channel_id = items[0]["id"]
        put = httpx.put(
            f"{server.http_url}/api/v1/channels/{channel_id}/masks",
            headers=headers,
            json={"polygons": [QUARTER]},
            timeout=10,
        )
        assert put.status_code == 200, put.text
        live = httpx.post(
            f"{server.http_url}/api/v1/channels/{channel_id}/live", headers=headers, timeout=20
        )
        assert live.status_code == 200, live.text
        urls = live.json()["urls"]
        data = asyncio.run(_collect(urls["ws"], 15))
        with av.open(io.BytesIO(data), mode="r", format="mp4") as container:
            unmasked = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        admin_rtsp = _rtsp_frames(urls["rtsp"])
        viewer = _granted_viewer(server.http_url, headers, channel_id)
        viewer_live = httpx.post(
            f"{server.http_url}/api/v1/channels/{channel_id}/live", headers=viewer, timeout=20
        )
        assert viewer_live.status_code == 200, viewer_live.text
        masked = _rtsp_frames(viewer_live.json()["urls"]["rtsp"])
        assert len(unmasked) >= 10 and len(masked) >= 10 and len(admin_rtsp) >= 10
        assert masked[0].shape == unmasked[0].shape == admin_rtsp[0].shape == (360, 640)
        assert max(_quarter(p) for p in masked) < 20  # blacked out for the viewer over RTSP
        assert min(_quarter(p) for p in unmasked) > 40  # the admin's browser view is not
        assert min(_quarter(p) for p in admin_rtsp) > 40  # nor the admin's RTSP view
        assert min(_rest(p) for p in masked) > 20  # and outside the mask the picture is there
        metrics = httpx.get(f"{server.http_url}/metrics", timeout=10).text
        # the masked encode is a hub stream of its own (kept for the grace period)
        assert f'channel="{channel_id}",kind="masked"' in metrics
    finally:
        assert server.stop() == 0
    assert server.log_problems() == []
