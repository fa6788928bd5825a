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

# Draws a <video>'s current frame into a canvas and summarises its pixels: its size, the
# share of pixels brighter than luma 32, and the mean luma. Evaluate on the video element.
FRAME_STATS_JS = """(video) => {
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let lit = 0, sum = 0;
  for (let i = 0; i < data.length; i += 4) {
    const luma = (data[i] * 299 + data[i + 1] * 587 + data[i + 2] * 114) / 1000;
    sum += luma;
    if (luma > 32) lit += 1;
  }
  const pixels = data.length / 4;
  return { width: canvas.width, height: canvas.height, lit: lit / pixels, mean: sum / pixels };
}"""

# A JS statement defining ``readTimeRow(video)``: the Unix ms the simulator wrote into the time
# row of the frame a <video> shows now (sightline.sim.video's layout for 640x360: cells of
# width // 56 pixels, the row one cell from the top, two guard cells each side, 44 bits of Unix
# ms), with the row's black/white contrast and the frame width. Put it at the top of an
# evaluated function's body.
READ_TIME_ROW_JS = """const readTimeRow = (video) => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0);
    const cell = Math.floor(canvas.width / 56);
    const inner = Math.max(1, Math.floor(cell / 4));
    const means = [];
    for (let k = 0; k < 52; k++) {
      const x0 = (2 + k) * cell + inner;
      const pixels = ctx.getImageData(x0, cell + inner, cell - 2 * inner, cell - 2 * inner).data;
      let sum = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        sum += 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
      }
      means.push(sum / (pixels.length / 4));
    }
    const white = (means[0] + means[51]) / 2, black = (means[1] + means[50]) / 2;
    const threshold = (white + black) / 2;
    let value = 0;
    for (let k = 2; k < 46; k++) value = value * 2 + (means[k] > threshold ? 1 : 0);
    return { value, contrast: white - black, width: canvas.width };
  };
"""
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
