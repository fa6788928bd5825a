"""Screenshots of the web console's main pages for the README: ``make screenshots``.

Starts ``sightline demo`` (the server plus simulated cameras) on free loopback ports, logs in
with Debian's Chromium and saves one PNG per page into the given directory (docs/screenshots/).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page, ViewportSize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.api_client import ApiClient  # noqa: E402
from tests.e2e.browser import chromium  # noqa: E402
from tests.e2e.server import start_sightline  # noqa: E402

PASSWORD = "screenshots-admin"
VIEWPORT: ViewportSize = {"width": 1440, "height": 860}
PLAYING_JS = """(n) => [...document.querySelectorAll('[data-testid=wall] > .tile')].slice(0, n)
  .every((t) => t.dataset.state === 'playing' && t.querySelector('video').currentTime > 0.5)"""


@dataclass
class Shots:
    """One browser page and where its pictures go."""

    page: Page
    url: str
    out: Path
    saved: list[Path] = field(default_factory=list)

    def save(self, name: str) -> None:
        """Write the page as ``<out>/<name>.png``."""
        path = self.out / f"{name}.png"
        self.page.screenshot(path=str(path))
        self.saved.append(path)
        print(f"saved {path}")


def online_channels(url: str, count: int) -> list[str]:
    """The IDs of the simulated channels once ``count`` of them are online."""
    with ApiClient(url, password=PASSWORD) as api:
        page, _ = api.wait_for(
            lambda a: a.page("/api/v1/channels", limit=100),
            lambda p: sum(1 for c in p.items if c["device_online"]) >= count,
            timeout_s=30,
        )
    ids = sorted(c["id"] for c in page.items if c["device_online"])
    if len(ids) < count:
        raise SystemExit(f"only {len(ids)} of {count} simulated channels came online")
    return ids


def login(shots: Shots) -> None:
    """The login page, then log in and land on the wall."""
    page = shots.page
    page.goto(f"{shots.url}/wall")
    page.wait_for_selector("[data-testid=login-form]")
    shots.save("login")
    page.fill("[data-testid=login-username]", "admin")
    page.fill("[data-testid=login-password]", PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=wall][data-loaded=true]")


def wall(shots: Shots, channels: list[str]) -> None:
    """Four cameras playing on a 4-split wall, the region tree open."""
    page = shots.page
    page.click("[data-testid=stop-all]")
    page.click("[data-testid=split-4]")
    page.fill("[data-testid=tree-search]", channels[0][:10])
    page.wait_for_selector("[data-testid=tree-count]")
    for index, channel in enumerate(channels[:4]):
        page.click(f"[data-testid=tile-{index}]")
        page.dblclick(f"[data-testid=tree-channel-{channel}]")
    page.fill("[data-testid=tree-search]", "")
    for code in ("34", "3402"):
        page.click(f"[data-testid=tree-node-{code}]")
    page.click("[data-testid=tile-0]")
    page.wait_for_function(PLAYING_JS, arg=4, timeout=30_000)
    time.sleep(1.0)
    shots.save("wall")


def pages(shots: Shots) -> None:
    """The map, the device list and the NVR's page."""
    page = shots.page
    page.click("[data-testid=nav-map]")
    page.wait_for_selector("[data-testid=map-grid] circle", timeout=15_000)
    shots.save("map")
    page.click("[data-testid=nav-devices]")
    page.wait_for_selector("[data-testid=devices] tbody tr")
    shots.save("devices")
    page.click("[data-testid=devices] tbody tr:first-child a")  # the NVR sorts first
    page.wait_for_selector("[data-testid=device-channels] tbody tr")
    shots.save("device")


def playback(shots: Shots, channel: str) -> None:
    """The playback page: yesterday's recorded segments on the timeline, one playing."""
    page = shots.page
    page.click("[data-testid=nav-playback]")
    page.click("[data-testid=pb-yesterday]")
    page.fill("[data-testid=tree-search]", channel)
    page.click(f"[data-testid=tree-channel-{channel}]")
    page.wait_for_selector("[data-testid=pb-found], [data-testid=pb-error]", timeout=15_000)
    timeline = page.locator("[data-testid=pb-timeline]")
    box = timeline.bounding_box() if timeline.count() else None
    if box is not None and page.locator("[data-testid=pb-segment]").count():
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
        page.wait_for_function(
            "() => document.querySelector('[data-testid=pb-video]').currentTime > 1",
            timeout=20_000,
        )
        page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    shots.save("playback")


