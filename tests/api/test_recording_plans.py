"""``/channels/{id}/recording-plan``, ``/recordings/status``, ``/groups/{id}/recording-retention``.

The real app, AuthService, DirectoryService and RecordingService on SQLite; the channel's
stream is a StreamHub whose opener fails like an offline device, so a continuous plan shows a
recorder that keeps retrying (recording itself is tested in tests/media/recording and e2e).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi.testclient import TestClient

from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.access.service import AuthService
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.directory import DirectoryService
from sightline.media.hub import StreamEndedError, StreamHub, StreamKey, Upstream, Viewer
from sightline.media.recording import RecordingOptions, RecordingService
from sightline.sip.stats import SipStats
from sightline.store import Database
from sightline.store.models.access import ROOT_DEPARTMENT_ID, Role
from sightline.store.repositories.access import AccessRepository
from sightline.store.repositories.recording import RecordingStore
from tests.access.fixtures import FakeClock, Sleeps
from tests.api.conftest import ADMIN_PASSWORD, KEY, OPERATOR_PASSWORD, RecordingDevices, _seed
from tests.directory.samples import CAM_GATE
from tests.store.conftest import sqlite_migrated, sqlite_url

__all__ = ["sqlite_migrated"]

UNKNOWN = "34020000001310009999"
GROUP = "34020000002150000001"


class AuditList:
    """An audit sink keeping what it is given."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


@dataclass
class RecordingApi:
    client: TestClient
    portal: BlockingPortal
    service: RecordingService
    audit: AuditList
    auth: AuthService
    database: Database

    def headers(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> dict[str, str]:
        resp = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest.fixture
def rec_api(sqlite_migrated: Path, tmp_path: Path) -> Iterator[RecordingApi]:
    path = tmp_path / "sightline.db"
    shutil.copyfile(sqlite_migrated, path)
    with start_blocking_portal() as portal:
        database = portal.call(Database.connect, sqlite_url(path))
        auth = AuthService(database, KEY, token_lifetime_s=3600, clock=FakeClock(), sleep=Sleeps())
        devices = RecordingDevices(online=set())
        directory = DirectoryService(database, online=devices.is_online)
        devices.directory = directory
        portal.call(_seed, database, auth, directory)
        hub = StreamHub()

        async def offline() -> Upstream:
            raise StreamEndedError("the device is offline")

        async def join(channel_id: str) -> Viewer:
            return await hub.join(StreamKey(channel_id), offline)

        store = RecordingStore(database)
        service = RecordingService(
            tmp_path / "recordings",
            index=store,
            plans=store,
            join=join,
            leave=hub.leave,
            options=RecordingOptions(retry_s=60, disk_ceiling_percent=None),
        )
        portal.call(service.start)
        audit = AuditList()
        ctx = ApiContext(
            registry=build_registry(SipStats()),
            auth=auth,
            directory=directory,
            devices=devices,
            audit=audit,
            recording=service,
        )
        client = TestClient(create_app(ctx))
        client.portal = portal
        try:
            yield RecordingApi(client, portal, service, audit, auth, database)
        finally:
            client.portal = None
            portal.call(service.stop)
            portal.call(hub.close)
            portal.call(database.close)


def _url(channel_id: str = CAM_GATE) -> str:
    return f"/api/v1/channels/{channel_id}/recording-plan"


def test_a_channel_without_a_plan_is_off(rec_api: RecordingApi) -> None:
    resp = rec_api.client.get(_url(), headers=rec_api.headers())
    assert resp.status_code == 200, resp.text
    assert resp.json()["mode"] == "off" and resp.json()["recording_now"] is False
    assert resp.json()["schedule"]["mon"] == []


def test_put_stores_applies_and_audits_the_plan(rec_api: RecordingApi) -> None:
    body = {
        "mode": "scheduled",
        "schedule": {"mon": ["08:00-12:00", "13:00-18:00"], "sun": ["00:00-24:00"]},
        "retention_days": 7,
    }
    headers = rec_api.headers()
    resp = rec_api.client.put(_url(), json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["schedule"]["mon"] == ["08:00-12:00", "13:00-18:00"]
    again = rec_api.client.get(_url(), headers=headers).json()
    assert again["mode"] == "scheduled" and again["retention_days"] == 7
    (event,) = [e for e in rec_api.audit.events if e.action is AuditAction.RECORDING_PLAN]
    assert event.username == "admin" and event.channel_id == CAM_GATE
    assert event.detail["mode"] == "scheduled"


def test_a_continuous_plan_shows_in_the_status(rec_api: RecordingApi) -> None:
    headers = rec_api.headers()
    resp = rec_api.client.put(_url(), json={"mode": "continuous"}, headers=headers)
    assert resp.status_code == 200, resp.text
    status = rec_api.client.get("/api/v1/recordings/status", headers=headers)
    assert status.status_code == 200, status.text
    (channel,) = status.json()["channels"]
    assert channel["channel_id"] == CAM_GATE and channel["recording"] is True
    assert status.json()["disk_full"] is False
    off = rec_api.client.put(_url(), json={"mode": "off"}, headers=headers)
    assert off.status_code == 200
    assert rec_api.client.get("/api/v1/recordings/status", headers=headers).json()["channels"] == []


async def _outsider(auth: AuthService, database: Database) -> None:
    """A viewer of a department that owns no channel and holds no grant."""
    async with database.session() as session:
        other = await AccessRepository(session).create_department(
            "transport", ROOT_DEPARTMENT_ID, None, auth.access.now()
        )
    await auth.access.refresh()
    await auth.create_user(
        "outsider", OPERATOR_PASSWORD, department_id=other.id, roles=(Role.OPERATOR,)
    )


def test_the_status_lists_only_channels_the_caller_may_see(rec_api: RecordingApi) -> None:
    rec_api.portal.call(_outsider, rec_api.auth, rec_api.database)
    resp = rec_api.client.put(_url(), json={"mode": "continuous"}, headers=rec_api.headers())
    assert resp.status_code == 200, resp.text
    outsider = rec_api.headers("outsider", OPERATOR_PASSWORD)
    assert rec_api.client.get(_url(), headers=outsider).status_code == 403
    status = rec_api.client.get("/api/v1/recordings/status", headers=outsider)
    assert status.status_code == 200, status.text
    assert status.json()["channels"] == []  # CAM_GATE is recording, but not theirs to know
    admin = rec_api.client.get("/api/v1/recordings/status", headers=rec_api.headers())
    assert [c["channel_id"] for c in admin.json()["channels"]] == [CAM_GATE]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"mode": "sometimes"}, 422),
        ({"mode": "scheduled", "schedule": {"mon": ["18:00-08:00"]}}, 422),
        ({"mode": "scheduled", "schedule": {"someday": ["08:00-09:00"]}}, 422),
        ({"mode": "alarm", "pre_s": -1}, 422),
        ({"mode": "alarm", "pre_s": 5, "surprise": 1}, 422),
        ({"mode": "continuous", "retention_days": 0}, 422),
    ],
)
def test_bad_plans_get_422(rec_api: RecordingApi, body: dict[str, object], status: int) -> None:
    resp = rec_api.client.put(_url(), json=body, headers=rec_api.headers())
    assert resp.status_code == status, resp.text
    assert resp.json()["detail"]


