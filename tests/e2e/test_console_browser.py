"""The web console in Debian Chromium against a real ``sightline serve`` and simulated cameras.

One server for the module: its database is seeded with a 10,000-channel directory (an offline
platform's catalog, written through the store repositories before the server starts), and nine
simulated IPCs register to it from a background thread of this process, so the test can read
where a camera's head points after the PTZ buttons are pressed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from sightline.api.console import CONSOLE_DIR
from sightline.sim.config import DeviceGroup, SimConfig
from sightline.sim.video import VideoSettings
from sightline.store import (
    Channel,
    ChannelRepository,
    Database,
    DeviceRepository,
    DirectoryRepository,
    Region,
    default_sqlite_url,
    migrate,
)
from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient
from tests.e2e.browser import FRAME_STATS_JS, ConsoleLog, chromium, require_browser
from tests.e2e.server import SightlineProcess, start_sightline
from tests.e2e.sim_thread import SimThread, start_sim_thread
from tests.store.conftest import make_device

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

SERVER_ID = "34020000002000000001"
SIM_CAMERAS = 9
# The seeded directory: one lower platform with 10 counties of 1,000 channels each.
BIG_DEVICE = "11010000002000000001"
BIG_COUNTIES = [f"1101{n:02d}" for n in range(1, 11)]
BIG_PER_COUNTY = 1000
FAST_S = 2.0  # "within a couple of seconds" for tree rendering and search answers

TILE_PLAYING_JS = """(index) => {
  const tile = document.querySelector(`[data-testid=tile-${index}]`);
  const video = tile && tile.querySelector("video");
  return !!video && tile.dataset.state === "playing" && !video.paused
    && video.readyState >= 2 && video.currentTime > 0;
}"""


def start_sim(server: SightlineProcess, cameras: int) -> SimThread:
    """Start ``cameras`` simulated IPCs and wait until all are registered."""
    config = SimConfig(
        server_host="127.0.0.1",
        server_port=server.sip_port,
        server_id=SERVER_ID,
        groups=(DeviceGroup(count=cameras, channels=1),),
        password=server.password,
        local_host="127.0.0.1",
        # Nine encoders share the machine with the server and the browser: a light stream.
        video=VideoSettings(fps=12, bitrate_kbps=300),
    )
    return start_sim_thread(config, registered=cameras)


async def seed_big_directory(data_dir: Path) -> None:
    """Store a 10,000-channel platform (named counties, positions) before the server starts."""
    url = default_sqlite_url(data_dir)
    await migrate(url)
    db = await Database.connect(url)
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            await DeviceRepository(session).save(make_device(BIG_DEVICE, name="区平台"))
            regions = [Region(code="11", name="北京市"), Region(code="1101", name="市辖区")]
            regions += [
                Region(code=c, name=f"第{i + 1}区", parent_code="1101")
                for i, c in enumerate(BIG_COUNTIES)
            ]
            await DirectoryRepository(session).save_regions(regions)
            channels = [
                Channel(
                    id=f"{county}00001310{i:06d}",
                    device_id=BIG_DEVICE,
                    updated_at=now,
                    name=f"路口{county[-2:]}-{i:04d}",
                    civil_code=county,
                    longitude=116.3 + (i % 100) * 0.001,
                    latitude=39.9 + (int(county[-2:]) * 10 + i // 100) * 0.001,
                )
                for county in BIG_COUNTIES
                for i in range(BIG_PER_COUNTY)
            ]
            repo = ChannelRepository(session)
            for start in range(0, len(channels), 2000):
                await repo.upsert_many(channels[start : start + 2000])
    finally:
        await db.close()


@dataclass
class Console:
    """The running system the tests share."""

    server: SightlineProcess
    sim: SimThread
    api: ApiClient
    cameras: list[str]  # the simulated channels, by ID


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """``serve`` with the big directory seeded, nine simulated IPCs registered, and a client."""
    require_browser()
    if not (CONSOLE_DIR / "index.html").is_file():
        pytest.skip(f"the web console is not built in {CONSOLE_DIR}: run `make console`")
    data_dir = tmp_path_factory.mktemp("console")
    asyncio.run(seed_big_directory(data_dir))
    server = start_sightline(
        data_dir,
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
            "SIGHTLINE_MEDIA__RTP_PORTS": "31300-31399",
        },
    )
    sim: SimThread | None = None
    api: ApiClient | None = None
    try:
        sim = start_sim(server, SIM_CAMERAS)
        api = ApiClient(server.http_url)

        def sim_channels(a: ApiClient) -> list[str]:
            items = a.page("/api/v1/channels", region="3402", limit=100).items
            return sorted(c["id"] for c in items if c["device_online"])

        cameras, waited = api.wait_for(
            sim_channels, lambda ids: len(ids) == SIM_CAMERAS, timeout_s=20
        )
        assert len(cameras) == SIM_CAMERAS, f"after {waited:.1f}s: {cameras}"
        yield Console(server, sim, api, cameras)
    finally:
        if api is not None:
            api.close()
        if sim is not None:
            sim.stop()
        code = server.stop()
    assert code == 0, server.log()[-3000:]
    assert server.log_problems() == [], server.log()[-5000:]


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A headless Chromium for one test."""
    with chromium() as b:
        yield b


