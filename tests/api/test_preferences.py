"""The web console API: saved preferences, UI settings, tree look-ups, serving the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sightline.api.app import ApiContext, create_app
from sightline.api.console import NOT_BUILT, mount_console
from sightline.api.metrics import build_registry
from sightline.api.routers.tree import civil_spellings
from sightline.config import WebSettings
from sightline.sip.stats import SipStats
from tests.api.conftest import ADMIN_PASSWORD, Api
from tests.directory.samples import CAM_GATE, CAM_PARK, CAM_ROAD

PREFS = "/api/v1/me/preferences"
TILE_URL = "https://tiles.example.invalid/{z}/{x}/{y}.png"


@pytest.fixture
def console(api: Api) -> Iterator[Api]:
    """The app of the ``api`` fixture with the console's parts (database, web settings)."""
    ctx = ApiContext(
        registry=build_registry(SipStats()),
        auth=api.auth,
        directory=api.directory,
        devices=api.devices,
        database=api.database,
        web=WebSettings(map_tile_url=TILE_URL, map_attribution="© test", map_max_zoom=17),
    )
    client = TestClient(create_app(ctx))
    client.portal = api.portal
    api.client = client
    try:
        yield api
    finally:
        client.portal = None


def _wall(splits: int, *tiles: str | None) -> dict[str, Any]:
    return {"wall": {"splits": splits, "tiles": list(tiles)}}


def test_preferences_default_until_saved_then_round_trip(console: Api) -> None:
    headers = console.headers()
    empty = console.client.get(PREFS, headers=headers)
    assert empty.status_code == 200
    assert empty.json() == {
        "wall": {"splits": 4, "tiles": []},
        "updated_at": None,
    }
    layout = {"wall": {"splits": 9, "tiles": [CAM_GATE, None, CAM_ROAD]}}
    saved = console.client.put(PREFS, headers=headers, json=layout)
    assert saved.status_code == 200, saved.text
    assert saved.json()["updated_at"] is not None
    again = console.client.get(PREFS, headers=headers).json()
    assert again["wall"] == layout["wall"]
    # Saving replaces the whole document.
    console.client.put(PREFS, headers=headers, json=_wall(1, CAM_PARK))
    assert console.client.get(PREFS, headers=headers).json()["wall"] == {
        "splits": 1,
        "tiles": [CAM_PARK],
    }


def test_preferences_are_per_user(console: Api) -> None:
    operator = console.headers()
    admin = console.headers("admin", ADMIN_PASSWORD)
    assert console.client.put(PREFS, headers=operator, json=_wall(16, CAM_GATE)).status_code == 200
    assert console.client.get(PREFS, headers=admin).json()["wall"] == {"splits": 4, "tiles": []}
    assert console.client.get(PREFS, headers=operator).json()["wall"]["splits"] == 16


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (_wall(5), "wall.splits"),
        (_wall(1, CAM_GATE, CAM_PARK), "wall"),
        (_wall(4, "3402"), "wall.tiles.0"),
        (_wall(4, "３４０２００００００１３２００００００１"), "wall.tiles.0"),
        ({"wall": {"splits": 4, "tiles": []}, "language": "fr"}, "language"),  # per browser
        ({"wall": {"splits": 4, "tiles": [], "zoom": 2}}, "wall.zoom"),
        ({"theme": "dark"}, "theme"),
        ({"wall": {"splits": 16, "tiles": [None] * 17}}, "wall.tiles"),
    ],
)
def test_bad_preferences_are_refused_with_the_field_named(
    console: Api, body: dict[str, Any], where: str
) -> None:
    headers = console.headers()
    resp = console.client.put(PREFS, headers=headers, json=body)
    assert resp.status_code == 422, resp.text
    assert where in resp.json()["detail"]
    # Nothing was stored.
    assert console.client.get(PREFS, headers=headers).json()["updated_at"] is None


def test_preferences_need_login_and_json(console: Api) -> None:
    assert console.client.get(PREFS).status_code == 401
    assert console.client.put(PREFS, json=_wall(4)).status_code == 401
    resp = console.client.put(
        PREFS, headers={**console.headers(), "Content-Type": "text/plain"}, content=b"{}"
    )
    assert resp.status_code == 415


def test_ui_config_shows_the_web_settings(console: Api) -> None:
    assert console.client.get("/api/v1/ui/config").status_code == 401
    resp = console.client.get("/api/v1/ui/config", headers=console.headers())
    assert resp.json() == {
        "map_tile_url": TILE_URL,
        "map_attribution": "© test",
        "map_max_zoom": 17,
    }


