"""Live views leave audit records: the token request, the stream's start and end, refusals.

Runs on the live-view fixture of ``test_live_api.py`` (real app, SIP platform and test cameras
streaming on loopback) with a real ``AuditLog`` attached to the app.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sightline.access.audit import AuditLog
from sightline.access.audit_events import AuditAction
from sightline.config import AuditSettings
from sightline.store import Database
from sightline.store.repositories.audit import AuditFilter, AuditRecord, AuditRepository
from tests.api.conftest import KEY, sqlite_migrated
from tests.api.test_live_api import ENDING, GOOD, LiveApi, live_api, ws_refusal, ws_session
from tests.store.conftest import sqlite_url

__all__ = ["live_api", "sqlite_migrated"]


class AuditedLive:
    """The live API with an audit log on its database."""

    def __init__(self, api: LiveApi, database: Database, log: AuditLog) -> None:
        self.api = api
        self.database = database
        self.log = log

    def records(self, action: AuditAction) -> list[AuditRecord]:
        """Stored records of ``action``, oldest first, after a flush."""

        async def read() -> list[AuditRecord]:
            await self.log.flush()
            async with self.database.session() as session:
                return await AuditRepository(session).search(
                    AuditFilter(action=str(action)), limit=100, newest_first=False
                )

        return self.api.portal.call(read)

    def wait_for(self, action: AuditAction, count: int = 1) -> list[AuditRecord]:
        """Records of ``action`` once there are ``count`` (a view ends after the client left)."""
        deadline = time.monotonic() + 10
        while len(found := self.records(action)) < count:
            assert time.monotonic() < deadline, f"no {count} {action} records: {found}"
            time.sleep(0.05)
        return found


@pytest.fixture
def audited_live(live_api: LiveApi, tmp_path: Path) -> Iterator[AuditedLive]:
    """``live_api`` plus an audit log writing to the same database."""
    database = live_api.portal.call(Database.connect, sqlite_url(tmp_path / "api.db"))
    settings = AuditSettings(flush_interval_s=0.01)
    log = AuditLog(database, KEY, settings, spill_path=tmp_path / "spill.jsonl")
    live_api.portal.call(log.start)
    app: Any = live_api.client.app
    app.state.audit = log
    try:
        yield AuditedLive(live_api, database, log)
    finally:
        live_api.portal.call(log.close)
        live_api.portal.call(database.close)


def test_websocket_view_records_token_start_and_stop(audited_live: AuditedLive) -> None:
    api = audited_live.api
    ws_session(api, api.play_url(GOOD), 5)
    stops = audited_live.wait_for(AuditAction.LIVE_STOP)
    [issued] = audited_live.records(AuditAction.LIVE_TOKEN)
    [start] = audited_live.records(AuditAction.LIVE_START)  # one view, one live.start
    token_id = issued.detail["token"]
    assert start.detail == {"token": token_id, "transport": "ws"}
    assert {s.username for s in [issued, start, *stops]} == {"operator"}
    assert {s.channel_id for s in [issued, start, *stops]} == {GOOD}
    assert stops[0].detail["transport"] == "ws"
    assert isinstance(stops[0].detail["seconds"], float)
    assert issued.seq < start.seq < stops[0].seq


def test_refused_websocket_is_a_denial_record(audited_live: AuditedLive) -> None:
    api = audited_live.api
    url = api.play_url(GOOD)
    _, code = ws_refusal(api, url.split("?token=")[0])
    assert code == 4401
    [denied] = audited_live.wait_for(AuditAction.PERMISSION_DENIED)
    assert denied.outcome == "denied"
    assert denied.channel_id == GOOD
    assert denied.username is None  # no valid token: nobody is known
    assert "token" in str(denied.detail["reason"])


def test_http_view_records_start_and_stop(audited_live: AuditedLive) -> None:
    api = audited_live.api
    url = api.post(ENDING).json()["urls"]["http"]
    assert api.client.get(url).status_code == 200  # the camera ends the stream
    [stop] = audited_live.wait_for(AuditAction.LIVE_STOP)
    assert stop.detail["transport"] == "http"
    starts = audited_live.records(AuditAction.LIVE_START)
    assert [s.detail.get("transport") for s in starts] == ["http"]
    assert len(audited_live.records(AuditAction.LIVE_TOKEN)) == 1
    assert api.client.get(url.split("?")[0]).status_code == 401
    assert len(audited_live.wait_for(AuditAction.PERMISSION_DENIED)) == 1
