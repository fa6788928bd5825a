"""A privacy mask drawn while a recording plays ends the playback of a viewer who may not see
the channel unmasked (recordings are served as recorded), and only theirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.requests import HTTPConnection

from sightline.access.service import AuthService
from sightline.access.stream_tokens import StreamAction, StreamClaims
from sightline.access.tokens import RevokedToken
from sightline.api.routers.live import get_stream_tokens
from sightline.api.routers.masks import masked_recording_check
from tests.api.test_masks_api import (
    CHANNEL,
    QUARTER,
    MasksApi,
    _api,
    _only_viewer_role,
)
from tests.store.conftest import sqlite_migrated

__all__ = ["sqlite_migrated"]


@pytest.fixture
def api(sqlite_migrated: Path, tmp_path: Path) -> Iterator[MasksApi]:
    yield from _api(sqlite_migrated, tmp_path, AuthService)


def _claims(conn: HTTPConnection, api: MasksApi, username: str) -> StreamClaims:
    auth = conn.app.state.auth
    [user_id] = [m.user_id for m in auth.access.snapshot.members.values() if m.username == username]
    _, claims = get_stream_tokens(conn).issue(
        user_id=user_id, username=username, channel_id=CHANNEL, action=StreamAction.PLAYBACK
    )
    return claims


def test_a_mask_drawn_during_playback_ends_it_for_masked_only_viewers(api: MasksApi) -> None:
    conn = HTTPConnection({"type": "http", "app": api.client.app, "headers": []})
    api.portal.call(_only_viewer_role, api, "viewer")  # live and playback, masked only
    # the playback was admitted while the channel had no masks (the mask cache is read then)
    assert api.portal.call(api.masked.needs_mask, CHANNEL) is False
    viewer_check = masked_recording_check(conn, _claims(conn, api, "viewer"))
    admin_check = masked_recording_check(conn, _claims(conn, api, "admin"))
    assert viewer_check is not None and admin_check is not None
    viewer_check()  # no masks: nothing to hide
    admin_check()

    assert api.put(CHANNEL, {"polygons": [QUARTER]}).status_code == 200
    with pytest.raises(RevokedToken, match="privacy masks"):
        viewer_check()
    admin_check()  # may see it unmasked: plays on

    assert api.put(CHANNEL, {"polygons": []}).status_code == 200
    viewer_check()  # masks removed: nothing to hide again
