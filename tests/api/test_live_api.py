"""Live view through the API: POST /live, then fMP4 over WebSocket and HTTP from a test camera.

Everything is real but the browser: the app, logins, stream tokens, LiveService, StreamHub,
the SIP endpoint and test cameras that answer INVITE and stream PS/RTP on loopback.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi.testclient import TestClient

from sightline.access.service import AuthService
from sightline.access.stream_tokens import StreamAction, StreamTokens
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.api.routers import media
from sightline.directory import DirectoryService
from sightline.gb28181.live_dialog import MediaCalls
from sightline.media.hub import StreamHub
from sightline.sip.stats import SipStats
from sightline.store import Database
from tests.access.fixtures import FakeClock, Sleeps
from tests.gb28181.device_peer import Platform
from tests.gb28181.live_peer import AckRecordingEndpoint, MediaDevice
from tests.gb28181.live_platform import start_live_platform
from tests.store.conftest import sqlite_url

KEY = b"live-api-test-key-0123456789abcd"
PASSWORD = "op-secret"
CAMERAS: dict[str, tuple[str, dict[str, Any] | None]] = {
    # channel: (device, camera behaviour)
    "34020000001310000001": ("34020000001320000001", {}),
    "34020000001310000002": ("34020000001320000002", {"status": 486}),
    "34020000001310000003": ("34020000001320000003", {"send_media": False}),
    "34020000001310000004": ("34020000001320000004", {"bye_after_frames": 30}),
    "34020000001310000005": ("34020000001320000005", None),  # registered never: offline
}
GOOD, REFUSING, SILENT, ENDING, OFFLINE = sorted(CAMERAS)
UNKNOWN = "34020000001310000099"


@dataclass
class LiveApi:
    client: TestClient
    portal: BlockingPortal
    tokens: StreamTokens
    clock: FakeClock
    hub: StreamHub
    cameras: dict[str, MediaDevice] = field(default_factory=dict)
    bearer: str = ""

    def post(self, channel: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        return self.client.post(f"/api/v1/channels/{channel}/live", headers=headers, **kw)

    def play_url(self, channel: str) -> str:
        resp = self.post(channel)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["urls"]["ws"])


async def _locate(channel_id: str) -> str | None:
    entry = CAMERAS.get(channel_id)
    return entry[0] if entry else None


@dataclass
class _Parts:
    database: Database
    platform: Platform
    hub: StreamHub
    calls: MediaCalls
    app_ctx: ApiContext
    cameras: dict[str, MediaDevice]


async def _start(sqlite_migrated: Path, tmp_path: Path, tokens: StreamTokens) -> _Parts:
    path = tmp_path / "api.db"
    shutil.copyfile(sqlite_migrated, path)
    database = await Database.connect(sqlite_url(path))
    auth = AuthService(database, KEY, token_lifetime_s=3600, sleep=Sleeps())
    await auth.create_user("operator", PASSWORD)
    (tmp_path / "sip").mkdir()
    wired = await start_live_platform(
        tmp_path / "sip", rtp_ports="48000-48999", grace_s=0.1, locate=_locate
    )
    platform, hub, calls, live = wired.platform, wired.hub, wired.calls, wired.live
    cameras = {}
    for channel, (device_id, behaviour) in CAMERAS.items():
        if behaviour is None:
            continue
        camera = MediaDevice(platform.device(device_id, endpoint=AckRecordingEndpoint()))
        for name, value in behaviour.items():
            setattr(camera, name, value)
        await camera.start()
        cameras[channel] = camera
    directory = DirectoryService(database, online=platform.manager.is_online)
    ctx = ApiContext(
        registry=build_registry(SipStats()),
        auth=auth,
        directory=directory,
        devices=platform.manager,
        live=live,
        stream_tokens=tokens,
    )
    return _Parts(database, platform, hub, calls, ctx, cameras)


async def _stop(parts: _Parts) -> None:
    await parts.hub.close()
    await parts.calls.close()
    for camera in parts.cameras.values():
        await camera.close()
    await parts.platform.close()
    await parts.database.close()


@pytest.fixture
def live_api(sqlite_migrated: Path, tmp_path: Path) -> Iterator[LiveApi]:
    clock = FakeClock(time.time())
    tokens = StreamTokens(KEY, 60, clock=clock)
    with start_blocking_portal() as portal:
        parts = portal.call(_start, sqlite_migrated, tmp_path, tokens)
        client = TestClient(create_app(parts.app_ctx))
        client.portal = portal
        api = LiveApi(client, portal, tokens, clock, parts.hub, parts.cameras)
        try:
            resp = client.post(
                "/api/v1/auth/login", json={"username": "operator", "password": PASSWORD}
            )
            api.bearer = resp.json()["access_token"]
            yield api
        finally:
            client.portal = None
            portal.call(_stop, parts)


def decode(mp4: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(mp4), "r", format="mp4") as container:
        return list(container.decode(video=0))


def ws_session(api: LiveApi, url: str, fragments: int) -> tuple[list[dict[str, Any]], bytes]:
    """Open the WebSocket, read until ``fragments`` media fragments came; texts and bytes."""
    texts: list[dict[str, Any]] = []
    data = bytearray()
    seen = 0
    with api.client.websocket_connect(url) as ws:
        while seen < fragments:
            message = ws.receive()
            assert message["type"] == "websocket.send", message
            if message.get("text") is not None:
                texts.append(ws_json(message["text"]))
            else:
                data += message["bytes"]
                seen += texts[-1]["type"] != "init"
                if texts[-1]["type"] == "init":
                    texts.append({"type": "init-segment"})
    return texts, bytes(data)


def ws_json(text: str) -> dict[str, Any]:
    import json

    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def ws_refusal(api: LiveApi, url: str) -> tuple[dict[str, Any], int]:
    """The error message and close code of a refused or failed WebSocket view."""
    with api.client.websocket_connect(url) as ws:
        while True:
            message = ws.receive()
            if message["type"] == "websocket.close":
                pytest.fail(f"closed without an error message: {message}")
            if message.get("text") is not None:
                text = ws_json(message["text"])
                if text["type"] == "error":
                    break
        close = ws.receive()
    assert close["type"] == "websocket.close"
    return text, int(close["code"])


# -- POST /live -----------------------------------------------------------------------------


def test_post_live_grants_urls_with_a_token_without_waiting(live_api: LiveApi) -> None:
    resp = live_api.post(GOOD)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    token = body["token"]
    path = f"/api/v1/media/live/{GOOD}.mp4?token={token}"
    assert body["urls"] == {
        "ws": f"ws://testserver{path}",
        "http": f"http://testserver{path}",
        "rtsp": None,  # this app was built without the RTSP output
    }
    assert body["channel_id"] == GOOD and body["mime_type"] is None
    claims = live_api.tokens.verify(
        token, channel_id=GOOD, action=StreamAction.LIVE, client="testclient"
    )
    assert claims.username == "operator" and claims.session_id is not None
    assert body["expires_at"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(claims.expires_at)))
    assert live_api.cameras[GOOD].invites == []  # the player's connection starts the stream


def test_post_live_fails_fast_for_what_is_known_at_once(live_api: LiveApi) -> None:
    assert live_api.post(UNKNOWN).status_code == 404
    offline = live_api.post(OFFLINE)
    assert offline.status_code == 503 and "offline" in offline.json()["detail"]
    live_api.bearer = ""
    assert live_api.post(GOOD).status_code == 401


def test_post_live_wait_reports_the_stream_or_its_failure(live_api: LiveApi) -> None:
    ready = live_api.post(GOOD, params={"wait": "true"})
    assert ready.status_code == 200, ready.text
    assert ready.json()["mime_type"].startswith('video/mp4; codecs="avc1.')
    refused = live_api.post(REFUSING, params={"wait": "true"})
    assert refused.status_code == 502 and "486" in refused.json()["detail"]
    live_api.hub.first_frame_timeout_s = 0.6  # the silent camera's
    silent = live_api.post(SILENT, params={"wait": "true"})
    assert silent.status_code == 504
    assert silent.json()["detail"].startswith("stream never arrived")


# -- WebSocket ------------------------------------------------------------------------------


def test_websocket_delivers_fmp4_that_decodes(live_api: LiveApi) -> None:
    texts, data = ws_session(live_api, live_api.play_url(GOOD), 20)
    kinds = [t["type"] + ":" + str(t.get("state", "")) for t in texts]
    assert kinds[:4] == ["status:connecting", "status:waiting", "init:", "init-segment:"]
    assert "status:playing" in kinds
    assert texts[2]["mime_type"].startswith('video/mp4; codecs="avc1.')
    frames = decode(data)
    assert len(frames) >= 20
    assert (frames[0].width, frames[0].height) == (320, 240)
    assert len(live_api.cameras[GOOD].invites) == 1


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        ("missing", 4401),
        ("forged", 4401),
        ("expired", 4401),
        ("other-client", 4403),
        ("other-channel", 4403),
        ("revoked", 4403),
    ],
)
def test_websocket_refuses_bad_tokens(live_api: LiveApi, spoil: str, code: int) -> None:
    url = live_api.play_url(GOOD)
    base, token = url.split("?token=")
    if spoil == "missing":
        url = base
    elif spoil == "forged":
        url = f"{base}?token={token[:-2]}{'AA' if token[-2:] != 'AA' else 'BB'}"
    elif spoil == "expired":
        live_api.clock.now += 61
    elif spoil == "other-client":
        other, _ = live_api.tokens.issue(
            user_id=1, username="operator", channel_id=GOOD, client="192.0.2.99"
        )
        url = f"{base}?token={other}"
    elif spoil == "other-channel":
        url = live_api.play_url(SILENT).replace(SILENT, GOOD, 1)
    else:
        live_api.tokens.revocations.revoke_token(live_api.tokens.decode(token))
    error, close_code = ws_refusal(live_api, url)
    assert close_code == code and error["status"] == code - 4000
    assert live_api.cameras[GOOD].invites == []  # refused before any INVITE


def test_websocket_reports_device_failures(live_api: LiveApi) -> None:
    error, code = ws_refusal(live_api, live_api.play_url(REFUSING))
    assert code == 4502 and "486" in error["detail"]
    live_api.hub.first_frame_timeout_s = 0.6  # the silent camera's
    error, code = ws_refusal(live_api, live_api.play_url(SILENT))
    assert code == 4504 and error["detail"].startswith("stream never arrived")


def test_revoking_a_running_view_stops_it(
    live_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media, "RECHECK_S", 0.05)
    url = live_api.play_url(GOOD)
    token = url.split("?token=")[1]
    with live_api.client.websocket_connect(url) as ws:
        while ws.receive().get("bytes") is None:
            pass  # until media flows
        live_api.tokens.revocations.revoke_session(str(live_api.tokens.decode(token).session_id))
        while True:
            message = ws.receive()
            if message.get("text") and '"error"' in message["text"]:
                break
        assert ws_json(message["text"])["status"] == 403
        assert ws.receive()["code"] == 4403


# -- HTTP -----------------------------------------------------------------------------------


def test_http_delivers_the_same_fmp4_until_the_stream_ends(live_api: LiveApi) -> None:
    url = live_api.post(ENDING).json()["urls"]["http"]
    resp = live_api.client.get(url)  # the camera hangs up after 30 frames: the body ends
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "video/mp4"
    frames = decode(resp.content)
    assert 10 <= len(frames) <= 30
    assert (frames[0].width, frames[0].height) == (320, 240)


def test_http_refuses_bad_tokens_and_reports_failures(live_api: LiveApi) -> None:
    url = live_api.post(GOOD).json()["urls"]["http"]
    assert live_api.client.get(url.split("?")[0]).status_code == 401
    assert live_api.client.get(url[:-3]).status_code in (401, 403)
    refused = live_api.client.get(live_api.post(REFUSING).json()["urls"]["http"])
    assert refused.status_code == 502


def test_the_player_page_is_served(live_api: LiveApi) -> None:
    page = live_api.client.get("/player/")
    assert page.status_code == 200 and "player.js" in page.text
    script = live_api.client.get("/player/player.js")
    assert script.status_code == 200 and "MediaSource" in script.text
