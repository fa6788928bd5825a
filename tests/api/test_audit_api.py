"""The auditors' API and the audit hooks of the other routes, on the real app and audit log."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from fastapi.testclient import TestClient

from sightline.access.audit import AuditLog
from sightline.access.service import Action, AuthService, Forbidden, Principal, Resource
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.config import AuditSettings
from sightline.directory import DirectoryService
from sightline.gb28181.errors import DeviceOfflineError
from sightline.sip.stats import SipStats
from sightline.store import Database, UserRepository
from sightline.store.models.access import Role
from sightline.store.repositories.access import AccessRepository
from tests.access.fixtures import FakeClock, Sleeps
from tests.api.conftest import (
    ADMIN_PASSWORD,
    IPC,
    KEY,
    OPERATOR_PASSWORD,
    Api,
    RecordingDevices,
    _seed,
    sqlite_migrated,
)
from tests.directory.samples import CAM_GATE, CAM_PARK, NVR
from tests.store.conftest import sqlite_url

__all__ = ["sqlite_migrated"]


class StrictAuth(AuthService):
    """The real service with one rule more: only administrators move cameras."""

    async def authorize(self, principal: Principal, action: Action, resource: Resource) -> None:
        """Forbid PTZ to non-administrators, else the normal policy."""
        if action is Action.PTZ and not principal.is_admin:
            self.record_denial(principal, action, resource, "PTZ needs an administrator here")
            raise Forbidden("PTZ needs an administrator here")
        await super().authorize(principal, action, resource)


@dataclass
class Audited:
    """The app with a running audit log."""

    api: Api
    log: AuditLog

    def records(self, **params: Any) -> list[dict[str, Any]]:
        """``GET /api/v1/audit`` as the admin, after every queued record is written."""
        self.api.run(self.log.flush)
        resp = self.api.client.get("/api/v1/audit", params=params, headers=self.admin)
        assert resp.status_code == 200, resp.text
        return list(resp.json()["items"])

    @property
    def admin(self) -> dict[str, str]:
        """Headers of an admin login (itself recorded)."""
        return self.api.headers("admin", ADMIN_PASSWORD)


@pytest.fixture
def audited(sqlite_migrated: Path, tmp_path: Path) -> Iterator[Audited]:
    """The API of ``tests/api/conftest.py`` plus a real ``AuditLog`` on the same database."""
    path = tmp_path / "sightline.db"
    shutil.copyfile(sqlite_migrated, path)
    clock = FakeClock()
    settings = AuditSettings(flush_interval_s=0.01, anchor_every=5)
    with start_blocking_portal() as portal:
        database = portal.call(Database.connect, sqlite_url(path))
        auth = StrictAuth(database, KEY, token_lifetime_s=3600, clock=clock, sleep=Sleeps())
        devices = RecordingDevices(online={IPC})
        directory = DirectoryService(database, online=devices.is_online)
        devices.directory = directory
        portal.call(_seed, database, auth, directory)
        log = AuditLog(database, KEY, settings, spill_path=tmp_path / "spill.jsonl")
        portal.call(log.start)
        ctx = ApiContext(
            registry=build_registry(SipStats()),
            auth=auth,
            directory=directory,
            devices=devices,
            audit=log,
        )
        client = TestClient(create_app(ctx))
        client.portal = portal
        try:
            yield Audited(Api(client, portal, database, auth, directory, devices, clock), log)
        finally:
            client.portal = None
            portal.call(log.close)
            portal.call(database.close)


def _login(audited: Audited, username: str, password: str) -> int:
    resp = audited.api.client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    return resp.status_code


def test_logins_and_logout_are_recorded_without_passwords(audited: Audited) -> None:
    api = audited.api
    headers = api.headers()
    assert _login(audited, "operator", "wrong-password-1") == 401
    assert _login(audited, "ghost", "wrong-password-2") == 401
    assert api.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    records = audited.records(order="asc")
    seen = [(r["action"], r["outcome"], r["user"]) for r in records]
    assert seen[:4] == [
        ("login", "ok", "operator"),
        ("login", "failed", "operator"),
        ("login", "failed", "ghost"),
        ("logout", "ok", "operator"),
    ]
    assert records[0]["user_id"] is not None
    assert records[1]["detail"] == {"reason": "bad credentials"}
    assert {r["address"] for r in records} == {"testclient"}
    assert "wrong-password" not in str(records)
    assert OPERATOR_PASSWORD not in str(records)


def test_ptz_and_catalog_refresh_are_recorded_with_their_outcome(audited: Audited) -> None:
    api = audited.api
    headers = audited.admin
    body = {"action": "preset_call", "preset": 3}
    url = f"/api/v1/channels/{CAM_GATE}/ptz"
    assert api.client.post(url, json=body, headers=headers).status_code == 204
    api.devices.error = DeviceOfflineError("gone")
    assert api.client.post(url, json=body, headers=headers).status_code == 503
    refresh = f"/api/v1/devices/{NVR}/catalog/refresh"
    assert api.client.post(refresh, headers=headers).status_code == 503
    api.devices.error = None
    assert api.client.post(refresh, headers=headers).status_code == 200
    ptz = audited.records(action="ptz", order="asc")
    assert [(r["outcome"], r["channel_id"], r["user"]) for r in ptz] == [
        ("ok", CAM_GATE, "admin"),
        ("failed", CAM_GATE, "admin"),
    ]
    assert ptz[0]["detail"] == {"command": "preset_call", "speed": 128, "preset": 3}
    refreshes = audited.records(action="catalog.refresh", order="asc")
    assert [(r["outcome"], r["detail"]["device_id"]) for r in refreshes] == [
        ("failed", NVR),
        ("ok", NVR),
    ]


@pytest.mark.parametrize("service_records", [False, True])
def test_each_permission_denial_is_one_record(audited: Audited, service_records: bool) -> None:
    # Recorded by the AuthService when it has the audit sink (as in a node), else by the API.
    api = audited.api
    api.auth.audit = audited.log if service_records else None
    headers = api.headers()
    url = f"/api/v1/channels/{CAM_PARK}/ptz"
    resp = api.client.post(url, json={"action": "stop"}, headers=headers)
    assert resp.status_code == 403
    denied = audited.records(action="denied")
    assert len(denied) == 1
    assert denied[0]["outcome"] == "denied"
    assert denied[0]["user"] == "operator"
    assert denied[0]["channel_id"] == CAM_PARK
    assert {k: denied[0]["detail"][k] for k in ("action", "resource", "id")} == {
        "action": "ptz",
        "resource": "channel",
        "id": CAM_PARK,
    }
    assert api.devices.calls == []


def test_records_name_the_users_department(audited: Audited) -> None:
    api = audited.api

    async def move_operator() -> None:
        async with api.database.session() as session:
            repo = AccessRepository(session)
            department = await repo.create_department("交警支队", None, None, datetime.now(UTC))
            operator = await UserRepository(session).get_by_username("operator")
            assert operator is not None
            await repo.set_membership(operator.id, department.id, [Role.VIEWER])
        await api.auth.access.refresh()

    api.run(move_operator)
    headers = api.headers()
    api.client.post(f"/api/v1/channels/{CAM_GATE}/ptz", json={"action": "stop"}, headers=headers)
    api.client.post("/api/v1/auth/logout", headers=headers)
    records = audited.records(user="operator", order="asc")
    assert [(r["action"], r["department"]) for r in records] == [
        ("login", "交警支队"),
        ("denied", "交警支队"),
        ("logout", "交警支队"),
    ]
    assert len(audited.records(department="交警支队")) == 3
    summary = api.client.get(
        "/api/v1/audit/summary", params={"by": "department"}, headers=audited.admin
    ).json()
    assert {"key": "交警支队", "total": 3, "actions": {"denied": 1, "login": 1, "logout": 1}} in (
        summary["items"]
    )


def test_filters_and_keyset_pages(audited: Audited) -> None:
    api = audited.api
    for _ in range(3):
        api.headers()  # operator logins
    for _ in range(2):
        _login(audited, "operator", "bad-password-0")
    everything = audited.records(limit=1000, order="asc")
    seqs = [r["seq"] for r in everything]
    assert seqs == sorted(seqs)
    assert len(audited.records(user="operator", outcome="failed")) == 2
    assert len(audited.records(user="operator", action="login", outcome="ok")) == 3
    # pages of 2, newest first, until next_cursor is null
    seen: list[int] = []
    cursor: int | None = None
    headers = audited.admin
    while True:
        params: dict[str, Any] = {"user": "operator", "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = api.client.get("/api/v1/audit", params=params, headers=headers).json()
        seen += [r["seq"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)
    now = datetime.now(UTC)
    assert audited.records(until=(now - timedelta(hours=1)).isoformat()) == []
    recent = audited.records(since=(now - timedelta(hours=1)).isoformat(), limit=1000)
    assert len(recent) >= len(everything)


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-11-25T08:00:00"},  # no zone
        {"since": "yesterday"},
        {"outcome": "maybe"},
        {"limit": 0},
        {"limit": 1001},
        {"cursor": -1},
        {"cursor": 2**63},
        {"order": "up"},
        {"user": "x" * 65},
        {"channel": "a\x00b"},
    ],
)
def test_bad_filters_are_422(audited: Audited, params: dict[str, Any]) -> None:
    resp = audited.api.client.get("/api/v1/audit", params=params, headers=audited.admin)
    assert resp.status_code == 422
    assert isinstance(resp.json()["detail"], str)


def test_csv_export_streams_every_match_and_defuses_formulas(audited: Audited) -> None:
    _login(audited, "=HYPERLINK(1)", "bad-password-0")
    audited.api.headers()
    audited.api.run(audited.log.flush)
    resp = audited.api.client.get("/api/v1/audit.csv", headers=audited.admin)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows[0][:4] == ["seq", "at", "action", "outcome"]
    users = [row[4] for row in rows[1:]]
    assert "'=HYPERLINK(1)" in users
    assert "operator" in users
    only_failed = audited.api.client.get(
        "/api/v1/audit.csv", params={"outcome": "failed"}, headers=audited.admin
    )
    assert len(list(csv.reader(io.StringIO(only_failed.text)))) == 2
    exports = audited.records(action="audit.export", order="asc")
    assert [(e["user"], e["detail"]) for e in exports] == [
        ("admin", {}),
        ("admin", {"outcome": "failed"}),
    ]


def test_summary_by_channel_and_user(audited: Audited) -> None:
    api = audited.api
    headers = audited.admin
    for channel, times in ((CAM_GATE, 3), (CAM_PARK, 1)):
        for _ in range(times):
            url = f"/api/v1/channels/{channel}/ptz"
            api.client.post(url, json={"action": "stop"}, headers=headers)
    api.run(audited.log.flush)
    resp = api.client.get("/api/v1/audit/summary", params={"by": "channel"}, headers=headers)
    assert resp.status_code == 200
    by_channel = {i["key"]: i for i in resp.json()["items"]}
    assert by_channel[CAM_GATE]["actions"] == {"ptz": 3}
    assert by_channel[CAM_PARK]["total"] == 1
    users = api.client.get(
        "/api/v1/audit/summary", params={"by": "user", "action": "login"}, headers=headers
    ).json()
    assert users["by"] == "user"
    assert users["items"][0]["key"] == "admin"
    bad = api.client.get("/api/v1/audit/summary", params={"by": "camera"}, headers=headers)
    assert bad.status_code == 422


def test_verify_route_reports_ok_then_the_tampered_record(audited: Audited) -> None:
    api = audited.api
    headers = audited.admin
    for _ in range(6):
        api.headers()
    api.run(audited.log.flush)
    report = api.client.get("/api/v1/audit/verify", headers=headers).json()
    assert report["ok"] is True
    assert report["complete"] is True
    assert report["records"] >= 7
    assert report["anchors"] >= 1

    async def tamper() -> None:
        from sqlalchemy import text

        async with api.database.session() as session:
            await session.execute(text("UPDATE audit_records SET username = 'x' WHERE seq = 3"))

    api.run(tamper)
    report = api.client.get("/api/v1/audit/verify", headers=headers).json()
    assert report["ok"] is False
    assert report["problem"]["seq"] == 3
    assert report["problem"]["kind"] == "hash"
    bounded = api.client.get("/api/v1/audit/verify", params={"max_records": 2}, headers=headers)
    assert bounded.json()["complete"] is False


def test_audit_routes_need_a_login(audited: Audited) -> None:
    for path in ("/api/v1/audit", "/api/v1/audit.csv", "/api/v1/audit/verify"):
        assert audited.api.client.get(path).status_code == 401
    resp = audited.api.client.get("/api/v1/audit/summary", params={"by": "user"})
    assert resp.status_code == 401


def test_an_operator_may_not_read_the_audit_trail(audited: Audited) -> None:
    headers = audited.api.headers()  # operator: neither auditor nor system administrator
    for path in ("/api/v1/audit", "/api/v1/audit.csv", "/api/v1/audit/verify"):
        assert audited.api.client.get(path, headers=headers).status_code == 403
    denied = audited.records(action="denied")
    assert len(denied) == 3
    assert {(d["detail"]["resource"], d["detail"]["id"]) for d in denied} == {("system", "audit")}


def test_without_an_audit_log_the_routes_say_so(audited: Audited) -> None:
    api = audited.api
    ctx = ApiContext(
        registry=build_registry(SipStats()),
        auth=api.auth,
        directory=api.directory,
        devices=api.devices,
    )
    client = TestClient(create_app(ctx))
    client.portal = api.portal
    try:
        resp = client.get("/api/v1/audit", headers=api.headers("admin", ADMIN_PASSWORD))
    finally:
        client.portal = None
    assert resp.status_code == 503