def test_unknown_channels_bad_ids_and_missing_login(rec_api: RecordingApi) -> None:
    headers = rec_api.headers()
    assert rec_api.client.get(_url(UNKNOWN), headers=headers).status_code == 404
    assert (
        rec_api.client.put(_url(UNKNOWN), json={"mode": "off"}, headers=headers).status_code == 404
    )
    assert rec_api.client.get(_url("123"), headers=headers).status_code == 422
    assert rec_api.client.get(_url()).status_code == 401
    assert rec_api.client.get("/api/v1/recordings/status").status_code == 401
    resp = rec_api.client.put(_url(), content=b"mode=off", headers=headers)
    assert resp.status_code in (415, 422)


def test_group_retention_is_set_and_cleared(rec_api: RecordingApi) -> None:
    headers = rec_api.headers()
    url = f"/api/v1/groups/{GROUP}/recording-retention"
    assert rec_api.client.get(url, headers=headers).json() == {
        "group_id": GROUP,
        "retention_days": None,
        "default_days": 30,
    }
    resp = rec_api.client.put(url, json={"retention_days": 90}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert rec_api.client.get(url, headers=headers).json()["retention_days"] == 90
    assert (
        rec_api.client.put(url, json={"retention_days": None}, headers=headers).status_code == 200
    )
    assert rec_api.client.get(url, headers=headers).json()["retention_days"] is None
    assert rec_api.client.put(url, json={"retention_days": -3}, headers=headers).status_code == 422


def test_changing_a_plan_needs_recording_manage(rec_api: RecordingApi) -> None:
    operator = rec_api.headers("operator", OPERATOR_PASSWORD)
    resp = rec_api.client.put(_url(), json={"mode": "continuous"}, headers=operator)
    assert resp.status_code == 403, resp.text
    assert rec_api.client.get(_url(), headers=rec_api.headers()).json()["mode"] == "off"
