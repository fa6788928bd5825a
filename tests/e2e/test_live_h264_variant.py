"""An H.265 camera watched by clients without HEVC: ``?codec=h264`` serves a server transcode.

``sightline serve`` and ``sightline sim --codec h265`` run as child processes. The plain play
URL still carries H.265 (untouched); the ``codec=h264`` URL decodes as H.264 in PyAV, and
Debian's Chromium, which has no HEVC in MSE, plays the channel on the player page.
"""

from __future__ import annotations

from collections.abc import Callable

import av
import httpx
import pytest

from sightline.api.console import CONSOLE_DIR
from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient
from tests.e2e.browser import FRAME_STATS_JS, ConsoleLog, chromium, require_browser
from tests.e2e.server import SightlineProcess, StartServer
from tests.e2e.test_console_browser import TILE_PLAYING_JS
from tests.e2e.test_simulator_fleet import Simulator, start_simulator

__all__ = ["start_simulator"]  # the fixture, used by name below

pytestmark = pytest.mark.e2e

ENV = {"SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD, "SIGHTLINE_MEDIA__RTP_PORTS": "31200-31299"}


def _decode(url: str, frames: int) -> tuple[str, list[av.VideoFrame]]:
    """The codec and first ``frames`` pictures of an endless fMP4 URL, read by PyAV (FFmpeg)."""
    got: list[av.VideoFrame] = []
    with av.open(url, mode="r", format="mp4", timeout=20) as container:
        codec = str(container.streams.video[0].codec_context.name)
        for frame in container.decode(video=0):
            got.append(frame)
            if len(got) >= frames:
                break
    return codec, got


def _play_urls(server: SightlineProcess, channel: str, **params: str) -> dict[str, str]:
    """``POST /live`` with query parameters (ApiClient's post takes a body only)."""
    with httpx.Client(base_url=server.http_url, timeout=20) as http:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        token = http.post("/api/v1/auth/login", json=login).json()["access_token"]
        answer = http.post(
            f"/api/v1/channels/{channel}/live",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["urls"])


def _channel(api: ApiClient) -> str:
    page, _ = api.wait_for(
        lambda a: a.page("/api/v1/channels", limit=1), lambda p: p.total >= 1, timeout_s=20
    )
    assert page.items, "the simulated camera never listed its channel"
    return str(page.items[0]["id"])


def test_h265_camera_plays_as_h264_for_clients_without_hevc(
    sightline_server: StartServer, start_simulator: Callable[..., Simulator]
) -> None:
    server = sightline_server(env=ENV)
    sim = start_simulator(server, "--devices", "1", "--codec", "h265")
    with ApiClient(server.http_url) as api:
        channel = _channel(api)
        plain = _play_urls(server, channel)["http"]
        assert "codec=" not in plain
        codec, frames = _decode(plain, 5)
        assert codec == "hevc", sim.output()  # the camera's own stream, untouched
        urls = _play_urls(server, channel, codec="h264")
        assert urls["ws"].endswith("&codec=h264") and urls["http"].endswith("&codec=h264")
        codec, frames = _decode(urls["http"], 30)
        assert codec == "h264" and len(frames) == 30
        assert all((f.width, f.height) == (640, 360) for f in frames)
        kinds = {k for k in server.metrics() if 'kind="h264"' in k}
        assert kinds, "no metrics for the h264 variant"
        refused = httpx.get(plain.replace("?token=", "?codec=vp9&token="), timeout=10)
        assert refused.status_code == 422


def test_browser_without_hevc_plays_an_h265_camera(
    sightline_server: StartServer, start_simulator: Callable[..., Simulator]
) -> None:
    require_browser()
    server = sightline_server(env=ENV)
    start_simulator(server, "--devices", "1", "--codec", "h265")
    with ApiClient(server.http_url) as api:
        channel = _channel(api)
    console = ConsoleLog()
    with chromium() as browser:
        page = browser.new_page()
        console.watch(page)
        hevc = page.evaluate(
            "() => MediaSource.isTypeSupported('video/mp4; codecs=\"hvc1.1.6.L93.B0\"')"
        )
        page.goto(f"{server.http_url}/player/?channel={channel}")
        page.wait_for_selector("#login:not([hidden])", timeout=5_000)
        page.fill("#username", "admin")
        page.fill("#password", ADMIN_PASSWORD)
        page.click("#login button")
        page.wait_for_function(
            "() => { const v = document.getElementById('video');"
            " return !v.paused && v.readyState >= 2 && v.currentTime > 1; }",
            timeout=20_000,
        )
        stats = page.locator("#video").evaluate(FRAME_STATS_JS)
        page.close()
    assert hevc is False  # else this test would not show the transcode path
    assert (stats["width"], stats["height"]) == (640, 360), stats
    assert stats["lit"] > 0.05 and stats["mean"] > 8, f"frame is black: {stats}"
    assert console.errors == [], console.lines


def test_console_wall_plays_an_h265_camera_in_a_browser_without_hevc(
    sightline_server: StartServer, start_simulator: Callable[..., Simulator]
) -> None:
    require_browser()
    if not (CONSOLE_DIR / "index.html").is_file():
        pytest.skip(f"the web console is not built in {CONSOLE_DIR}: run `make console`")
    server = sightline_server(env=ENV)
    start_simulator(server, "--devices", "1", "--codec", "h265")
    with ApiClient(server.http_url) as api:
        channel = _channel(api)
    console = ConsoleLog()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
        console.watch(page)
        page.goto(f"{server.http_url}/wall")
        page.wait_for_selector("[data-testid=login-form]", timeout=10_000)
        page.fill("[data-testid=login-username]", "admin")
        page.fill("[data-testid=login-password]", ADMIN_PASSWORD)
        page.click("[data-testid=login-submit]")
        page.wait_for_selector("[data-testid=wall][data-loaded=true]", timeout=10_000)
        page.fill("[data-testid=tree-search]", channel)
        page.click("[data-testid=tile-0]")
        page.locator(f"[data-testid=tree-channel-{channel}]").dblclick()
        page.wait_for_function(TILE_PLAYING_JS, arg=0, timeout=20_000)
        stats = page.locator("[data-testid=tile-0] video").evaluate(FRAME_STATS_JS)
        page.close()
    assert (stats["width"], stats["height"]) == (640, 360), stats
    assert stats["lit"] > 0.05 and stats["mean"] > 8, f"frame is black: {stats}"
    assert console.errors == [], console.lines
