"""The whole API app with the access services, on a migrated SQLite database, for API tests.

Seeds two departments under the root, police (owning the NVR's gate camera) and transport,
and users in each: ``police_admin`` and ``police_admin2`` (department admins of police),
``transport_viewer`` and ``transport_admin``. Passwords are ``<username>-pw``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from fastapi.testclient import TestClient

from sightline.access.actions import Principal
from sightline.access.audit_events import AuditEvent
from sightline.access.service import AuthService
from sightline.access.services import AccessServices, build_access_services
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.directory import DirectoryService
from sightline.sip.stats import SipStats
from sightline.store import Database
from sightline.store.models.access import Classification, Role, Sharing
from tests.access.fixtures import FakeClock, Sleeps
from tests.api.conftest import IPC, KEY, Api, RecordingDevices, _seed
from tests.directory.samples import CAM_GATE
from tests.store.conftest import sqlite_url

__all__ = ["AccessApi", "access_api", "window"]

POLICE_CAM = CAM_GATE


@dataclass
class AuditList:
    """The app's audit sink: keeps what it is given."""

    events: list[AuditEvent] = field(default_factory=list)

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


@dataclass
class AccessApi(Api):
    """The app, with the access services, its audit events and the seeded department IDs."""

    access: AccessServices | None = None
    police: int = 0
    transport: int = 0
    audit: AuditList = field(default_factory=AuditList)

    def login(self, username: str) -> dict[str, str]:
        """Authorization header of a fresh login of a seeded user."""
        password = "admin-secret" if username == "admin" else f"{username}-pw"
        return self.headers(username, password)

    def services(self) -> AccessServices:
        """The access services (always set by the fixture)."""
        assert self.access is not None
        return self.access

    def now(self) -> datetime:
        """The fake clock as a datetime."""
        return datetime.fromtimestamp(self.clock.now, UTC)

    def user_id(self, username: str) -> int:
        """A seeded user's ID."""
        snap = self.auth.access.snapshot
        return next(m.user_id for m in snap.members.values() if m.username == username)


def window(api: AccessApi, start_h: float = -0.1, end_h: float = 2.0) -> dict[str, Any]:
    """``not_before``/``not_after`` JSON fields around the fake clock."""
    now = api.now()
    return {
        "not_before": (now + timedelta(hours=start_h)).isoformat(),
        "not_after": (now + timedelta(hours=end_h)).isoformat(),
    }


async def _seed_access(api: AccessApi) -> None:
    admin = Principal(api.user_id("admin"), "admin", True)
    access = api.services()
    police = await access.admin.create_department(admin, "police", 1, "34")
    transport = await access.admin.create_department(admin, "transport", 1, None)
    api.police, api.transport = police.id, transport.id
    users = [
        ("police_admin", police.id, Role.DEPARTMENT_ADMIN),
        ("police_admin2", police.id, Role.DEPARTMENT_ADMIN),
        ("police_viewer", police.id, Role.VIEWER),
        ("transport_viewer", transport.id, Role.VIEWER),
        ("transport_admin", transport.id, Role.DEPARTMENT_ADMIN),
    ]
    for name, department, role in users:
        await access.admin.create_user(
            admin,
            username=name,
            password=f"{name}-pw",
            display_name=name,
            department_id=department,
            roles=[role],
        )
    await access.admin.set_ownership(
        admin,
        POLICE_CAM,
        department_id=police.id,
        classification=Classification.PUBLIC_SECURITY,
        sharing=Sharing.NONE,
    )


@pytest.fixture
def access_api(sqlite_migrated: Path, tmp_path: Path) -> Iterator[AccessApi]:
    """The app with access services, police and transport departments and their users."""
    path = tmp_path / "sightline.db"
    shutil.copyfile(sqlite_migrated, path)
    clock = FakeClock()
    with start_blocking_portal() as portal:
        database = portal.call(Database.connect, sqlite_url(path))
        auth = AuthService(database, KEY, token_lifetime_s=36000, clock=clock, sleep=Sleeps())
        devices = RecordingDevices(online={IPC})
        directory = DirectoryService(database, online=devices.is_online)
        devices.directory = directory
        portal.call(_seed, database, auth, directory)
        access = build_access_services(database, auth)
        audit = AuditList()
        ctx = ApiContext(
            registry=build_registry(SipStats()),
            auth=auth,
            directory=directory,
            devices=devices,
            access=access,
            audit=audit,
        )
        client = TestClient(create_app(ctx))
        client.portal = portal
        api = AccessApi(
            client, portal, database, auth, directory, devices, clock, access, audit=audit
        )
        portal.call(auth.access.refresh)
        portal.call(_seed_access, api)
        try:
            yield api
        finally:
            client.portal = None
            portal.call(database.close)