def login(browser: Browser, system: Console, console: ConsoleLog, path: str = "/") -> Page:
    """A new page logged in through the console's form, showing ``path``."""
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
    console.watch(page)
    page.goto(f"{system.server.http_url}{path}")
    page.wait_for_selector("[data-testid=login-form]", timeout=10_000)
    page.fill("[data-testid=login-username]", "admin")
    page.fill("[data-testid=login-password]", ADMIN_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=logout]", timeout=10_000)
    if path == "/wall":
        page.wait_for_selector("[data-testid=wall][data-loaded=true]")
    return page


def search_tree(page: Page, text: str) -> float:
    """Type ``text`` into the tree's search box; seconds until the result count shows."""
    started = time.monotonic()
    page.fill("[data-testid=tree-search]", text)
    page.wait_for_selector("[data-testid=tree-count]", timeout=10_000)
    return time.monotonic() - started


def wait_playing(page: Page, index: int, timeout_ms: int = 20_000) -> None:
    """Wait until tile ``index`` plays and its clock moves on by a second."""
    page.wait_for_function(TILE_PLAYING_JS, arg=index, timeout=timeout_ms)
    video = page.locator(f"[data-testid=tile-{index}] video")
    started = float(video.evaluate("v => v.currentTime"))
    page.wait_for_function(
        "([i, t]) => document.querySelector(`[data-testid=tile-${i}] video`).currentTime > t + 1",
        arg=[index, started],
        timeout=timeout_ms,
    )


def frame_stats(page: Page, index: int) -> dict[str, Any]:
    """Size and brightness of the frame tile ``index`` shows now."""
    stats: dict[str, Any] = page.locator(f"[data-testid=tile-{index}] video").evaluate(
        FRAME_STATS_JS
    )
    return stats


def test_drag_a_camera_from_the_tree_it_plays_and_ptz_moves_it(
    system: Console, browser: Browser
) -> None:
    console = ConsoleLog()
    page = login(browser, system, console, "/wall")
    camera = system.cameras[0]
    search_tree(page, camera)
    row = page.locator(f"[data-testid=tree-channel-{camera}]")
    assert row.get_attribute("data-online") == "true"
    row.drag_to(page.locator("[data-testid=tile-0]"))

    wait_playing(page, 0)
    stats = frame_stats(page, 0)
    assert (stats["width"], stats["height"]) == (640, 360), stats
    assert stats["lit"] > 0.05 and stats["mean"] > 8, f"frame is black: {stats}"
    assert page.get_attribute("[data-testid=tile-0]", "data-channel") == camera
    # Snapshot: the frame on a canvas, saved as a PNG download.
    with page.expect_download() as snapshot:
        page.click("[data-testid=tile-0] [data-testid=tile-snapshot]")
    assert snapshot.value.suggested_filename.startswith(camera)
    png = Path(snapshot.value.path()).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000

    # The dropped tile is selected: the PTZ panel drives its camera. Press and hold "right".
    assert page.inner_text("[data-testid=ptz-channel]") == camera
    home = system.sim.position(camera)
    assert not home.moving
    page.hover("[data-testid=ptz-right]")
    page.mouse.down()
    deadline = time.monotonic() + 5
    while not system.sim.position(camera).moving and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.4)
    held = system.sim.position(camera)
    page.mouse.up()
    assert held.moving and held.pan > home.pan, (home, held)
    assert held.tilt == home.tilt
    deadline = time.monotonic() + 5
    while system.sim.position(camera).moving and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped = system.sim.position(camera)
    assert not stopped.moving, "releasing the button did not stop the camera"
    time.sleep(0.3)
    assert system.sim.position(camera) == stopped

    # The layout was saved for this user: a reload shows the camera in the same tile again.
    saved, _ = system.api.wait_for(
        lambda a: a.get("/api/v1/me/preferences"),
        lambda p: camera in p["wall"]["tiles"],
        timeout_s=5,
    )
    assert saved["wall"]["tiles"][0] == camera
    page.reload()
    wait_playing(page, 0)
    page.click("[data-testid=tile-0] [data-testid=tile-stop]")
    page.wait_for_selector("[data-testid=tile-0][data-state=idle]")
    cleared, _ = system.api.wait_for(
        lambda a: a.get("/api/v1/me/preferences"),
        lambda p: camera not in p["wall"]["tiles"],
        timeout_s=5,
    )
    assert camera not in cleared["wall"]["tiles"]
    page.close()
    assert console.errors == [], console.lines


