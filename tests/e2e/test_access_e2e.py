"""The access model through the whole system: `sightline demo` with a simulated camera.

A transport viewer is refused live video until the camera's owner grants it; media URLs
without, with a forged or with an expired token are refused; revoking the grant stops the
running WebSocket view within seconds. The process log never holds the admin or device
password.
"""

from __future__ import annotations

import asyncio
import io
import json
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import websockets

from tests.e2e.server import SightlineProcess, start_sightline

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "access-admin-pw"
DEVICE_PASSWORD = "access-device-pw"
VIEWER_PASSWORD = "transport-viewer-pw"


def _login(server: SightlineProcess, username: str, password: str) -> dict[str, str]:
    resp = httpx.post(
        f"{server.http_url}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _call(
    server: SightlineProcess, method: str, path: str, headers: dict[str, str], **kw: Any
) -> httpx.Response:
    return httpx.request(method, f"{server.http_url}{path}", headers=headers, timeout=20, **kw)


def _first_channel(server: SightlineProcess, admin: dict[str, str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = _call(server, "GET", "/api/v1/channels", admin).json()["items"]
        if items:
            return str(items[0]["id"])
        time.sleep(0.3)
    raise AssertionError("the demo camera never registered a channel")


def _member(
    server: SightlineProcess,
    admin: dict[str, str],
    department: str,
    *,
    username: str,
    password: str,
    role: str,
) -> int:
    """A new department under the root with one user of ``role``; the department's ID."""
    created = _call(
        server, "POST", "/api/v1/departments", admin, json={"name": department, "parent_id": 1}
    ).json()
    user = _call(
        server,
        "POST",
        "/api/v1/users",
        admin,
        json={
            "username": username,
            "password": password,
            "department_id": created["id"],
            "roles": [role],
        },
    )
    assert user.status_code == 201, user.text
    return int(created["id"])


def _grant_live(
    server: SightlineProcess, admin: dict[str, str], department: int, channel: str
) -> str:
    """Grant ``department`` live view of ``channel`` for the next hour; the grant's ID."""
    now = datetime.now(UTC)
    grant = _call(
        server,
        "POST",
        "/api/v1/grants",
        admin,
        json={
            "grantee_department_id": department,
            "scope": {"kind": "channel", "id": channel},
            "actions": ["live"],
            "not_before": (now - timedelta(minutes=1)).isoformat(),
            "not_after": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert grant.status_code == 201, grant.text
    return str(grant.json()["id"])


async def _watch_until_revoked(ws_url: str, revoke: Any) -> tuple[bytes, float, int | None, str]:
    """Play until 20 fragments arrived, revoke, then read until the server closes."""
    data = bytearray()
    fragments = 0
    revoked_at = 0.0
    async with websockets.connect(ws_url, max_size=None) as ws:
        try:
            while True:
                message = await asyncio.wait_for(ws.recv(), 15)
                if isinstance(message, bytes):
                    data += message
                    fragments += 1
                    if fragments == 20:
                        await asyncio.to_thread(revoke)
                        revoked_at = time.monotonic()
                elif json.loads(message).get("type") == "error":
                    continue
        except websockets.exceptions.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            reason = closed.rcvd.reason if closed.rcvd is not None else ""
            return bytes(data), time.monotonic() - revoked_at, code, reason
    raise AssertionError("unreachable")


async def _close_code(url: str) -> int | None:
    try:
        async with websockets.connect(url, max_size=None) as ws:
            while True:
                await asyncio.wait_for(ws.recv(), 15)
    except websockets.exceptions.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


def test_grant_then_revoke_stops_a_running_view(tmp_path: Path) -> None:
    server = start_sightline(
        tmp_path,
        password=DEVICE_PASSWORD,
        command=("demo", "--ipcs", "1", "--nvr-channels", "0"),
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
            "SIGHTLINE_MEDIA__RTP_PORTS": "31200-31299",
            "SIGHTLINE_MEDIA__TOKEN_TTL_S": "3",
        },
    )
    try:
        admin = _login(server, "admin", ADMIN_PASSWORD)
        channel = _first_channel(server, admin)
        department = _member(
            server, admin, "transport", username="tv", password=VIEWER_PASSWORD, role="viewer"
        )
        viewer = _login(server, "tv", VIEWER_PASSWORD)
        live_path = f"/api/v1/channels/{channel}/live"
        denied = _call(server, "POST", live_path, viewer)
        assert denied.status_code == 403 and "access-requests" in denied.json()["detail"]

        grant = _grant_live(server, admin, department, channel)
        live = _call(server, "POST", live_path, viewer)
        assert live.status_code == 200, live.text
        urls = live.json()["urls"]

        # media URLs: no token, a forged one, an expired one
        bare = urls["http"].split("?", 1)[0]
        assert httpx.get(bare, timeout=10).status_code == 401
        assert httpx.get(bare + "?token=s1.e30.AAAA", timeout=10).status_code == 401
        assert asyncio.run(_close_code(urls["ws"].split("?", 1)[0])) == 4401
        time.sleep(3.2)
        assert asyncio.run(_close_code(urls["ws"])) == 4401  # expired before the view began
        with httpx.stream("GET", urls["http"], timeout=10) as expired:
            assert expired.status_code == 401

        fresh = _call(server, "POST", live_path, viewer).json()["urls"]["ws"]

        def revoke() -> None:
            gone = _call(server, "DELETE", f"/api/v1/grants/{grant}", admin)
            assert gone.status_code == 204

        data, after_s, code, reason = asyncio.run(_watch_until_revoked(fresh, revoke))
        assert code == 4403, (code, reason)
        assert "revoked" in reason or "withdrawn" in reason
        assert after_s < 5.0, after_s
        with av.open(io.BytesIO(data), mode="r", format="mp4") as container:
            frames = list(container.decode(video=0))
        assert len(frames) >= 15  # real video flowed before the revocation
        again = _call(server, "POST", live_path, viewer)
        assert again.status_code == 403
    finally:
        assert server.stop() == 0
    assert server.log_problems() == []
    log = server.log() + "".join(server.stdout_lines)
    assert ADMIN_PASSWORD not in log
    assert DEVICE_PASSWORD not in log
    assert VIEWER_PASSWORD not in log


def test_demo_serves_https_with_its_self_signed_certificate(tmp_path: Path) -> None:
    server = start_sightline(
        tmp_path,
        password=DEVICE_PASSWORD,
        command=("demo", "--https", "--ipcs", "1", "--nvr-channels", "0"),
    )
    try:
        deadline = time.monotonic() + 20
        while "simulated devices" not in "".join(server.stdout_lines):
            assert time.monotonic() < deadline, server.stdout_lines
            time.sleep(0.05)
        url = f"https://127.0.0.1:{server.http_port}"
        # generated, and shown once on the console (stdout), never in the log (stderr)
        generated = "".join(server.stdout_lines).split("admin login: admin / ", 1)[1].split()[0]
        assert f"HTTP     {url}/" in "".join(server.stdout_lines)
        trust = ssl.create_default_context(cafile=tmp_path / "https-cert.pem")
        assert (tmp_path / "https-key.pem").stat().st_mode & 0o077 == 0
        assert httpx.get(f"{url}/healthz", verify=trust, timeout=10).json() == {"status": "ok"}
        with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
            httpx.get(f"{url}/healthz", timeout=10)
        login = httpx.post(
            f"{url}/api/v1/auth/login",
            json={"username": "admin", "password": generated},
            verify=trust,
            timeout=10,
        )
        assert login.status_code == 200
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on the HTTPS port
            httpx.get(f"http://127.0.0.1:{server.http_port}/healthz", timeout=5)
    finally:
        assert server.stop() == 0
    assert generated not in server.log()
    assert DEVICE_PASSWORD not in server.log() + "".join(server.stdout_lines)
