"""Playback in a real browser: a session's fMP4 over WebSocket into Chromium's Media Source
Extensions, the shown frame drawn on a canvas, and the recorded instant read from the
simulator's time row (black/white cells) by the page itself."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.browser import READ_TIME_ROW_JS, ConsoleLog, chromium, require_browser
from tests.e2e.records_support import demo_node, full_hour_file, iso

pytestmark = pytest.mark.e2e

# Plays a playback WebSocket URL in a <video> through MSE; after ``waitS`` seconds of play,
# reads the time row of the shown frame (READ_TIME_ROW_JS) and returns it with the playing state.
PLAY_AND_READ_JS = (
    """async ([url, waitS]) => {
  """
    + READ_TIME_ROW_JS
    + """
  const video = document.createElement("video");
  video.muted = true;
  document.body.appendChild(video);
  const source = new MediaSource();
  video.src = URL.createObjectURL(source);
  await new Promise((ok) => source.addEventListener("sourceopen", ok, { once: true }));
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  let buffer = null;
  const queue = [];
  const pump = () => {
    if (buffer && !buffer.updating && queue.length) buffer.appendBuffer(queue.shift());
  };
  const messages = [];
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      const message = JSON.parse(event.data);
      messages.push(message);
      if (message.type === "init" && !buffer) {
        buffer = source.addSourceBuffer(message.mime_type);
        buffer.addEventListener("updateend", pump);
      }
      return;
    }
    queue.push(event.data);
    pump();
  };
  const started = performance.now();
  while (video.readyState < 2 && performance.now() - started < 15000) {
    await new Promise((ok) => setTimeout(ok, 100));
    if (buffer && buffer.buffered.length && video.paused) {
      video.currentTime = buffer.buffered.start(0);
      video.play().catch(() => {});
    }
  }
  await new Promise((ok) => setTimeout(ok, waitS * 1000));
  const row = readTimeRow(video);
  ws.close();
  return { unixMs: row.value, contrast: row.contrast, width: row.width,
           playing: !video.paused, currentTime: video.currentTime, messages };
}"""
)


def test_chromium_plays_a_recording_at_the_asked_time(tmp_path: Path) -> None:
    require_browser()
    console = ConsoleLog()
    with demo_node(tmp_path, "31700-31799") as node:
        recorded = full_hour_file(node.channel_id)
        start = recorded.start + 2400
        opened = time.monotonic()  # the device starts sending when the session opens
        session = node.api.post(
            f"/api/v1/channels/{node.channel_id}/playback",
            {"start": iso(start), "end": iso(start + 60)},
        )
        with chromium() as browser:
            page = browser.new_page()
            console.watch(page)
            page.goto(f"{node.server.http_url}/player/")
            seen = page.evaluate(PLAY_AND_READ_JS, [session["urls"]["ws"], 2])
            waited = time.monotonic() - opened
            page.close()
    assert seen["width"] == 640 and seen["contrast"] > 100, seen
    assert seen["playing"] and seen["currentTime"] > 1, seen
    shown = seen["unixMs"] / 1000
    # the picture shows the asked recording, as far in as the session has been running
    assert start <= shown <= start + waited + 1, (shown, start, waited)
    assert {"type": "status", "state": "playing"} in seen["messages"]
    assert console.errors == [], console.lines