def test_nine_splits_play_nine_simulated_streams(system: Console, browser: Browser) -> None:
    console = ConsoleLog()
    page = login(browser, system, console, "/wall")
    page.click("[data-testid=stop-all]")  # whatever the saved layout held
    page.click("[data-testid=split-9]")
    page.wait_for_selector("[data-testid=wall][data-splits='9']")
    assert page.locator("[data-testid=wall] > .tile").count() == 9
    search_tree(page, "3402")  # the simulated cameras' IDs start with their area
    for index, camera in enumerate(system.cameras):
        page.click(f"[data-testid=tile-{index}]")
        page.dblclick(f"[data-testid=tree-channel-{camera}]")
    for index in range(9):
        wait_playing(page, index, timeout_ms=30_000)
    for index in range(9):
        stats = frame_stats(page, index)
        assert stats["lit"] > 0.05 and stats["mean"] > 8, f"tile {index} is black: {stats}"
    tiles = [page.get_attribute(f"[data-testid=tile-{i}]", "data-channel") for i in range(9)]
    assert tiles == system.cameras, tiles
    # Nine upstream streams on the server, one viewer each.
    metrics = system.server.metrics()
    viewers = {
        camera: metrics.get(f'sightline_stream_viewers{{channel="{camera}",kind="live"}}')
        for camera in system.cameras
    }
    assert all(count == 1 for count in viewers.values()), viewers
    page.click("[data-testid=stop-all]")
    page.wait_for_selector("[data-testid=tile-8][data-state=idle]")
    page.close()
    assert console.errors == [], console.lines


