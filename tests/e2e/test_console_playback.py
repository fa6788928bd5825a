"""The console's playback page in Debian Chromium against ``sightline demo`` and its simulator.

An operator logs in, picks yesterday and the simulated camera in the tree, sees the simulator's
recorded segments on the timeline, clicks a time and watches it play: the recorded instant the
simulator burnt into the picture (its machine-readable time row, read by the page's own JS
from the video drawn on a canvas) matches the clicked time and the time the page shows. Pause
holds the picture, 4× runs about four recorded seconds a second, a drag on the timeline seeks,
and a clip downloaded with a purpose is an MP4 PyAV reads with the asked duration. The API's
refusals (404 unknown channel, 403 without the playback right) show on the page with their
reasons, an empty platform search says so, and a recording played to its end stops cleanly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import av
import pytest

from sightline.api.console import CONSOLE_DIR
from sightline.sim.history import recordings
from tests.e2e.api_client import ADMIN_PASSWORD
from tests.e2e.browser import READ_TIME_ROW_JS, ConsoleLog, chromium, require_browser
from tests.e2e.records_support import DemoNode, demo_node, frame_times, full_hour_file

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

ZONE = "Asia/Shanghai"  # the operator's browser and the simulated devices keep Beijing time
VIEWER_PASSWORD = "viewer-password-1"
CLIP_S = 10

# The recorded instant (Unix ms) in the time row of the frame the page's <video> shows now
# (READ_TIME_ROW_JS), with the time the page displays.
READ_FRAME_JS = (
    """() => {
  """
    + READ_TIME_ROW_JS
    + """
  const video = document.querySelector("[data-testid=pb-video]");
  const row = readTimeRow(video);
  const shown = document.querySelector("[data-testid=pb-time]");
  return { frameMs: row.value, contrast: row.contrast, width: row.width,
           shownMs: shown ? Number(shown.dataset.ms) : null,
           fromMs: shown ? Number(shown.dataset.from) : null,
           paused: video.paused, currentTime: video.currentTime };
}"""
)
PLAYING_JS = """(after) => {
  const video = document.querySelector("[data-testid=pb-video]");
  const state = document.querySelector("[data-testid=pb-state]").dataset.state;
  return state === "playing" && !video.paused && video.readyState >= 2 && video.currentTime > after;
}"""

# Records each download state and percentage the page shows, as they change.
WATCH_PROGRESS_JS = """() => {
  window.seenProgress = [];
  const note = () => {
    const el = document.querySelector("[data-testid=pb-download-state]");
    if (!el) return;
    const text = `${el.dataset.state} ${(el.innerText.match(/(\\d+)%/) || [])[1]}`;
    if (window.seenProgress.at(-1) !== text) window.seenProgress.push(text);
  };
  new MutationObserver(note).observe(document.querySelector("[data-testid=pb-download]"),
    { subtree: true, childList: true, characterData: true, attributes: true });
}"""


@pytest.fixture
def node(tmp_path: Path) -> Iterator[DemoNode]:
    """``sightline demo`` with one simulated IPC (platform recording off)."""
    require_browser()
    if not (CONSOLE_DIR / "index.html").is_file():
        pytest.skip(f"the web console is not built in {CONSOLE_DIR}: run `make console`")
    with demo_node(tmp_path, "31800-31899") as running:
        yield running


def new_page(browser: Browser, node: DemoNode, console: ConsoleLog) -> Page:
    """A fresh tab in Beijing time, English UI."""
    page = browser.new_page(
        viewport={"width": 1440, "height": 900}, locale="en-US", timezone_id=ZONE
    )
    console.watch(page)
    return page


def login(page: Page, node: DemoNode, username: str, password: str) -> None:
    """Open the playback page; the console asks for a login first and comes back to it."""
    page.goto(f"{node.server.http_url}/playback")
    page.wait_for_selector("[data-testid=login-form]", timeout=10_000)
    page.fill("[data-testid=login-username]", username)
    page.fill("[data-testid=login-password]", password)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=playback]", timeout=10_000)


def frame(page: Page) -> dict[str, Any]:
    """What the video shows now (recorded instant from the picture) and what the page says."""
    seen: dict[str, Any] = page.evaluate(READ_FRAME_JS)
    assert seen["width"] == 640 and seen["contrast"] > 100, seen
    return seen


def timeline_x(page: Page, at_ms: float) -> tuple[float, float]:
    """The viewport point on the timeline for the instant ``at_ms``."""
    bar = page.locator("[data-testid=pb-timeline]")
    start = float(bar.get_attribute("data-start") or 0)
    end = float(bar.get_attribute("data-end") or 0)
    box = bar.bounding_box()
    assert box is not None
    return box["x"] + box["width"] * (at_ms - start) / (end - start), box["y"] + box["height"] / 2


def ms_per_pixel(page: Page) -> float:
    """How much recorded time one pixel of the timeline spans."""
    bar = page.locator("[data-testid=pb-timeline]")
    box = bar.bounding_box()
    assert box is not None
    span = float(bar.get_attribute("data-end") or 0) - float(bar.get_attribute("data-start") or 0)
    return span / box["width"]


def wait_error(page: Page, text: str) -> None:
    """Wait until the page's error line says ``text``."""
    page.wait_for_function(
        "(text) => (document.querySelector('[data-testid=pb-error]')?.innerText ?? '')"
        ".includes(text)",
        arg=text,
        timeout=10_000,
    )


