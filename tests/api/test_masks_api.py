"""Privacy masks through the API: GET/PUT /channels/{id}/masks, and masked live views.

Everything is real but the browser: the app, logins, stream tokens, LiveService, StreamHub,
MaskService on SQLite, the SIP endpoint and a test camera streaming H.264 in PS/RTP. Which
viewer must see the masked picture is the access policy's call (``Action.UNMASKED``); the
policy of issue 8 is being written beside this, so most tests use
:class:`UnmaskedOnlyForAdminByName`, an ``AuthService`` whose rule is spelled out here, and one
test runs the node's real ``AuthService``, under which the administrator sees everything.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.access.policy import Decision
from sightline.access.service import (
    ADMIN_USERNAME,
    Action,
    AuthService,
    Forbidden,
    Principal,
    Resource,
)
from sightline.access.stream_tokens import StreamTokens
from sightline.analytics.masked_stream import MaskedStreams, masked_key
from sightline.analytics.masks import MaskService
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.api.routers import media
from sightline.directory import DirectoryService
from sightline.gb28181.live_dialog import MediaCalls
from sightline.gb28181.manscdp import CatalogItem
from sightline.media.downloads import Downloads
from sightline.media.hub import StreamHub, StreamKey
from sightline.media.playback import RecordSource, RecordSourceName
from sightline.media.playback_sessions import PlaybackSessions
from sightline.sip.stats import SipStats
from sightline.store import Database, DeviceRepository
from sightline.store.models.access import ROOT_DEPARTMENT_ID, Role
from sightline.store.repositories.access import AccessRepository
from tests.access.fixtures import FakeClock, Sleeps
from tests.gb28181.device_peer import Platform
from tests.gb28181.live_peer import AckRecordingEndpoint, MediaDevice
from tests.gb28181.live_platform import start_live_platform
from tests.store.conftest import make_device, sqlite_migrated, sqlite_url

__all__ = ["sqlite_migrated"]

KEY = b"masks-api-test-key-0123456789abc"
ADMIN_PASSWORD = "admin-secret"
VIEWER_PASSWORD = "viewer-secret"
CAMERA = "34020000001320000001"
CHANNEL = "34020000001310000001"
PLAIN_CAMERA = "34020000001320000002"
PLAIN = "34020000001310000002"  # a channel without masks
UNKNOWN = "34020000001310000099"
QUARTER = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]


class UnmaskedOnlyForAdminByName(AuthService):
    """Test policy: everything is allowed, but only the user called ``admin`` sees unmasked."""

    async def decide(self, principal: Principal, action: Action, resource: Resource) -> Decision:
        if action is Action.UNMASKED and principal.username != ADMIN_USERNAME:
            return Decision(False, f"{principal.username} may see {resource.id} only masked")
        return Decision(True)

    async def authorize(self, principal: Principal, action: Action, resource: Resource) -> None:
        decision = await self.decide(principal, action, resource)
        if not decision.allowed:
            raise Forbidden(decision.reason)


@dataclass
class RecordingAudit:
    """An ``AuditSink`` keeping what it is given."""

    events: list[AuditEvent] = field(default_factory=list)

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


@dataclass
class MasksApi:
    client: TestClient
    portal: BlockingPortal
    hub: StreamHub
    masked: MaskedStreams
    audit: RecordingAudit
    cameras: dict[str, MediaDevice]
    database: Database
    bearers: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearers[user]}"}

    def put(self, channel: str, body: Any, user: str = "admin") -> Any:
        return self.client.put(
            f"/api/v1/channels/{channel}/masks", json=body, headers=self.headers(user)
        )

    def play_path(self, channel: str, user: str) -> str:
        resp = self.client.post(f"/api/v1/channels/{channel}/live", headers=self.headers(user))
        assert resp.status_code == 200, resp.text
        ws = str(resp.json()["urls"]["ws"])
        return ws.removeprefix("ws://testserver")


@dataclass
class _Parts:
    database: Database
    platform: Platform
    hub: StreamHub
    calls: MediaCalls
    ctx: ApiContext
    masked: MaskedStreams
    cameras: dict[str, MediaDevice]


async def _locate(channel_id: str) -> str | None:
    return {CHANNEL: CAMERA, PLAIN: PLAIN_CAMERA}.get(channel_id)


async def _start(
    migrated: Path, tmp_path: Path, auth_class: type[AuthService], audit: RecordingAudit
) -> _Parts:
    shutil.copyfile(migrated, tmp_path / "api.db")
    database = await Database.connect(sqlite_url(tmp_path / "api.db"))
    auth = auth_class(database, KEY, token_lifetime_s=3600, sleep=Sleeps())
    await auth.ensure_admin(ADMIN_PASSWORD)
    await auth.create_user("viewer", VIEWER_PASSWORD)
    (tmp_path / "sip").mkdir()
    wired = await start_live_platform(
        tmp_path / "sip", rtp_ports="45000-45499", grace_s=0.2, locate=_locate
    )
    platform, hub, calls, live = wired.platform, wired.hub, wired.calls, wired.live
    cameras = {}
    for channel, device in ((CHANNEL, CAMERA), (PLAIN, PLAIN_CAMERA)):
        camera = MediaDevice(platform.device(device, endpoint=AckRecordingEndpoint()))
        camera.interval_s = 0.02
        await camera.start()
        cameras[channel] = camera
    directory = DirectoryService(database, online=platform.manager.is_online)
    for channel, device in ((CHANNEL, CAMERA), (PLAIN, PLAIN_CAMERA)):
        async with database.session() as session:
            await DeviceRepository(session).save(make_device(device))
        item = CatalogItem(device_id=channel, name="gate", parent_id=device, status="ON")
        await directory.import_catalog(device, [item], complete=True)
    masked = MaskedStreams(hub, MaskService(database), live.opener)
    sources: dict[RecordSourceName, RecordSource] = {}
    ctx = ApiContext(
        registry=build_registry(SipStats()),
        auth=auth,
        directory=directory,
        devices=platform.manager,
        live=live,
        stream_tokens=StreamTokens(KEY, 60, clock=FakeClock(time.time())),
        audit=audit,
        masked=masked,
        # no record source is enabled: a recording request that passes every check gets 409
        record_sources=sources,
        playback=PlaybackSessions(hub, sources),
        downloads=Downloads(tmp_path / "downloads", retention_s=60),
    )
    return _Parts(database, platform, hub, calls, ctx, masked, cameras)


async def _stop(parts: _Parts) -> None:
    await parts.hub.close()
    await parts.calls.close()
    for camera in parts.cameras.values():
        await camera.close()
    await parts.platform.close()
    await parts.database.close()


def _api(migrated: Path, tmp_path: Path, auth_class: type[AuthService]) -> Iterator[MasksApi]:
    audit = RecordingAudit()
    with start_blocking_portal() as portal:
        parts = portal.call(_start, migrated, tmp_path, auth_class, audit)
        client = TestClient(create_app(parts.ctx))
        client.portal = portal
        api = MasksApi(
            client, portal, parts.hub, parts.masked, audit, parts.cameras, parts.database
        )
        try:
            for user, password in (("admin", ADMIN_PASSWORD), ("viewer", VIEWER_PASSWORD)):
                resp = client.post(
                    "/api/v1/auth/login", json={"username": user, "password": password}
                )
                assert resp.status_code == 200, resp.text
                api.bearers[user] = resp.json()["access_token"]
            yield api
        finally:
            client.portal = None
            portal.call(_stop, parts)


@pytest.fixture
def masks_api(sqlite_migrated: Path, tmp_path: Path) -> Iterator[MasksApi]:
    yield from _api(sqlite_migrated, tmp_path, UnmaskedOnlyForAdminByName)


@pytest.fixture
def real_policy_api(sqlite_migrated: Path, tmp_path: Path) -> Iterator[MasksApi]:
    yield from _api(sqlite_migrated, tmp_path, AuthService)


def ws_pictures(api: MasksApi, path: str, fragments: int) -> list[np.ndarray]:
    """Play the WebSocket URL for ``fragments`` frames; the decoded luma pictures."""
    data, seen, init = bytearray(), 0, False
    with api.client.websocket_connect(path) as ws:
        while seen < fragments:
            message = ws.receive()
            assert message["type"] == "websocket.send", message
            if message.get("text") is not None:
                init = '"init"' in message["text"]
                continue
            data += message["bytes"]
            seen += not init
            init = False
    with av.open(io.BytesIO(bytes(data)), "r", format="mp4") as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def top_left(picture: np.ndarray) -> float:
    height, width = picture.shape
    return float(picture[: height // 2, : width // 2].mean())


# -- GET / PUT ------------------------------------------------------------------------------------


def test_masks_are_set_read_and_audited(masks_api: MasksApi) -> None:
    empty = masks_api.client.get(
        f"/api/v1/channels/{CHANNEL}/masks", headers=masks_api.headers("viewer")
    )
    assert empty.status_code == 200 and empty.json() == {
        "channel_id": CHANNEL,
        "polygons": [],
        "updated_at": None,
        "updated_by": None,
    }
    put = masks_api.put(CHANNEL, {"polygons": [QUARTER]})
    assert put.status_code == 200, put.text
    got = masks_api.client.get(
        f"/api/v1/channels/{CHANNEL}/masks", headers=masks_api.headers("viewer")
    )
    assert got.json()["polygons"] == [QUARTER] and got.json()["updated_by"] == "admin"
    [event] = [e for e in masks_api.audit.events if e.action is AuditAction.MASK_CHANGE]
    assert (event.username, event.channel_id, event.detail) == ("admin", CHANNEL, {"polygons": 1})


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"polygons": [[[0, 0], [1, 0]]]}, 422, "3 to 64 points"),
        ({"polygons": [[[0, 0], [1.2, 0], [1, 1]]]}, 422, "outside the picture"),
        ({"polygons": [[[0, 0], [0.5, 0.5], [1, 1]]]}, 422, "no area"),
        ({"polygons": [QUARTER] * 33}, 422, "polygons"),
        ({"polygons": [[["a", 0], [1, 0], [1, 1]]]}, 422, "polygons"),
        ({"polygons": [QUARTER], "extra": 1}, 422, "extra"),
        ({}, 422, "polygons"),
    ],
)
def test_bad_masks_get_a_clear_422(
    masks_api: MasksApi, body: dict[str, Any], status: int, detail: str
) -> None:
    resp = masks_api.put(CHANNEL, body)
    assert resp.status_code == status and detail in resp.json()["detail"], resp.text
    assert masks_api.masked.encoders == 0


def test_who_may_change_masks(masks_api: MasksApi) -> None:
    assert masks_api.put(CHANNEL, {"polygons": [QUARTER]}, user="viewer").status_code == 403
    unknown = masks_api.put(UNKNOWN, {"polygons": [QUARTER]})
    assert unknown.status_code == 404 and "not known" in unknown.json()["detail"]
    anonymous = masks_api.client.put(f"/api/v1/channels/{CHANNEL}/masks", json={"polygons": []})
    assert anonymous.status_code == 401
    text = masks_api.client.put(
        f"/api/v1/channels/{CHANNEL}/masks",
        content=b'{"polygons": []}',
        headers={**masks_api.headers("admin"), "Content-Type": "text/plain"},
    )
    assert text.status_code == 415
    assert (
        masks_api.client.get(
            "/api/v1/channels/123/masks", headers=masks_api.headers("admin")
        ).status_code
        == 422
    )


# -- serving --------------------------------------------------------------------------------------


def test_a_viewer_without_the_unmasked_right_gets_the_masked_picture(masks_api: MasksApi) -> None:
    assert masks_api.put(CHANNEL, {"polygons": [QUARTER]}).status_code == 200
    masked = ws_pictures(masks_api, masks_api.play_path(CHANNEL, "viewer"), 10)
    unmasked = ws_pictures(masks_api, masks_api.play_path(CHANNEL, "admin"), 10)
    assert len(masked) >= 10 and len(unmasked) >= 10
    assert max(top_left(p) for p in masked) < 20  # blacked out
    assert min(float(p[140:, 180:].mean()) for p in masked) > 40  # the rest is there
    assert min(top_left(p) for p in unmasked) > 40  # the admin's view is not masked


def test_masked_viewers_share_one_encode(masks_api: MasksApi) -> None:
    assert masks_api.put(CHANNEL, {"polygons": [QUARTER]}).status_code == 200
    paths = [masks_api.play_path(CHANNEL, "viewer") for _ in range(2)]
    with (
        masks_api.client.websocket_connect(paths[0]) as first,
        masks_api.client.websocket_connect(paths[1]) as second,
    ):
        for ws in (first, second):  # both are playing
            while "playing" not in (ws.receive().get("text") or ""):
                pass
        assert masks_api.masked.encoders == 1
        viewers = {s.key: s.viewers for s in masks_api.portal.call(_snapshot, masks_api.hub)}
        assert viewers[masked_key(CHANNEL)] == 2 and viewers[StreamKey(CHANNEL)] == 1
    assert len(masks_api.cameras[CHANNEL].invites) == 1


async def _snapshot(hub: StreamHub) -> list[Any]:
    return hub.snapshot()


def test_a_channel_without_masks_is_never_re_encoded(masks_api: MasksApi) -> None:
    assert masks_api.put(CHANNEL, {"polygons": [QUARTER]}).status_code == 200
    pictures = ws_pictures(masks_api, masks_api.play_path(PLAIN, "viewer"), 5)
    assert min(top_left(p) for p in pictures) > 40
    assert masks_api.masked.encoders == 0  # the viewer's masked view passes the camera through


def test_drawing_a_mask_covers_views_already_running(masks_api: MasksApi) -> None:
    path = masks_api.play_path(PLAIN, "viewer")
    parts: list[bytearray] = []  # the fMP4 stream, cut at each init segment
    with masks_api.client.websocket_connect(path) as ws:
        frames = 0
        while frames < 40:
            message = ws.receive()
            text = message.get("text")
            if text is not None:
                if '"init"' in text:
                    parts.append(bytearray())
                continue
            parts[-1] += message["bytes"]
            frames += 1
            if frames == 10:  # watching: now the administrator draws a mask
                put = masks_api.put(PLAIN, {"polygons": [QUARTER]})
                assert put.status_code == 200
    assert len(parts) == 2  # the camera's stream, then the masked encode's new init segment
    before, after = (_decode(bytes(part)) for part in parts)
    assert before and min(top_left(p) for p in before) > 40
    assert len(after) >= 10 and max(top_left(p) for p in after) < 20
    assert masks_api.masked.encoders == 1


def _decode(mp4: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(mp4), "r", format="mp4") as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def test_under_the_real_policy_the_administrator_sees_the_channel_unmasked(
    real_policy_api: MasksApi,
) -> None:
    api = real_policy_api
    assert api.put(CHANNEL, {"polygons": [QUARTER]}).status_code == 200
    pictures = ws_pictures(api, api.play_path(CHANNEL, "admin"), 5)
    assert min(top_left(p) for p in pictures) > 40
    assert api.masked.encoders == 0


async def _only_viewer_role(api: MasksApi, username: str) -> None:
    app = api.client.app
    assert isinstance(app, FastAPI)
    auth = app.state.auth
    assert isinstance(auth, AuthService)
    user_id = next(
        m.user_id for m in auth.access.snapshot.members.values() if m.username == username
    )
    async with api.database.session() as session:
        await AccessRepository(session).set_membership(user_id, ROOT_DEPARTMENT_ID, [Role.VIEWER])
    await auth.access.refresh()


def test_losing_the_unmasked_right_ends_a_running_unmasked_view(
    real_policy_api: MasksApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An operator sees the channel unmasked; demoted to viewer (live, masked only) they may
    # still watch, but no longer the unmasked picture they are being sent.
    monkeypatch.setattr(media, "RECHECK_S", 0.05)
    api = real_policy_api
    assert api.put(CHANNEL, {"polygons": [QUARTER]}).status_code == 200
    with api.client.websocket_connect(api.play_path(CHANNEL, "viewer")) as ws:
        while ws.receive().get("bytes") is None:
            pass  # until media flows
        assert api.masked.encoders == 0  # the unmasked stream
        api.portal.call(_only_viewer_role, api, "viewer")
        while True:
            message = ws.receive()
            if message.get("text") and '"error"' in message["text"]:
                break
        error = json.loads(message["text"])
        assert error["status"] == 403 and "unmasked" in error["detail"]
        assert ws.receive()["code"] == 4403
    pictures = ws_pictures(api, api.play_path(CHANNEL, "viewer"), 5)  # started again: masked
    assert max(top_left(p) for p in pictures) < 20  # blacked out


# -- recordings -----------------------------------------------------------------------------------

RANGE = {"start": "2026-11-24T08:00:00Z", "end": "2026-11-24T09:00:00Z"}


@pytest.mark.parametrize(("route", "what"), [("playback", "playback"), ("downloads", "export")])
def test_recordings_of_a_masked_channel_need_the_unmasked_right(
    masks_api: MasksApi, route: str, what: str
) -> None:
    # Recordings are kept as the camera sent them; with no masked playback path, serving them
    # to a viewer who may only see the channel masked would show what the masks hide.
    assert masks_api.put(CHANNEL, {"polygons": [QUARTER]}).status_code == 200
    body = {**RANGE, "purpose": "incident 7"} if route == "downloads" else RANGE

    def ask(channel: str, user: str) -> Any:
        path = f"/api/v1/channels/{channel}/{route}"
        return masks_api.client.post(path, json=body, headers=masks_api.headers(user))

    refused = ask(CHANNEL, "viewer")
    assert refused.status_code == 403, refused.text
    assert "privacy masks" in refused.json()["detail"]
    assert what in refused.json()["detail"]
    denied = [e for e in masks_api.audit.events if e.action is AuditAction.PERMISSION_DENIED]
    assert [(e.channel_id, e.username) for e in denied] == [(CHANNEL, "viewer")]
    # past the mask check, the request reaches the (missing) record source
    assert ask(PLAIN, "viewer").status_code == 409  # no masks: nothing to hide
    assert ask(CHANNEL, "admin").status_code == 409  # may see it unmasked
