"""The auditor's pages in Debian Chromium: the trail of an approval flow, summaries, CSV, verify.

The flow runs through the API against ``sightline demo`` (the transport viewer is refused,
asks, the police admin approves, the viewer watches the camera over the WebSocket); then an
auditor searches the trail in the console, opens the per-camera and per-department views,
downloads the CSV and verifies the hash chain.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import websockets

from tests.e2e.browser import ConsoleLog, chromium
from tests.e2e.test_console_access import (
    AUDITOR,
    POLICE_ADMIN,
    PURPOSE,
    VIEWER,
    Agency,
    call,
    login_api,
    open_console,
    start_agency,
    stop_agency,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e


async def _watch(ws_url: str, fragments: int) -> int:
    """Receive ``fragments`` video fragments, then close the view; how many arrived."""
    seen = 0
    async with websockets.connect(ws_url, max_size=None) as ws:
        while seen < fragments:
            if isinstance(await asyncio.wait_for(ws.recv(), 15), bytes):
                seen += 1
    return seen


def run_flow(agency: Agency) -> int:
    """Refused, request, approval, a real view; the request's ID."""
    live = f"/api/v1/channels/{agency.channel}/live"
    now = datetime.now(UTC)
    with login_api(agency.server, *VIEWER) as viewer:
        call(viewer, "POST", live, 403)
        body = {
            "scopes": [{"kind": "channel", "id": agency.channel}],
            "actions": ["live"],
            "purpose": PURPOSE,
            "not_before": now.isoformat(),
            "not_after": (now + timedelta(hours=2)).isoformat(),
        }
        request_id = int(call(viewer, "POST", "/api/v1/access-requests", 201, json=body)["id"])
        with login_api(agency.server, *POLICE_ADMIN) as police:
            decided = call(
                police,
                "POST",
                f"/api/v1/access-requests/{request_id}/approve",
                200,
                json={"comment": "ok for the case"},
            )
            assert decided["state"] == "approved", decided
        ws_url = call(viewer, "POST", live, 200)["urls"]["ws"]
        assert asyncio.run(_watch(ws_url, 5)) == 5
    return request_id


@pytest.fixture(scope="module")
def agency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agency]:
    """The demo with the flow's departments and users, after the flow ran."""
    running = start_agency(tmp_path_factory.mktemp("console-audit"), "33150-33199")
    try:
        run_flow(running)
        yield running
    finally:
        stop_agency(running)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A headless Chromium for one test."""
    with chromium() as b:
        yield b


def test_auditor_searches_summarises_exports_and_verifies(agency: Agency, browser: Browser) -> None:
    log = ConsoleLog()
    page = open_console(browser, agency, AUDITOR, log, "/audit")
    assert page.locator("[data-testid=nav-audit]").is_visible()
    for hidden in ("grants", "admin"):
        assert page.locator(f"[data-testid=nav-{hidden}]").count() == 0
    page.wait_for_selector("[data-testid^=audit-record-]", timeout=10_000)

    # The whole flow is in the trail: refusal, logins, request, approval, the view.
    page.fill("[data-testid=audit-user]", VIEWER[0])
    page.click("[data-testid=audit-search]")
    page.wait_for_function(
        "u => [...document.querySelectorAll('[data-testid^=audit-record-]')]"
        ".every(r => r.dataset.user === u)",
        arg=VIEWER[0],
    )
    rows = page.locator("[data-testid^=audit-record-]")
    actions = set(rows.evaluate_all("rs => rs.map(r => r.dataset.action)"))
    assert {"login", "denied", "request.create", "live.start"} <= actions, actions
    text = page.inner_text("[data-testid=audit-records]")
    assert agency.channel in text and PURPOSE in text

    page.fill("[data-testid=audit-user]", POLICE_ADMIN[0])
    page.select_option("[data-testid=audit-outcome]", "ok")
    page.click("[data-testid=audit-search]")
    page.wait_for_selector("[data-testid^=audit-record-][data-action='request.decide']")
    # A click opens a record's detail and hash.
    page.click("[data-testid^=audit-record-][data-action='request.decide']")
    opened = page.inner_text("[data-testid=audit-records]")
    assert '"approve": true' in opened and PURPOSE in opened, opened

    # Per camera and per department: counts by action; a click drills into the records.
    page.fill("[data-testid=audit-user]", "")
    page.select_option("[data-testid=audit-outcome]", "")
    page.click("[data-testid=audit-tab-channel]")
    camera = page.locator(f"[data-testid=audit-summary-{agency.channel}]")
    camera.wait_for(timeout=10_000)
    assert "live.start" in camera.inner_text()
    page.click("[data-testid=audit-tab-department]")
    page.wait_for_selector("[data-testid=audit-summary]")
    assert "交通局" in page.inner_text("[data-testid=audit-summary]")
    page.click("[data-testid=audit-tab-channel]")
    camera.click()
    page.wait_for_selector("[data-testid=audit-tab-records].active")
    page.wait_for_selector("[data-testid^=audit-record-]")
    channels = page.locator("[data-testid^=audit-record-] td:nth-child(7)").all_inner_texts()
    assert channels and set(channels) == {agency.channel}, channels

    # CSV of what the filters match, downloaded with the auditor's token.
    with page.expect_download() as download:
        page.click("[data-testid=audit-export]")
    assert download.value.suggested_filename.endswith(".csv")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert table and {r["channel_id"] for r in table} == {agency.channel}
    assert {"denied", "request.create", "request.decide", "live.start"} <= {
        r["action"] for r in table
    }
    assert any(r["purpose"] == PURPOSE for r in table)

    page.click("[data-testid=audit-verify]")
    result = page.locator("[data-testid=audit-verify-result]")
    result.wait_for(timeout=20_000)
    assert result.get_attribute("data-ok") == "true", result.inner_text()
    assert "Chain OK" in result.inner_text()
    page.context.close()
    assert log.errors == [], log.lines

    # In Chinese for a browser that asks for it.
    zh_log = ConsoleLog()
    context = browser.new_context(locale="zh-CN")
    zh = context.new_page()
    zh_log.watch(zh)
    zh.goto(f"{agency.url}/audit")
    zh.fill("[data-testid=login-username]", AUDITOR[0])
    zh.fill("[data-testid=login-password]", AUDITOR[1])
    zh.click("[data-testid=login-submit]")
    zh.wait_for_selector(f"[data-testid=access-nav][data-user='{AUDITOR[0]}']")
    zh.wait_for_selector("[data-testid^=audit-record-]", timeout=10_000)
    assert zh.inner_text("[data-testid=audit-verify]") == "校验哈希链"
    assert zh.inner_text("[data-testid=nav-audit]") == "审计"
    context.close()
    assert zh_log.errors == [], zh_log.lines
