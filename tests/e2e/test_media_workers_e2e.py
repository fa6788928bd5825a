"""Live video through media worker processes (``media.workers``): `sightline demo` with a
simulated camera, the play URLs on a worker's own port, fMP4 over WebSocket decoded by PyAV,
the same channel over RTSP from the main process (relayed from the worker: one INVITE), the
worker's stream counters in the main process's /metrics, its views in the audit chain, and a
revoked grant ending a view the worker serves."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from urllib.parse import urlsplit

import av
import httpx
import pytest
import websockets

from tests.e2e.server import parse_prometheus, start_sightline
from tests.e2e.test_access_e2e import (
    _call,
    _first_channel,
    _grant_live,
    _login,
    _member,
    _watch_until_revoked,
)
from tests.e2e.test_live_e2e import _collect, _send_huge

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "workers-admin-pw"
OPERATOR_PASSWORD = "workers-operator-pw"


def _audit(server: object, admin: dict[str, str], action: str) -> list[dict[str, object]]:
    resp = _call(server, "GET", f"/api/v1/audit?action={action}", admin)  # type: ignore[arg-type]
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    assert isinstance(items, list)
    return items


def test_a_worker_plays_the_channel_and_the_main_process_relays_it(tmp_path: Path) -> None:
    server = start_sightline(
        tmp_path,
        command=("demo", "--ipcs", "1", "--nvr-channels", "0"),
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
            "SIGHTLINE_MEDIA__RTP_PORTS": "31400-31499",
            "SIGHTLINE_MEDIA__WORKERS": "2",
        },
    )
    try:
        admin = _login(server, "admin", ADMIN_PASSWORD)
        channel = _first_channel(server, admin)
        live = _call(server, "POST", f"/api/v1/channels/{channel}/live", admin)
        assert live.status_code == 200, live.text
        urls = live.json()["urls"]
        main_port = urlsplit(server.http_url).port
        worker_port = urlsplit(urls["ws"]).port
        assert worker_port is not None and worker_port != main_port
        assert urlsplit(urls["http"]).port == worker_port
        # a second play URL for the same channel names the same worker
        again = _call(server, "POST", f"/api/v1/channels/{channel}/live", admin).json()
        assert urlsplit(again["urls"]["ws"]).port == worker_port

        data, status = asyncio.run(_collect(urls["ws"], 40))
        assert not [m for m in status if m.get("type") == "error"], status
        with av.open(io.BytesIO(data), mode="r", format="mp4") as container:
            frames = list(container.decode(video=0))
        assert len(frames) >= 30
        assert (frames[0].width, frames[0].height) == (640, 360)
        _worker_refuses_hostile_input(urls["ws"], urls["http"])

        # RTSP is the main process's: the worker relays the stream it receives
        with av.open(
            urls["rtsp"], mode="r", options={"rtsp_transport": "tcp"}, timeout=15
        ) as container:
            rtsp_frames = []
            for frame in container.decode(video=0):
                rtsp_frames.append(frame)
                if len(rtsp_frames) >= 10:
                    break
        assert (rtsp_frames[0].width, rtsp_frames[0].height) == (640, 360)

        # one stream, counted once, with the worker's RTP counters
        deadline = time.monotonic() + 10
        packets: list[float] = []
        while time.monotonic() < deadline and not packets:
            metrics = parse_prometheus(httpx.get(f"{server.http_url}/metrics", timeout=10).text)
            packets = [
                value
                for name, value in metrics.items()
                if name.startswith("sightline_stream_rtp_packets_total{") and channel in name
            ]
            time.sleep(0.5)
        assert len(packets) == 1 and packets[0] > 10, packets

        # the worker's views are in the main process's audit chain
        starts = _audit(server, admin, "live.start")
        assert any(item["channel_id"] == channel for item in starts), starts
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _audit(server, admin, "live.stop"):
            time.sleep(0.3)
        assert _audit(server, admin, "live.stop")
        verify = _call(server, "GET", "/api/v1/audit/verify", admin)
        assert verify.status_code == 200, verify.text
    finally:
        assert server.stop() == 0
    assert server.log_problems() == []
    assert "2 media workers serving live video" in server.log()


def _worker_refuses_hostile_input(ws_url: str, http_url: str) -> None:
    """A worker's port answers forged tokens, oversized messages and junk as serve's does."""
    forged = ws_url.rsplit("token=", 1)[0] + "token=forged"
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        asyncio.run(_collect(forged, 1))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    forged_http = http_url.rsplit("token=", 1)[0] + "token=forged"
    assert httpx.get(forged_http, timeout=10).status_code == 401
    # a client message over the 64 KiB limit closes that socket (1009), nothing else
    assert asyncio.run(_send_huge(ws_url, 64 * 1024 + 1)) == 1009
    assert asyncio.run(_send_huge(ws_url, 1 << 20)) in (1009, 1006)
    # the worker serves only media: the API and unknown paths are not there
    origin = http_url.split("/api/", 1)[0]
    assert httpx.get(f"{origin}/api/v1/devices", timeout=10).status_code == 404
    assert httpx.get(f"{origin}/../../etc/passwd", timeout=10).status_code == 404
    # a request line that is not HTTP gets 400 or a closed connection, and the worker lives
    host, port = urlsplit(origin).hostname, urlsplit(origin).port
    assert host is not None and port is not None
    assert asyncio.run(_raw_request(host, port, b"\x16\x03\x01junk\r\n\r\n")) in (b"", b"400")
    data, status = asyncio.run(_collect(ws_url, 3))
    assert data and not [m for m in status if m.get("type") == "error"], status


async def _raw_request(host: str, port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        return line.split(b" ")[1] if line.startswith(b"HTTP/") else b""
    finally:
        writer.close()


def test_a_revoked_grant_ends_a_view_a_worker_serves(tmp_path: Path) -> None:
    server = start_sightline(
        tmp_path,
        command=("demo", "--ipcs", "1", "--nvr-channels", "0"),
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
            "SIGHTLINE_MEDIA__RTP_PORTS": "31500-31599",
            "SIGHTLINE_MEDIA__WORKERS": "1",
        },
    )
    try:
        admin = _login(server, "admin", ADMIN_PASSWORD)
        channel = _first_channel(server, admin)
        # an operator may see unmasked: a worker serves the view
        department = _member(
            server, admin, "emergency", username="op", password=OPERATOR_PASSWORD, role="operator"
        )
        operator = _login(server, "op", OPERATOR_PASSWORD)
        grant = _grant_live(server, admin, department, channel)
        live = _call(server, "POST", f"/api/v1/channels/{channel}/live", operator)
        assert live.status_code == 200, live.text
        ws_url = live.json()["urls"]["ws"]
        assert urlsplit(ws_url).port != urlsplit(server.http_url).port

        def revoke() -> None:
            gone = _call(server, "DELETE", f"/api/v1/grants/{grant}", admin)
            assert gone.status_code == 204

        data, after_s, code, reason = asyncio.run(_watch_until_revoked(ws_url, revoke))
        assert code == 4403, (code, reason)
        assert "revoked" in reason or "withdrawn" in reason or "grant" in reason, reason
        assert after_s < 6.0, after_s
        with av.open(io.BytesIO(data), mode="r", format="mp4") as container:
            assert len(list(container.decode(video=0))) >= 15
        # the same token cannot start another view there now
        with httpx.stream("GET", live.json()["urls"]["http"], timeout=10) as refused:
            assert refused.status_code == 403
    finally:
        assert server.stop() == 0
    assert server.log_problems() == []
