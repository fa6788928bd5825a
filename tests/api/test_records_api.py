"""The recording routes' refusals: who may search, play and export, and what bad input gets.

The app is the real one with the real AuthService on a migrated database; the node's record
source registry is empty here (neither device nor platform recording enabled), which is what a
node without them has: authorisation comes first, then 409 for the missing source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sightline.access.stream_tokens import StreamTokens
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.media.downloads import Downloads
from sightline.media.hub import StreamHub
from sightline.media.playback import RecordSource, RecordSourceName
from sightline.media.playback_sessions import PlaybackSessions
from sightline.sip.stats import SipStats
from sightline.store.models.access import Role
from tests.api.conftest import ADMIN_PASSWORD, KEY, Api

CHANNEL = "34020000001310000001"
RANGE = {"start": "2026-11-24T08:00:00Z", "end": "2026-11-24T09:00:00Z"}


@dataclass
class RecordsApi:
    api: Api
    client: TestClient

    def headers(self, user: str) -> dict[str, str]:
        password = ADMIN_PASSWORD if user == "admin" else f"{user}-secret"
        if user == "operator":
            return self.api.headers()
        return self.api.headers(user, password)


@pytest.fixture
def records_api(api: Api, tmp_path: Path) -> Iterator[RecordsApi]:
    api.run(api.auth.create_user, "viewer", "viewer-secret", roles=(Role.VIEWER,))
    sources: dict[RecordSourceName, RecordSource] = {}
    ctx = ApiContext(
        registry=build_registry(SipStats()),
        auth=api.auth,
        directory=api.directory,
        devices=api.devices,
        stream_tokens=StreamTokens(KEY, 60.0),
        record_sources=sources,
        playback=PlaybackSessions(StreamHub(), sources),
        downloads=Downloads(tmp_path / "downloads", retention_s=60),
    )
    client = TestClient(create_app(ctx))
    client.portal = api.portal
    yield RecordsApi(api, client)
    client.portal = None


def test_search_needs_login_then_the_playback_right_then_a_source(records_api: RecordsApi) -> None:
    client, path = records_api.client, f"/api/v1/channels/{CHANNEL}/records"
    assert client.get(path, params=RANGE).status_code == 401
    viewer = client.get(path, params=RANGE, headers=records_api.headers("viewer"))
    assert viewer.status_code == 403
    operator = client.get(path, params=RANGE, headers=records_api.headers("operator"))
    assert operator.status_code == 409
    assert "device recording is not enabled" in operator.json()["detail"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": "2026-11-24T08:00:00", "end": "2026-11-24T09:00:00Z"}, "timezone"),
        ({"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T08:00:00Z"}, "after start"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-11-24T08:00:00Z"}, "31 days"),
        ({"start": "not a time", "end": "2026-11-24T08:00:00Z"}, "start"),
        ({**RANGE, "source": "tape"}, "source"),
        ({"end": "2026-11-24T08:00:00Z"}, "start"),
    ],
)
def test_bad_ranges_get_422_saying_what_is_wrong(
    records_api: RecordsApi, params: dict[str, str], fragment: str
) -> None:
    answer = records_api.client.get(
        f"/api/v1/channels/{CHANNEL}/records", params=params, headers=records_api.headers("admin")
    )
    assert answer.status_code == 422, answer.text
    assert fragment in answer.json()["detail"].lower()


def test_export_needs_the_export_right_and_a_purpose(records_api: RecordsApi) -> None:
    client, path = records_api.client, f"/api/v1/channels/{CHANNEL}/downloads"
    body = {**RANGE, "purpose": "incident 7"}
    operator = client.post(path, json=body, headers=records_api.headers("operator"))
    assert operator.status_code == 403  # operators may play back, not export
    admin = records_api.headers("admin")
    for bad in ({**RANGE}, {**RANGE, "purpose": "   "}, {**RANGE, "purpose": "x" * 501}):
        assert client.post(path, json=bad, headers=admin).status_code == 422
    assert client.post(path, json=body, headers=admin).status_code == 409
    as_text = client.post(path, content=b"{}", headers={**admin, "Content-Type": "text/plain"})
    assert as_text.status_code in (415, 422)


def test_unknown_sessions_and_downloads_are_404(records_api: RecordsApi) -> None:
    client, admin = records_api.client, records_api.headers("admin")
    assert client.get("/api/v1/downloads/abcdefgh12", headers=admin).status_code == 404
    assert client.get("/api/v1/downloads/abcdefgh12/file", headers=admin).status_code == 404
    control = client.post(
        "/api/v1/playback/abcdefgh12/control", json={"action": "pause"}, headers=admin
    )
    assert control.status_code == 404
    assert client.delete("/api/v1/playback/abcdefgh12", headers=admin).status_code == 404
    assert client.get("/api/v1/downloads/../x", headers=admin).status_code == 404
    play = client.post(f"/api/v1/channels/{CHANNEL}/playback", json=RANGE, headers=admin)
    assert play.status_code == 409
    media = client.get("/api/v1/media/playback/abcdefgh12.mp4?token=x")
    assert media.status_code == 404
