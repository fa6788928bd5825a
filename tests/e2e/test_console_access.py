"""The access approval flow by two users in two Chromium contexts against ``sightline demo``.

The admin (through the API) sets up a police department owning the simulated camera and a
transport department with a viewer; the police department has its own admin. The transport
viewer cannot open the police camera (the tile shows the 403 reason), files a request with a
purpose on the requests page; the police admin sees it in the inbox and approves it; the
viewer's tile then plays; the police admin revokes the grant on the grants page and the
viewer's running view stops within seconds, saying why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from sightline.api.console import CONSOLE_DIR
from tests.e2e.browser import ConsoleLog, chromium, require_browser
from tests.e2e.server import SightlineProcess, start_sightline

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "console-access-admin-pw"
POLICE_ADMIN = ("police-admin", "police-admin-pw")
VIEWER = ("transport-viewer", "transport-viewer-pw")
AUDITOR = ("auditor", "auditor-password")
PURPOSE = "traffic accident 2026-1125 on the ring road: check the junction camera"
TILE_PLAYING_JS = """() => {
  const tile = document.querySelector("[data-testid=tile-0]");
  const video = tile && tile.querySelector("video");
  return !!video && tile.dataset.state === "playing" && video.readyState >= 2
    && video.currentTime > 0;
}"""


@dataclass(frozen=True)
class Agency:
    """A running demo with the departments, users and channel ownership of the flow."""

    server: SightlineProcess
    channel: str
    police: int
    transport: int

    @property
    def url(self) -> str:
        """The console's base URL."""
        return self.server.http_url