def seed_access(url: str, channel: str) -> None:
    """Police owns ``channel``; a transport viewer asks for it; a grant to transport exists."""
    now = datetime.now(UTC)
    window = {"not_before": now.isoformat(), "not_after": (now + timedelta(hours=8)).isoformat()}
    with ApiClient(url, password=PASSWORD) as api:
        police = api.post("/api/v1/departments", {"name": "市公安局", "parent_id": 1})["id"]
        transport = api.post("/api/v1/departments", {"name": "市交通局", "parent_id": 1})["id"]
        api.post("/api/v1/departments", {"name": "城区交警大队", "parent_id": police})
        viewer = {"username": "jt-zhang", "password": "transport-viewer", "display_name": "张伟"}
        api.post("/api/v1/users", {**viewer, "department_id": transport, "roles": ["viewer"]})
        admin = {"username": "ga-li", "password": "police-admin-pw", "display_name": "李强"}
        api.post("/api/v1/users", {**admin, "department_id": police, "roles": ["department_admin"]})
        owner = {"department_id": police, "classification": "public_security", "sharing": "none"}
        with httpx.Client(base_url=url, timeout=10) as http:  # ApiClient has no PUT
            login = {"username": "admin", "password": PASSWORD}
            token = http.post("/api/v1/auth/login", json=login).raise_for_status().json()
            bearer = {"Authorization": f"Bearer {token['access_token']}"}
            path = f"/api/v1/channels/{channel}/ownership"
            http.put(path, json=owner, headers=bearer).raise_for_status()
        scope = {"kind": "region", "id": channel[:6]}
        grant = {"grantee_department_id": transport, "scope": scope, "actions": ["live"]}
        api.post("/api/v1/grants", {**grant, **window, "grantor_department_id": police})
    with ApiClient(url, username="jt-zhang", password="transport-viewer") as asker:
        purpose = "道路交通事故 2026-1125 号：调看路口实时视频"
        request = {"scopes": [{"kind": "channel", "id": channel}], "actions": ["live", "export"]}
        asker.post("/api/v1/access-requests", {**request, **window, "purpose": purpose})


def access(shots: Shots, channel: str) -> None:
    """The approvals inbox, grants, administration and the auditor's pages."""
    seed_access(shots.url, channel)
    page = shots.page
    page.click("[data-testid=nav-requests]")
    page.wait_for_selector("[data-testid^=inbox-row-]")
    shots.save("requests")
    page.click("[data-testid=nav-grants]")
    page.wait_for_selector("[data-testid^=grant-row-]")
    shots.save("grants")
    page.click("[data-testid=nav-admin]")
    page.wait_for_selector("[data-testid^=department-]")
    shots.save("admin-departments")
    page.click("[data-testid=admin-tab-users]")
    page.wait_for_selector("[data-testid=user-jt-zhang]")
    shots.save("admin-users")
    page.click("[data-testid=nav-audit]")
    page.wait_for_selector("[data-testid^=audit-record-]")
    shots.save("audit")
    page.click("[data-testid=audit-tab-channel]")
    page.wait_for_selector("[data-testid=audit-summary]")
    page.click("[data-testid=audit-verify]")
    page.wait_for_selector("[data-testid=audit-verify-result]", timeout=20_000)
    shots.save("audit-summary")


def shoot(out: Path, language: str) -> list[Path]:
    """Start the demo, visit each page, and write the PNGs; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sightline-shots-") as tmp:
        server = start_sightline(
            Path(tmp),
            command=("demo", "--ipcs", "4", "--nvr-channels", "8"),
            env={
                "SIGHTLINE_ADMIN__PASSWORD": PASSWORD,
                "SIGHTLINE_MEDIA__RTP_PORTS": "31400-31499",
            },
        )
        try:
            channels = online_channels(server.http_url, 4)
            with chromium() as browser:
                shots = Shots(
                    browser.new_page(viewport=VIEWPORT, locale=language), server.http_url, out
                )
                login(shots)
                wall(shots, channels)
                pages(shots)
                playback(shots, channels[0])
                access(shots, channels[0])
                shots.page.close()
        finally:
            server.stop()
    return shots.saved


def main() -> None:
    """Command line: ``screenshots.py [OUT_DIR] [--language zh-CN]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--language", default="zh-CN", help="browser locale (zh-CN or en-US)")
    args = parser.parse_args()
    shoot(args.out, args.language)


if __name__ == "__main__":
    main()