def test_ten_thousand_channel_tree_stays_usable(system: Console, browser: Browser) -> None:
    console = ConsoleLog()
    page = login(browser, system, console, "/wall")
    page.click("[data-testid=tree-node-11]")
    page.click("[data-testid=tree-node-1101]")
    county = BIG_COUNTIES[3]
    started = time.monotonic()
    page.click(f"[data-testid=tree-node-{county}]")
    first = f"{county}00001310000000"
    page.wait_for_selector(f"[data-testid=tree-channel-{first}]", timeout=10_000)
    opened_s = time.monotonic() - started
    # Load the county's whole 1,000 channels page by page: scroll down, press "load more".
    tree = page.locator("[data-testid=tree]")
    last = f"{county}00001310000999"
    for _ in range(BIG_PER_COUNTY // 200):
        tree.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_selector(f"[data-testid=tree-more], [data-testid=tree-channel-{last}]")
        more = page.locator("[data-testid=tree-more]")
        if not more.count():
            break
        height = tree.evaluate("el => el.scrollHeight")
        more.click()
        page.wait_for_function(
            "h => document.querySelector('[data-testid=tree]').scrollHeight > h + 26",
            arg=height,
            timeout=10_000,
        )
    rendered = page.locator("[data-testid^=tree-channel-]").count()
    assert rendered < 120, f"{rendered} channel rows in the DOM: the list is not virtual"
    started = time.monotonic()
    tree.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    page.wait_for_selector(f"[data-testid=tree-channel-{last}]", timeout=10_000)
    scrolled_s = time.monotonic() - started
    # The page answers input while 1,000 rows are loaded: search all 10,000 channels.
    search_s = search_tree(page, f"路口{BIG_COUNTIES[9][-2:]}-07")
    count_text = page.inner_text("[data-testid=tree-count]")
    assert "100" in count_text, count_text  # 0700-0799 in the tenth county
    id_search_s = search_tree(page, f"{BIG_COUNTIES[0]}000013100005")
    page.wait_for_selector(f"[data-testid=tree-channel-{BIG_COUNTIES[0]}00001310000500]")
    print(
        f"\n10,000-channel tree: open county {opened_s:.2f}s, scroll to row 1000 "
        f"{scrolled_s:.2f}s, name search {search_s:.2f}s, ID search {id_search_s:.2f}s"
    )
    assert max(opened_s, scrolled_s, search_s, id_search_s) < FAST_S
    page.close()
    assert console.errors == [], console.lines


def test_main_pages_show_without_console_errors(system: Console, browser: Browser) -> None:
    console = ConsoleLog()
    page = login(browser, system, console, "/wall")
    page.wait_for_selector("[data-testid=tree-node-34]")
    page.click("[data-testid=tree-mode-group]")
    page.click("[data-testid=nav-map]")
    page.wait_for_selector("[data-testid=map-grid] circle", timeout=15_000)
    camera = system.cameras[1]
    # Points may overlap at this scale: click this one whatever lies on top of it.
    page.locator(f"[data-testid=map-point-{camera}]").dispatch_event("click")
    page.wait_for_selector("[data-testid=map-player]")
    page.wait_for_function(TILE_PLAYING_JS, arg=100, timeout=20_000)
    page.click("[data-testid=map-player-close]")
    page.click("[data-testid=nav-devices]")
    device = system.api.get(f"/api/v1/channels/{camera}")["device_id"]
    page.click(f"[data-testid=device-{device}] a")
    page.wait_for_selector("[data-testid=device-status]")
    assert page.inner_text("[data-testid=device-status]") == "online"
    page.click("[data-testid=catalog-refresh]")
    page.wait_for_selector("[data-testid=catalog-notice]", timeout=15_000)
    page.click("[data-testid=nav-playback]")
    page.wait_for_selector("[data-testid=playback]")
    # Chinese by the browser's wish, and logout ends the session on the server too.
    page.click("[data-testid=language]")
    assert page.inner_text("[data-testid=nav-wall]") == "视频墙"
    page.click("[data-testid=language]")
    page.click("[data-testid=logout]")
    page.wait_for_selector("[data-testid=login-form]")
    assert page.evaluate("() => sessionStorage.getItem('sightline.access_token')") is None
    page.close()
    assert console.errors == [], console.lines


def test_chinese_browser_gets_chinese_and_a_dead_session_goes_back_to_login(
    system: Console, browser: Browser
) -> None:
    console = ConsoleLog()
    page = browser.new_page(locale="zh-CN")
    console.watch(page)
    page.goto(f"{system.server.http_url}/devices")
    page.wait_for_selector("[data-testid=login-form]")
    assert "值班员登录" in page.inner_text("[data-testid=login-form]")
    page.fill("[data-testid=login-username]", "admin")
    page.fill("[data-testid=login-password]", "wrong-password")
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=login-error]")
    page.fill("[data-testid=login-password]", ADMIN_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_url("**/devices")
    page.wait_for_selector("[data-testid=devices] tbody tr")
    # The token is revoked behind the page's back: its next request is a 401 → login.
    token = page.evaluate("() => sessionStorage.getItem('sightline.access_token')")
    httpx.post(
        f"{system.server.http_url}/api/v1/auth/logout",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).raise_for_status()
    page.click("[data-testid=nav-map]")
    page.wait_for_selector("[data-testid=login-form]", timeout=10_000)
    assert "next=" in page.url
    page.close()
    # The failed login and the revoked token show as failed requests, nothing else.
    unexpected = [e for e in console.errors if "401" not in e]
    assert unexpected == [], console.lines


def test_a_tile_shows_why_a_camera_cannot_play(system: Console, browser: Browser) -> None:
    console = ConsoleLog()
    page = login(browser, system, console, "/wall")
    page.click("[data-testid=stop-all]")
    offline = f"{BIG_COUNTIES[0]}00001310000001"  # the seeded platform never registered
    search_tree(page, offline)
    row = page.locator(f"[data-testid=tree-channel-{offline}]")
    assert row.get_attribute("data-online") == "false"
    page.click("[data-testid=tile-0]")
    row.dblclick()
    page.wait_for_selector("[data-testid=tile-0][data-state=error]", timeout=10_000)
    status = page.inner_text("[data-testid=tile-0] [data-testid=tile-status]")
    assert "offline" in status and "503" in status, status
    page.click("[data-testid=stop-all]")
    page.close()
    # The refused request is the only complaint in the console.
    assert [e for e in console.errors if "503" not in e] == [], console.lines