@contextmanager
def login_api(server: SightlineProcess, username: str, password: str) -> Iterator[httpx.Client]:
    """An HTTP client logged in as ``username``, closed on exit."""
    with httpx.Client(base_url=server.http_url, timeout=20) as client:
        body = {"username": username, "password": password}
        token = call(client, "POST", "/api/v1/auth/login", 200, json=body)["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def call(client: httpx.Client, method: str, path: str, status: int, **kw: Any) -> Any:
    """Send a request and check its status; the decoded body (None for 204)."""
    resp = client.request(method, path, **kw)
    assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
    return None if resp.status_code == 204 else resp.json()


def start_agency(data_dir: Path, rtp_ports: str) -> Agency:
    """``sightline demo`` with one camera, owned by police; transport has a viewer."""
    require_browser()
    if not (CONSOLE_DIR / "index.html").is_file():
        pytest.skip(f"the web console is not built in {CONSOLE_DIR}: run `make console`")
    server = start_sightline(
        data_dir,
        command=("demo", "--ipcs", "1", "--nvr-channels", "0"),
        env={"SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD, "SIGHTLINE_MEDIA__RTP_PORTS": rtp_ports},
    )
    try:
        with login_api(server, "admin", ADMIN_PASSWORD) as admin:
            deadline = time.monotonic() + 30
            items: list[dict[str, Any]] = []
            while not items:
                assert time.monotonic() < deadline, "the demo camera never registered"
                items = call(admin, "GET", "/api/v1/channels", 200)["items"]
                time.sleep(0.2)
            channel = str(items[0]["id"])
            police = call(
                admin, "POST", "/api/v1/departments", 201, json={"name": "公安局", "parent_id": 1}
            )["id"]
            transport = call(
                admin, "POST", "/api/v1/departments", 201, json={"name": "交通局", "parent_id": 1}
            )["id"]
            ownership = {
                "department_id": police,
                "classification": "public_security",
                "sharing": "none",
            }
            call(admin, "PUT", f"/api/v1/channels/{channel}/ownership", 200, json=ownership)
            for (name, password), dep, role in (
                (POLICE_ADMIN, police, "department_admin"),
                (VIEWER, transport, "viewer"),
                (AUDITOR, 1, "auditor"),
            ):
                user = {"username": name, "password": password, "department_id": dep}
                call(admin, "POST", "/api/v1/users", 201, json={**user, "roles": [role]})
    except BaseException:
        server.stop()
        raise
    return Agency(server, channel, police, transport)


def stop_agency(agency: Agency) -> None:
    """Stop the server; it must end cleanly with nothing unhandled in its log."""
    code = agency.server.stop()
    assert code == 0, agency.server.log()[-3000:]
    assert agency.server.log_problems() == [], agency.server.log()[-5000:]


def open_console(
    browser: Browser, agency: Agency, user: tuple[str, str], log: ConsoleLog, path: str
) -> Page:
    """A fresh browser context (its own session) logged in as ``user``, showing ``path``."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    log.watch(page)
    page.goto(f"{agency.url}{path}")
    page.wait_for_selector("[data-testid=login-form]", timeout=10_000)
    page.fill("[data-testid=login-username]", user[0])
    page.fill("[data-testid=login-password]", user[1])
    page.click("[data-testid=login-submit]")
    # The navigation shows the entries of this user's rights once it knows who logged in.
    page.wait_for_selector(f"[data-testid=access-nav][data-user='{user[0]}']", timeout=10_000)
    return page


@pytest.fixture(scope="module")
def agency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agency]:
    """The demo with the flow's departments and users."""
    running = start_agency(tmp_path_factory.mktemp("console-access"), "33100-33149")
    try:
        yield running
    finally:
        stop_agency(running)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A headless Chromium for one test."""
    with chromium() as b:
        yield b


def test_two_users_request_approve_play_and_revoke(agency: Agency, browser: Browser) -> None:
    channel = agency.channel
    # The viewer's saved wall holds the police camera (e.g. from a colleague's layout).
    with login_api(agency.server, *VIEWER) as viewer_api:
        layout = {"wall": {"splits": 1, "tiles": [channel]}}
        call(viewer_api, "PUT", "/api/v1/me/preferences", 200, json=layout)

    viewer_log, admin_log = ConsoleLog(), ConsoleLog()
    viewer = open_console(browser, agency, VIEWER, viewer_log, "/wall")
    # A viewer sees the requests page only: no grants, administration or audit.
    assert viewer.locator("[data-testid=nav-requests]").is_visible()
    for hidden in ("grants", "admin", "audit"):
        assert viewer.locator(f"[data-testid=nav-{hidden}]").count() == 0
    viewer.wait_for_selector("[data-testid=tile-0][data-state=error]", timeout=15_000)
    status = viewer.inner_text("[data-testid=tile-0] [data-testid=tile-status]")
    assert "403" in status and "access-requests" in status and "公安局" in status, status

    # The viewer asks for live video of that camera, saying why.
    viewer.click("[data-testid=nav-requests]")
    viewer.wait_for_selector("[data-testid=request-form]")
    assert viewer.locator("[data-testid=inbox]").count() == 0  # decides nothing
    viewer.fill("[data-testid=request-ids]", channel)
    viewer.fill("[data-testid=request-purpose]", PURPOSE)
    viewer.click("[data-testid=request-submit]")
    notice = viewer.locator("[data-testid=request-notice]")
    notice.wait_for(timeout=10_000)
    assert "公安局" in notice.inner_text()
    mine = viewer.locator("[data-testid^=mine-row-]")
    mine.wait_for()
    assert mine.count() == 1 and mine.get_attribute("data-state") == "pending"
    request_id = int(str(mine.get_attribute("data-testid")).rsplit("-", 1)[1])

    # The police admin, in a second context: the badge counts the request; approve it.
    police = open_console(browser, agency, POLICE_ADMIN, admin_log, "/wall")
    police.wait_for_selector("[data-testid=notifications-badge]", timeout=10_000)
    assert police.locator("[data-testid=nav-grants]").is_visible()
    assert police.locator("[data-testid=nav-admin]").is_visible()
    assert police.locator("[data-testid=nav-audit]").count() == 0
    police.click("[data-testid=notifications]")
    assert PURPOSE in police.inner_text("[data-testid=notifications-list]")
    police.click("[data-testid=notifications-read]")
    police.wait_for_selector("[data-testid=notifications-badge]", state="detached")
    police.click("[data-testid=nav-requests]")
    row = police.locator(f"[data-testid=inbox-row-{request_id}]")
    row.wait_for(timeout=10_000)
    assert PURPOSE in row.inner_text() and channel in row.inner_text()
    police.fill(f"[data-testid=inbox-comment-{request_id}]", "approved for the accident case")
    police.click(f"[data-testid=inbox-approve-{request_id}]")
    police.wait_for_selector("[data-testid=inbox-empty]", timeout=10_000)

    # The viewer is told (the badge) and the request shows approved; the camera plays now.
    viewer.reload()
    viewer.wait_for_selector("[data-testid=notifications-badge]", timeout=15_000)
    viewer.wait_for_selector(f"[data-testid=mine-row-{request_id}][data-state=approved]")
    assert "approved for the accident case" in viewer.inner_text(
        f"[data-testid=mine-row-{request_id}]"
    )
    my_grant = viewer.locator("[data-testid=my-grants]")
    assert channel in my_grant.inner_text() and "masked only" in my_grant.inner_text()
    viewer.click("[data-testid=nav-wall]")
    viewer.wait_for_function(TILE_PLAYING_JS, timeout=25_000)
    video = viewer.locator("[data-testid=tile-0] video")
    started = float(video.evaluate("v => v.currentTime"))
    viewer.wait_for_function(
        "t => document.querySelector('[data-testid=tile-0] video').currentTime > t + 1",
        arg=started,
        timeout=10_000,
    )

    # The police admin revokes the grant the approval created; the running view stops.
    police.click("[data-testid=nav-grants]")
    grant = police.locator(f"[data-testid^=grant-row-][data-scope='{channel}']")
    grant.wait_for(timeout=10_000)
    assert grant.get_attribute("data-status") == "active"
    assert f"#{request_id}" in grant.inner_text()
    grant_id = str(grant.get_attribute("data-testid")).removeprefix("grant-row-")
    police.click(f"[data-testid=grant-revoke-{grant_id}]")
    police.click(f"[data-testid=grant-revoke-confirm-{grant_id}]")
    revoked_at = time.monotonic()
    police.wait_for_selector("[data-testid=grants-empty]", timeout=10_000)
    viewer.wait_for_selector("[data-testid=tile-0][data-state=error]", timeout=10_000)
    stopped_after = time.monotonic() - revoked_at
    status = viewer.inner_text("[data-testid=tile-0] [data-testid=tile-status]")
    assert "access revoked" in status and "403" in status, status
    assert stopped_after < 6.0, stopped_after
    police.check("[data-testid=grants-include-revoked]")
    police.wait_for_selector(f"[data-testid=grant-row-{grant_id}][data-status=revoked]")

    viewer.context.close()
    police.context.close()
    # The viewer's refused live request is the one expected complaint.
    assert [e for e in viewer_log.errors if "403" not in e] == [], viewer_log.lines
    assert admin_log.errors == [], admin_log.lines


def test_admin_pages_manage_departments_users_ownership_and_grants(
    agency: Agency, browser: Browser
) -> None:
    log = ConsoleLog()
    page = open_console(browser, agency, ("admin", ADMIN_PASSWORD), log, "/admin")
    for shown in ("requests", "grants", "admin", "audit"):
        assert page.locator(f"[data-testid=nav-{shown}]").is_visible()
    page.wait_for_selector(f"[data-testid=department-{agency.police}]")

    # Departments: add two below the root, rename one, delete the other.
    for name in ("应急管理局", "临时专班"):
        page.fill("[data-testid=department-name]", name)
        page.select_option("[data-testid=department-parent]", "1")
        page.click("[data-testid=department-create]")
        page.wait_for_selector(f"[data-testid^=department-]:has-text('{name}')")
    with login_api(agency.server, "admin", ADMIN_PASSWORD) as admin:
        ids = {d["name"]: d["id"] for d in call(admin, "GET", "/api/v1/departments", 200)}
    emergency, temporary = ids["应急管理局"], ids["临时专班"]
    page.click(f"[data-testid=department-edit-{emergency}]")
    page.fill("[data-testid=department-edit-name]", "应急管理局（县）")
    page.fill("[data-testid=department-edit-prefix]", "3402")
    page.click("[data-testid=department-save]")
    page.wait_for_selector(f"[data-testid=department-{emergency}]:has-text('应急管理局（县）')")
    page.click(f"[data-testid=department-delete-{temporary}]")
    page.click(f"[data-testid=department-delete-confirm-{temporary}]")
    page.wait_for_selector(f"[data-testid=department-{temporary}]", state="detached")

    # Users: add one with a department and two roles, disable, set a new password.
    page.click("[data-testid=admin-tab-users]")
    page.fill("[data-testid=user-username]", "em-operator")
    page.fill("[data-testid=user-display]", "值班员")
    page.fill("[data-testid=user-password]", "first-password")
    page.select_option("[data-testid=user-department]", str(emergency))
    page.check("[data-testid=user-role-operator]")
    page.click("[data-testid=user-create]")
    user_row = page.locator("[data-testid=user-em-operator]")
    user_row.wait_for()
    assert "应急管理局（县）" in user_row.inner_text() and "operator" in user_row.inner_text()
    page.click("[data-testid=user-toggle-em-operator]")
    page.wait_for_selector("[data-testid=user-em-operator][data-disabled=true]")
    page.click("[data-testid=user-toggle-em-operator]")
    page.wait_for_selector("[data-testid=user-em-operator][data-disabled=false]")
    page.click("[data-testid=user-password-em-operator]")
    page.fill("[data-testid=user-new-password]", "second-password")
    page.click("[data-testid=user-password-save]")
    page.wait_for_selector("[data-testid=users-notice]")
    with login_api(agency.server, "em-operator", "second-password") as operator:
        me = call(operator, "GET", "/api/v1/me", 200)
    assert sorted(me["roles"]) == ["operator", "viewer"] and me["department"]["id"] == emergency

    # Channel ownership: classify the camera and share it with every department.
    page.click("[data-testid=admin-tab-channels]")
    page.fill("[data-testid=ownership-channel]", agency.channel)
    page.click("[data-testid=ownership-find]")
    page.wait_for_selector("[data-testid=ownership-form]")
    assert page.input_value("[data-testid=ownership-department]") == str(agency.police)
    page.select_option("[data-testid=ownership-classification]", "department_private")
    assert page.is_disabled("[data-testid=ownership-sharing]")
    page.select_option("[data-testid=ownership-classification]", "public_security")
    page.select_option("[data-testid=ownership-sharing]", "all")
    page.click("[data-testid=ownership-save]")
    page.wait_for_selector("[data-testid=ownership-notice]")
    with login_api(agency.server, "admin", ADMIN_PASSWORD) as admin:
        path = f"/api/v1/channels/{agency.channel}/ownership"
        owner = call(admin, "GET", path, 200)
        assert (owner["department_id"], owner["sharing"]) == (agency.police, "all"), owner
        restore = {"department_id": agency.police, "classification": "public_security"}
        call(admin, "PUT", path, 200, json={**restore, "sharing": "none"})

    # Grants: give the new department masked live and playback in region 3402, then revoke.
    page.click("[data-testid=nav-grants]")
    page.wait_for_selector("[data-testid=grant-form]")
    page.select_option("[data-testid=grant-grantee]", str(emergency))
    page.select_option("[data-testid=grant-kind]", "region")
    page.fill("[data-testid=grant-scope]", "3402")
    page.check("[data-testid=grant-action-playback]")
    page.click("[data-testid=grant-submit]")
    page.wait_for_selector("[data-testid=grant-notice]")
    grant = page.locator("[data-testid^=grant-row-][data-scope='3402']")
    assert grant.get_attribute("data-status") == "active"
    assert "应急管理局（县）" in grant.inner_text() and "masked only" in grant.inner_text()
    with login_api(agency.server, "em-operator", "second-password") as operator:
        held = call(operator, "GET", "/api/v1/me", 200)["grants"]
    assert [(g["scope"]["id"], sorted(g["actions"])) for g in held] == [
        ("3402", ["live", "playback"])
    ]
    grant_id = str(grant.get_attribute("data-testid")).removeprefix("grant-row-")
    page.fill("[data-testid=grants-filter]", "3402")
    page.click(f"[data-testid=grant-revoke-{grant_id}]")
    page.click(f"[data-testid=grant-revoke-confirm-{grant_id}]")
    page.wait_for_selector(f"[data-testid=grant-row-{grant_id}]", state="detached")
    page.context.close()
    assert log.errors == [], log.lines


def test_export_needs_two_approvals_and_requests_can_be_rejected_or_withdrawn(
    agency: Agency, browser: Browser
) -> None:
    second = ("police-admin-2", "police-admin-2-pw")
    with login_api(agency.server, "admin", ADMIN_PASSWORD) as admin:
        body = {"username": second[0], "password": second[1], "department_id": agency.police}
        call(admin, "POST", "/api/v1/users", 201, json={**body, "roles": ["department_admin"]})
    viewer_log, first_log, second_log = ConsoleLog(), ConsoleLog(), ConsoleLog()
    viewer = open_console(browser, agency, VIEWER, viewer_log, "/requests")

    def ask(actions: list[str], purpose: str) -> int:
        viewer.fill("[data-testid=request-ids]", agency.channel)
        for action in ("live", "playback", "ptz", "export"):
            viewer.set_checked(f"[data-testid=request-action-{action}]", action in actions)
        viewer.fill("[data-testid=request-purpose]", purpose)
        viewer.click("[data-testid=request-submit]")
        viewer.wait_for_selector(f"[data-testid^=mine-row-]:has-text('{purpose}')")
        row = viewer.locator(f"[data-testid^=mine-row-]:has-text('{purpose}')")
        return int(str(row.get_attribute("data-testid")).rsplit("-", 1)[1])

    export = ask(["export"], "export the accident clip for the court file")
    rejected = ask(["ptz"], "turn the camera towards the bridge")
    withdrawn = ask(["playback"], "asked by mistake, will withdraw")
    viewer.click(f"[data-testid=mine-withdraw-{withdrawn}]")
    viewer.wait_for_selector(f"[data-testid=mine-row-{withdrawn}][data-state=withdrawn]")

    first = open_console(browser, agency, POLICE_ADMIN, first_log, "/requests")
    first.wait_for_selector(f"[data-testid=inbox-row-{export}]")
    assert first.locator(f"[data-testid=inbox-row-{withdrawn}]").count() == 0
    assert "0 / 2" in first.inner_text(f"[data-testid=inbox-row-{export}]")
    first.click(f"[data-testid=inbox-approve-{export}]")
    first.wait_for_selector(f"[data-testid=inbox-row-{export}]:has-text('1 / 2')")
    assert first.locator(f"[data-testid=inbox-approve-{export}]").count() == 0  # not twice
    first.fill(f"[data-testid=inbox-comment-{rejected}]", "PTZ stays with the police")
    first.click(f"[data-testid=inbox-reject-{rejected}]")
    first.wait_for_selector(f"[data-testid=inbox-row-{rejected}]", state="detached")

    second_page = open_console(browser, agency, second, second_log, "/requests")
    second_page.click(f"[data-testid=inbox-approve-{export}]")
    second_page.wait_for_selector(f"[data-testid=inbox-row-{export}]", state="detached")

    viewer.reload()
    viewer.wait_for_selector(f"[data-testid=mine-row-{export}][data-state=approved]")
    viewer.wait_for_selector(f"[data-testid=mine-row-{rejected}][data-state=rejected]")
    assert "PTZ stays with the police" in viewer.inner_text(f"[data-testid=mine-row-{rejected}]")
    with login_api(agency.server, *VIEWER) as viewer_api:
        held = call(viewer_api, "GET", "/api/v1/me", 200)["grants"]
    assert [g["actions"] for g in held if g["request_id"] == export] == [["export"]]
    for page in (viewer, first, second_page):
        page.context.close()
    assert first_log.errors == [] and second_log.errors == [], first_log.lines + second_log.lines
    assert viewer_log.errors == [], viewer_log.lines
