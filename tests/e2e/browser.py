"""Headless Debian Chromium driven by Playwright, for whole-system tests of the web pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Response

CHROMIUM = Path("/usr/bin/chromium")
# No traffic beyond 127.0.0.1: Chromium's background services (updates, sync, QUIC probes)
# are switched off, and Playwright's own browser downloads are never used.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_browser() -> None:
    """Skip the calling test unless Debian's Chromium and the playwright package are present."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian/Ubuntu: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is missing (pip install playwright)")


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for one test; closed on exit."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class ConsoleLog:
    """Everything a page wrote to its console, and the exceptions it did not catch."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        """Start recording ``page``'s console messages and uncaught errors."""
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        line = f"{message.type}: {message.text} ({message.location.get('url', '?')})"
        self.lines.append(line)
        if message.type == "error":
            self.errors.append(line)

    def _on_response(self, response: Response) -> None:
        # The console's "Failed to load resource" line does not say which one; this does.
        if response.status >= 400:
            self.lines.append(f"http {response.status}: {response.url}")

    def _on_page_error(self, error: Error) -> None:
        self.errors.append(f"uncaught: {error.message}")