def wait_frame_after(page: Page, after_ms: float, timeout_s: float = 10.0) -> dict[str, Any]:
    """Poll until the picture shows an instant later than ``after_ms``."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = frame(page)
        if seen["frameMs"] > after_ms or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_operator_finds_plays_steers_and_downloads_yesterday(
    node: DemoNode, tmp_path: Path
) -> None:
    started = time.monotonic()
    camera = node.channel_id
    zone = ZoneInfo(ZONE)
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = (midnight - timedelta(days=1)).timestamp(), midnight.timestamp()
    expected = recordings(camera, *yesterday, time.time())
    console = ConsoleLog()
    with chromium() as browser:
        page = new_page(browser, node, console)
        login(page, node, "admin", ADMIN_PASSWORD)

        # Yesterday, then the camera from the tree: the search runs and draws the segments.
        page.click("[data-testid=pb-yesterday]")
        page.fill("[data-testid=tree-search]", camera)
        page.click(f"[data-testid=tree-channel-{camera}]")
        page.wait_for_selector("[data-testid=pb-found]", timeout=15_000)
        bar = page.locator("[data-testid=pb-timeline]")
        assert float(bar.get_attribute("data-start") or 0) == yesterday[0] * 1000
        assert float(bar.get_attribute("data-end") or 0) == yesterday[1] * 1000
        drawn = page.eval_on_selector_all(
            "[data-testid=pb-segment]",
            "(els) => els.map((e) => [Number(e.dataset.start), Number(e.dataset.end)])",
        )
        assert drawn == [[f.start * 1000, f.end * 1000] for f in expected]
        assert len(drawn) >= 20  # a day of hourly files, a few of them cut short

        # Click the middle of a whole recorded hour: it plays from there.
        hours = [f for f in expected if f.end - f.start == 3600]
        target = (hours[len(hours) // 3].start + 1800) * 1000
        pixel = ms_per_pixel(page)
        clicked = time.monotonic()
        page.mouse.click(*timeline_x(page, target))
        page.wait_for_function(PLAYING_JS, arg=0.5, timeout=20_000)
        seen = frame(page)
        elapsed = time.monotonic() - clicked
        picked = seen["fromMs"]
        assert abs(picked - target) <= 1.5 * pixel, (picked, target, pixel)
        assert picked - 500 <= seen["frameMs"] <= picked + (elapsed + 1) * 1000, (seen, elapsed)
        assert abs(seen["shownMs"] - seen["frameMs"]) <= 2000, seen
        assert page.locator("[data-testid=pb-playhead]").count() == 1

        # Pause holds the picture and the shown time; resume goes on from there.
        page.click("[data-testid=pb-pause]")
        time.sleep(0.8)  # frames already on their way still arrive
        held = frame(page)
        time.sleep(1.5)
        still = frame(page)
        assert held["paused"] and still["paused"], still
        assert still["frameMs"] == held["frameMs"] and still["shownMs"] == held["shownMs"], (
            held,
            still,
        )
        page.click("[data-testid=pb-pause]")
        resumed = wait_frame_after(page, held["frameMs"] + 500)
        assert not resumed["paused"] and resumed["frameMs"] - held["frameMs"] < 5000, resumed

        # 4×: about four recorded seconds per second, and the shown time keeps up.
        page.click("[data-testid=pb-speed-4]")
        time.sleep(1.0)
        first, first_at = frame(page), time.monotonic()
        time.sleep(3.0)
        second, second_at = frame(page), time.monotonic()
        rate = (second["frameMs"] - first["frameMs"]) / 1000 / (second_at - first_at)
        assert 3.0 <= rate <= 5.0, (first, second, rate)
        assert abs(second["shownMs"] - second["frameMs"]) <= 2000, second

        # Zoom in around the playhead, drag it along the timeline and let go at 10 minutes into
        # a later file: the session seeks there.
        for _ in range(4):
            page.click("[data-testid=pb-zoom-in]")
        view_end = float(bar.get_attribute("data-end") or 0)
        fine = ms_per_pixel(page)
        assert fine < pixel / 5, (fine, pixel)
        now_ms = frame(page)["shownMs"]
        later = next(
            (f.start + 600) * 1000
            for f in expected
            if f.start * 1000 > now_ms + 60_000 and (f.start + 600) * 1000 < view_end
        )
        pixel = fine
        page.mouse.move(*timeline_x(page, now_ms))
        page.mouse.down()
        page.mouse.move(*timeline_x(page, later), steps=8)
        page.mouse.up()
        sought_at = time.monotonic()
        moved = wait_frame_after(page, later - 2 * pixel)
        waited = time.monotonic() - sought_at
        assert abs(moved["frameMs"] - later) <= 2 * pixel + waited * 4000, (moved, later)
        time.sleep(1.0)
        settled = frame(page)
        assert abs(settled["shownMs"] - settled["frameMs"]) <= 2000, settled
        assert settled["fromMs"] == picked, "a seek keeps the session"
        # +30 s jumps ahead from the instant on screen.
        before = frame(page)
        page.click("[data-testid=pb-forward]")
        jumped_at = time.monotonic()
        jumped = wait_frame_after(page, before["shownMs"] + 25_000)
        late = (time.monotonic() - jumped_at) * 4000 + 2000
        assert -1000 <= jumped["frameMs"] - (before["shownMs"] + 30_000) <= late, (before, jumped)

        # Download a clip from where the seek landed: not without a purpose; with one, the
        # progress shows while it runs and the file is saved when done.
        page.fill("[data-testid=pb-clip-seconds]", str(CLIP_S))
        page.click("[data-testid=pb-download-start]")
        assert "what the clip is needed for" in page.inner_text("[data-testid=pb-download-error]")
        page.fill("[data-testid=pb-purpose]", "incident 2026-117 at the north gate")
        clip_from = page.input_value("[data-testid=pb-clip-from]")
        page.evaluate(WATCH_PROGRESS_JS)
        with page.expect_download(timeout=30_000) as saved:
            page.click("[data-testid=pb-download-start]")
        state = page.locator("[data-testid=pb-download-state]")
        assert state.get_attribute("data-state") == "done"
        progress = page.evaluate("() => window.seenProgress")
        assert progress[0].startswith("running") and progress[-1] == "done 100", progress
        assert "100%" in state.inner_text()
        assert saved.value.suggested_filename.startswith(camera)
        mp4 = Path(saved.value.path()).read_bytes()
        page.click("[data-testid=pb-stop]")
        page.close()
    assert console.errors == [], console.lines

    clip_start = datetime.fromisoformat(clip_from).replace(tzinfo=zone).timestamp()
    with av.open(str(_write(tmp_path / "clip.mp4", mp4))) as container:
        assert container.format.name.startswith("mov"), container.format.name
        duration = (container.duration or 0) / 1_000_000
    assert abs(duration - CLIP_S) <= 0.6, duration
    times = frame_times(mp4)
    assert abs(times[0] - clip_start) <= 1.0 and CLIP_S - 1 <= times[-1] - times[0] <= CLIP_S
    assert time.monotonic() - started < 90


def _local_input(unix_s: float) -> str:
    """A ``datetime-local`` value in the browser's zone."""
    return datetime.fromtimestamp(unix_s, ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M:%S")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_page_shows_refusals_and_the_end_of_a_recording(node: DemoNode) -> None:
    department = node.api.post("/api/v1/departments", {"name": "gate", "parent_id": 1})
    node.api.post(
        "/api/v1/users",
        {
            "username": "gateviewer",
            "password": VIEWER_PASSWORD,
            "department_id": department["id"],
            "roles": ["viewer"],
        },
    )
    console = ConsoleLog()
    with chromium() as browser:
        page = new_page(browser, node, console)
        login(page, node, "admin", ADMIN_PASSWORD)
        # The platform has recorded nothing of this camera (recording is off on this node).
        page.fill("[data-testid=pb-channel]", node.channel_id)
        page.select_option("[data-testid=pb-source]", "platform")
        page.click("[data-testid=pb-search]")
        found = page.wait_for_selector("[data-testid=pb-found]")
        assert found is not None and found.get_attribute("data-count") == "0"
        assert "No recordings" in found.inner_text()
        assert page.locator("[data-testid=pb-segment]").count() == 0
        # 404: a channel nobody knows.
        page.select_option("[data-testid=pb-source]", "device")
        page.fill("[data-testid=pb-channel]", "34020000001329999999")
        page.click("[data-testid=pb-search]")
        wait_error(page, "(404)")
        assert "is not known" in page.inner_text("[data-testid=pb-error]")
        # A 20-digit ID is checked before asking.
        page.fill("[data-testid=pb-channel]", "1234")
        page.click("[data-testid=pb-search]")
        wait_error(page, "20 digits")
        # The last 30 s of a recorded hour, played at 8×: the device's end-of-file notice ends
        # the session cleanly, which the page says (not an error).
        hour = full_hour_file(node.channel_id)
        page.fill("[data-testid=pb-channel]", node.channel_id)
        page.fill("[data-testid=pb-start]", _local_input(hour.end - 30))
        page.fill("[data-testid=pb-end]", _local_input(hour.end))
        page.click("[data-testid=pb-search]")
        page.wait_for_selector("[data-testid=pb-found][data-count='1']")
        page.mouse.click(*timeline_x(page, (hour.end - 28) * 1000))
        page.wait_for_function(PLAYING_JS, arg=0.2, timeout=20_000)
        page.click("[data-testid=pb-speed-8]")
        page.wait_for_selector("[data-testid=pb-state][data-state=stopped]", timeout=15_000)
        assert "end of the recording" in page.inner_text("[data-testid=pb-state]")
        page.close()

        # 403: a viewer without a grant for the camera may not see its recordings.
        viewer = new_page(browser, node, console)
        login(viewer, node, "gateviewer", VIEWER_PASSWORD)
        viewer.fill("[data-testid=pb-channel]", node.channel_id)
        viewer.click("[data-testid=pb-search]")
        wait_error(viewer, "(403)")
        viewer.close()
    # The refusals show as failed requests in the console, nothing else.
    unexpected = [e for e in console.errors if not any(f" {s} " in e for s in (403, 404))]
    assert unexpected == [], console.lines
