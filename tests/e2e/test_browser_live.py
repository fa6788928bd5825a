"""Live video in a real browser: `sightline demo`, the /player/ page logging in through its
form, fMP4 over WebSocket into Media Source Extensions, and a decoded frame read back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.browser import FRAME_STATS_JS, ConsoleLog, chromium, require_browser
from tests.e2e.server import start_sightline

pytestmark = pytest.mark.e2e

PASSWORD = "browser-admin"


def _first_channel(http_url: str) -> str:
    token = httpx.post(
        f"{http_url}/api/v1/auth/login",
        json={"username": "admin", "password": PASSWORD},
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = httpx.get(f"{http_url}/api/v1/channels", headers=headers, timeout=10).json()[
            "items"
        ]
        if items:
            return str(items[0]["id"])
        time.sleep(0.3)
    raise AssertionError("the demo camera never registered a channel")


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "media-worker"])
def test_player_page_plays_demo_camera(tmp_path: Path, workers: int) -> None:
    """The page plays the WebSocket URL POST /live gives: on the main port, or with a media
    worker on the worker's own port."""
    require_browser()
    server = start_sightline(
        tmp_path,
        command=("demo", "--ipcs", "1", "--nvr-channels", "0"),
        env={
            "SIGHTLINE_ADMIN__PASSWORD": PASSWORD,
            "SIGHTLINE_MEDIA__RTP_PORTS": "31100-31199",
            "SIGHTLINE_MEDIA__WORKERS": str(workers),
        },
    )
    console = ConsoleLog()
    try:
        channel = _first_channel(server.http_url)
        with chromium() as browser:
            page = browser.new_page()
            console.watch(page)
            page.goto(f"{server.http_url}/player/?channel={channel}")
            # No session yet: the page asks for a login, then starts the channel by itself.
            page.wait_for_selector("#login:not([hidden])", timeout=5_000)
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.click("#login button")
            page.wait_for_function(
                "() => { const v = document.getElementById('video');"
                " return !v.paused && v.readyState >= 2 && v.currentTime > 0; }",
                timeout=15_000,
            )
            started = page.eval_on_selector("#video", "v => v.currentTime")
            page.wait_for_function(
                "t => document.getElementById('video').currentTime > t + 1",
                arg=started,
                timeout=8_000,
            )
            stats = page.locator("#video").evaluate(FRAME_STATS_JS)
            status = page.inner_text("#status")
            page.close()
        assert (stats["width"], stats["height"]) == (640, 360), stats
        assert stats["lit"] > 0.05 and stats["mean"] > 8, f"frame is black: {stats}"
        assert status == "playing", status
        assert console.errors == [], console.lines
    finally:
        assert server.stop() == 0
    assert server.log_problems() == []
