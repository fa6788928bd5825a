"""API fixtures: the real app, AuthService and DirectoryService on a migrated SQLite database.

Requests and setup run in one event loop: the test client is given the blocking portal the
database was connected in (async database connections belong to the loop that opened them).
Only the device manager is replaced, by :class:`RecordingDevices`, which records what the API
asks of it and imports catalogs through the real directory like the manager does.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi.testclient import TestClient

from sightline.access.service import AuthService
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.directory import DirectoryService
from sightline.gb28181.manscdp import CatalogItem
from sightline.gb28181.ptz import PtzCommand
from sightline.sip.stats import SipStats
from sightline.store import Database, Device, DeviceRepository
from tests.access.fixtures import FakeClock, Sleeps
from tests.directory.samples import NVR, NVR_CATALOG_2016, catalog_items
from tests.store.conftest import make_device, sqlite_migrated, sqlite_url

__all__ = ["Api", "RecordingDevices", "api", "sqlite_migrated"]

IPC = "34020000001320000100"
ADMIN_PASSWORD = "admin-secret"
OPERATOR_PASSWORD = "op-secret"
KEY = b"api-test-key-000" * 2

T = TypeVar("T")


@dataclass
class RecordingDevices:
    """A ``DeviceControl`` that records calls; ``error`` makes the next calls fail with it."""

    directory: DirectoryService | None = None
    online: set[str] = field(default_factory=set)
    catalogs: dict[str, Sequence[CatalogItem]] = field(default_factory=dict)
    calls: list[tuple[str, ...] | tuple[str, str, str, PtzCommand]] = field(default_factory=list)
    error: Exception | None = None

    def is_online(self, device_id: str) -> bool:
        return device_id in self.online

    async def ptz(self, device_id: str, channel_id: str, command: PtzCommand) -> None:
        if self.error is not None:
            raise self.error
        self.calls.append(("ptz", device_id, channel_id, command))

    async def refresh_catalog(self, device_id: str) -> int:
        if self.error is not None:
            raise self.error
        self.calls.append(("refresh", device_id))
        assert self.directory is not None
        items = self.catalogs.get(device_id, ())
        return await self.directory.import_catalog(device_id, items, complete=True)


@dataclass
class Api:
    """The app under test and its parts."""

    client: TestClient
    portal: BlockingPortal
    database: Database
    auth: AuthService
    directory: DirectoryService
    devices: RecordingDevices
    clock: FakeClock

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run a coroutine function in the app's event loop."""
        return self.portal.call(functools.partial(fn, *args, **kwargs))

    def token(self, username: str = "operator", password: str = OPERATOR_PASSWORD) -> str:
        """Log in through the API and return the bearer token."""
        resp = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])

    def headers(
        self, username: str = "operator", password: str = OPERATOR_PASSWORD
    ) -> dict[str, str]:
        """``Authorization`` header of a fresh login."""
        return {"Authorization": f"Bearer {self.token(username, password)}"}


async def _seed(database: Database, auth: AuthService, directory: DirectoryService) -> None:
    await auth.ensure_admin(ADMIN_PASSWORD)
    await auth.create_user("operator", OPERATOR_PASSWORD)
    async with database.session() as session:
        devices = DeviceRepository(session)
        await devices.save(
            make_device(NVR, name="一号楼 NVR", remote_host="192.0.2.20", remote_port=5060)
        )
        await devices.save(
            make_device(IPC, name="IPC", remote_host="2001:db8::5", remote_port=5070)
        )
    await directory.import_catalog(NVR, catalog_items(NVR_CATALOG_2016, "gb2312"), complete=True)
    # written straight to the directory, with no catalog event for the access model to follow
    await auth.access.refresh(places=True)


@pytest.fixture
def api(sqlite_migrated: Path, tmp_path: Path) -> Iterator[Api]:
    """The whole app with an admin, an operator, an NVR (3 channels) and an IPC stored."""
    path = tmp_path / "sightline.db"
    shutil.copyfile(sqlite_migrated, path)
    clock = FakeClock()
    with start_blocking_portal() as portal:
        database = portal.call(Database.connect, sqlite_url(path))
        auth = AuthService(database, KEY, token_lifetime_s=3600, clock=clock, sleep=Sleeps())
        devices = RecordingDevices(online={IPC})
        directory = DirectoryService(database, online=devices.is_online)
        devices.directory = directory
        portal.call(_seed, database, auth, directory)
        ctx = ApiContext(
            registry=build_registry(SipStats()), auth=auth, directory=directory, devices=devices
        )
        client = TestClient(create_app(ctx))
        client.portal = portal
        try:
            yield Api(client, portal, database, auth, directory, devices, clock)
        finally:
            client.portal = None
            portal.call(database.close)


def device_record(api: Api, device_id: str) -> Device | None:
    """The stored device (for checks)."""

    async def get() -> Device | None:
        async with api.database.session() as session:
            return await DeviceRepository(session).get(device_id)

    return api.run(get)
