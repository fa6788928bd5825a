"""A camera with a microphone, end to end: `sightline demo --audio g711a` (the simulator sends
G.711 A-law inside its PS stream), heard through fMP4 (AAC, decoded by PyAV), RTSP (PCMA, read
by FFmpeg) and Debian Chromium (Media Source Extensions decode the audio track)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import websockets

from tests.e2e.browser import ConsoleLog, chromium, require_browser
from tests.e2e.server import SightlineProcess, start_sightline

pytestmark = pytest.mark.e2e

PASSWORD = "audio-admin"


@dataclass
class Demo:
    server: SightlineProcess
    headers: dict[str, str]
    channel: str

    def grant(self, **params: str) -> dict[str, object]:
        """``POST /live`` for the channel."""
        url = f"{self.server.http_url}/api/v1/channels/{self.channel}/live"
        response = httpx.post(url, headers=self.headers, params=params, timeout=20)
        assert response.status_code == 200, response.text
        body = response.json()
        assert isinstance(body, dict)
        return body

    def live(self) -> dict[str, object]:
        """A fresh play grant's URLs."""
        urls = self.grant()["urls"]
        assert isinstance(urls, dict)
        return urls


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    server = start_sightline(
        tmp_path_factory.mktemp("audio"),
        command=("demo", "--ipcs", "1", "--nvr-channels", "0", "--audio", "g711a"),
        env={"SIGHTLINE_ADMIN__PASSWORD": PASSWORD, "SIGHTLINE_MEDIA__RTP_PORTS": "31700-31799"},
    )
    try:
        token = httpx.post(
            f"{server.http_url}/api/v1/auth/login",
            json={"username": "admin", "password": PASSWORD},
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline, items = time.monotonic() + 30, list[dict[str, Any]]()
        while time.monotonic() < deadline and not items:
            items = httpx.get(
                f"{server.http_url}/api/v1/channels", headers=headers, timeout=10
            ).json()["items"]
            time.sleep(0.3)
        assert items, "the demo camera never registered"
        yield Demo(server, headers, str(items[0]["id"]))
    finally:
        assert server.stop() == 0
    assert server.log_problems() == []


async def _collect_ws(url: str, fragments: int) -> tuple[bytes, list[dict[str, object]]]:
    data, texts, seen = bytearray(), [], 0
    async with websockets.connect(url, max_size=None) as ws:
        while seen < fragments:
            message = await asyncio.wait_for(ws.recv(), 15)
            if isinstance(message, str):
                texts.append(json.loads(message))
            else:
                data += message
                seen += 1
    return bytes(data), texts


def _decode(data: bytes) -> tuple[list[av.VideoFrame], np.ndarray, set[int]]:
    with av.open(io.BytesIO(data), "r", format="mp4") as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        video = list(container.decode(video=0))
        container.seek(0)
        sound = list(container.decode(audio=0))
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in sound])
    return video, samples, {f.sample_rate for f in sound}


@pytest.mark.parametrize("query", ["", "&codec=h264"])
def test_websocket_fmp4_carries_the_cameras_audio_as_aac(demo: Demo, query: str) -> None:
    # &codec=h264: the H.264 variant (for browsers without HEVC) keeps the audio too
    data, texts = asyncio.run(_collect_ws(str(demo.live()["ws"]) + query, 90))
    inits = [t for t in texts if t.get("type") == "init"]
    assert inits and str(inits[0]["mime_type"]).endswith(', mp4a.40.2"'), texts
    video, samples, rates = _decode(data)
    assert len(video) >= 30 and (video[0].width, video[0].height) == (640, 360)
    assert rates == {16000}
    assert len(samples) > 16000  # more than a second of sound
    assert float(np.sqrt(np.mean(samples[4000:] ** 2))) > 0.1  # the tone, not silence


def test_waiting_for_the_stream_names_the_audio_codec(demo: Demo) -> None:
    mime = demo.grant(wait="true")["mime_type"]
    assert isinstance(mime, str) and mime.startswith('video/mp4; codecs="avc1.'), mime
    assert mime.endswith(', mp4a.40.2"'), mime