def test_web_settings_refuse_a_tile_url_without_its_placeholders() -> None:
    with pytest.raises(ValueError, match="map_tile_url"):
        WebSettings(map_tile_url="https://tiles.example.invalid/tile.png")
    with pytest.raises(ValueError, match="map_tile_url"):
        WebSettings(map_tile_url="javascript:alert(1)//{z}{x}{y}")
    assert WebSettings(map_tile_url="/tiles/{z}/{x}/{y}.png").map_tile_url.startswith("/tiles")


def _ids(console: Api, **params: str | int) -> tuple[list[str], int]:
    headers = console.headers("admin", ADMIN_PASSWORD)
    resp = console.client.get("/api/v1/tree/channels", headers=headers, params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return [c["id"] for c in body["items"]], body["total"]


def test_tree_lists_channels_exactly_in_an_area(console: Api) -> None:
    # The sample NVR: CAM_PARK in city 3402, CAM_GATE in township 34020201.
    assert _ids(console, region="3402") == ([CAM_PARK], 1)
    assert _ids(console, region="340200") == ([CAM_PARK], 1)
    assert _ids(console, region="34020201") == ([CAM_GATE], 1)
    assert _ids(console, region="34") == ([], 0)  # the province holds none directly
    # The alarm input's civil code is a placeholder: it is in no area, listed as unplaced.
    unplaced, total = _ids(console, unplaced="true")
    assert total == 1 and unplaced[0] not in (CAM_GATE, CAM_PARK)
    # Whereas the channel list includes sub-areas.
    everything = console.client.get(
        "/api/v1/channels",
        headers=console.headers("admin", ADMIN_PASSWORD),
        params={"region": "34"},
    ).json()
    assert everything["total"] == 2


def test_tree_shows_a_user_only_the_channels_the_channel_list_shows(console: Api) -> None:
    headers = console.headers()  # the operator: whatever the access policy lets them see
    listed = console.client.get("/api/v1/channels", headers=headers, params={"limit": 1000})
    found = console.client.get(
        "/api/v1/tree/channels", headers=headers, params={"q": "3402", "limit": 1000}
    )
    assert listed.status_code == found.status_code == 200
    assert {c["id"] for c in found.json()["items"]} == {c["id"] for c in listed.json()["items"]}
    assert found.json()["total"] == listed.json()["total"]


def test_tree_search_by_name_or_id_start(console: Api) -> None:
    assert _ids(console, q="东门") == ([CAM_GATE], 1)
    assert _ids(console, q="停车") == ([CAM_PARK], 1)
    assert _ids(console, q=CAM_PARK[:18]) == ([CAM_GATE, CAM_PARK], 2)
    assert _ids(console, q="%") == ([], 0)  # LIKE wildcards are literal
    assert _ids(console, q="_") == ([], 0)
    assert _ids(console, q="东门", region="3402") == ([], 0)
    ids, total = _ids(console, q=CAM_PARK[:10], limit=1, offset=1)
    assert total >= 2 and len(ids) == 1


@pytest.mark.parametrize(
    "params",
    [{"region": "3402x"}, {"region": "340002"}, {"q": ""}, {"q": "x" * 65}, {"limit": 0}],
)
def test_tree_refuses_bad_parameters(console: Api, params: dict[str, str | int]) -> None:
    resp = console.client.get("/api/v1/tree/channels", headers=console.headers(), params=params)
    assert resp.status_code == 422, resp.text


def test_civil_spellings_cover_the_padded_forms() -> None:
    assert civil_spellings("3402") == ["3402", "340200", "34020000"]
    assert civil_spellings("34020000") == ["3402", "340200", "34020000"]
    assert civil_spellings("34020201") == ["34020201"]
    assert civil_spellings("34") == ["34", "3400", "340000", "34000000"]


def _console_app(directory: Path) -> TestClient:
    app = FastAPI()
    mount_console(app, directory)
    return TestClient(app)


def test_console_page_routes_and_caching(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    client = _console_app(tmp_path)
    for path in ("/", "/wall", "/devices/34020000001320000001", "/map?x=1"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert "<title>console</title>" in resp.text
        assert "no-cache" in resp.headers["cache-control"]
    asset = client.get("/assets/index-abc123.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    assert client.get("/favicon.svg").status_code == 200
    for missing in ("/assets/other.js", "/api/v1/nothing", "/player.js", "/../secret.txt"):
        resp = client.get(missing)
        assert resp.status_code == 404, missing
        assert "console" not in resp.text


def test_console_without_a_build_says_how_to_build_it(tmp_path: Path) -> None:
    client = _console_app(tmp_path / "missing")
    resp = client.get("/")
    assert resp.status_code == 503
    assert resp.text == NOT_BUILT and "make console" in resp.text
    assert client.get("/wall").status_code == 503
    assert client.get("/assets/index.js").status_code == 404


def test_unknown_api_paths_stay_json_404s(console: Api) -> None:
    resp = console.client.get("/api/v1/no-such-thing", headers=console.headers())
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/json")