def test_http_fmp4_carries_it_too(demo: Demo) -> None:
    data = bytearray()
    with httpx.stream("GET", str(demo.live()["http"]), timeout=20) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            data += chunk
            if data.count(b"moof") >= 90:
                break
    video, samples, rates = _decode(bytes(data))
    assert len(video) >= 30 and rates == {16000} and len(samples) > 16000


def test_rtsp_gives_ffmpeg_the_g711_as_it_came(demo: Demo) -> None:
    url = str(demo.live()["rtsp"])
    options = {"rtsp_transport": "tcp", "timeout": "10000000"}
    with av.open(url, options=options, timeout=15) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        audio = container.streams.audio[0].codec_context
        assert (audio.name, audio.sample_rate) == ("pcm_alaw", 8000)
        samples: list[np.ndarray] = []
        for frame in container.decode(audio=0):
            samples.append(frame.to_ndarray().reshape(-1))
            if sum(len(s) for s in samples) >= 8000:
                break
    pcm = np.concatenate(samples).astype(np.float64)
    assert float(np.sqrt(np.mean(pcm**2))) > 4000  # a quarter of full scale


AUDIO_DECODED_JS = """() => { const v = document.getElementById('video');
  return !v.paused && v.currentTime > 1 && v.webkitAudioDecodedByteCount > 0; }"""


def test_chromium_plays_the_channel_with_its_sound(demo: Demo, tmp_path: Path) -> None:
    require_browser()
    console = ConsoleLog()
    token = str(demo.live()["ws"]).split("token=", 1)[1].split("&", 1)[0]
    with chromium() as browser:
        page = browser.new_page()
        console.watch(page)
        page.goto(f"{demo.server.http_url}/player/?channel={demo.channel}&token={token}")
        page.wait_for_function(AUDIO_DECODED_JS, timeout=20_000)
        started = page.eval_on_selector("#video", "v => v.currentTime")
        page.wait_for_function(
            "t => document.getElementById('video').currentTime > t + 1", arg=started, timeout=8_000
        )
        decoded = page.eval_on_selector("#video", "v => v.webkitAudioDecodedByteCount")
        sound = page.locator("#sound")
        assert sound.is_visible() and sound.inner_text() == "Sound on"
        assert page.eval_on_selector("#video", "v => v.muted") is True
        sound.click()
        assert page.eval_on_selector("#video", "v => v.muted") is False
        assert sound.inner_text() == "Sound off"
        page.wait_for_function(
            "n => document.getElementById('video').webkitAudioDecodedByteCount > n",
            arg=decoded,
            timeout=5_000,
        )
        page.close()
    assert console.errors == [], console.lines


TILE_AUDIO_JS = """() => { const tile = document.querySelector('[data-testid=tile-0]');
  const v = tile && tile.querySelector('video');
  return !!v && tile.dataset.state === 'playing' && v.currentTime > 1
    && v.webkitAudioDecodedByteCount > 0; }"""


def test_console_tile_has_a_sound_button_for_a_camera_with_audio(demo: Demo) -> None:
    require_browser()
    console = ConsoleLog()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="en-US")
        console.watch(page)
        page.goto(f"{demo.server.http_url}/wall")
        page.fill("[data-testid=login-username]", "admin")
        page.fill("[data-testid=login-password]", PASSWORD)
        page.click("[data-testid=login-submit]")
        page.wait_for_selector("[data-testid=wall][data-loaded=true]", timeout=10_000)
        page.fill("[data-testid=tree-search]", demo.channel)
        page.click("[data-testid=tile-0]")
        page.dblclick(f"[data-testid=tree-channel-{demo.channel}]")
        page.wait_for_function(TILE_AUDIO_JS, timeout=20_000)
        button = page.locator("[data-testid=tile-0] [data-testid=tile-sound]")
        assert button.get_attribute("data-muted") == "true"
        assert button.get_attribute("title") == "Sound on"
        video = page.locator("[data-testid=tile-0] video")
        assert video.evaluate("v => v.muted") is True  # autoplay needs it
        button.click()
        assert video.evaluate("v => v.muted") is False
        assert button.get_attribute("data-muted") == "false"
        assert button.get_attribute("title") == "Sound off"
        page.close()
    assert console.errors == [], console.lines
