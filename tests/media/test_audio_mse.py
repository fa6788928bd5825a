"""The ``+aac`` variant as browsers get it: its fMP4 in Debian Chromium's Media Source Extensions
(accepted, gapless, still playable when the camera's audio stops while its video goes on), and
its lifetime in the hub."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

from sightline.media.audio import aac_key, aac_opener
from sightline.media.fmp4 import Fmp4Packager
from sightline.media.hub import StreamEndedError, StreamHub, StreamKey, Upstream
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from tests.e2e.browser import chromium, require_browser
from tests.media.test_audio import demuxed

# Append every segment to one SourceBuffer; answer its buffered ranges in seconds.
APPEND_JS = """async ([mime, segments]) => {
  const ms = new MediaSource();
  const video = document.createElement("video");
  video.muted = true;
  video.src = URL.createObjectURL(ms);
  document.body.appendChild(video);
  await new Promise((r) => ms.addEventListener("sourceopen", r, { once: true }));
  const sb = ms.addSourceBuffer(mime);
  for (const b64 of segments) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    sb.appendBuffer(bytes);
    await new Promise((r) => sb.addEventListener("updateend", r, { once: true }));
  }
  const ranges = [];
  const got = sb.buffered;
  for (let i = 0; i < got.length; i++) ranges.push([got.start(i), got.end(i)]);
  return { ranges, error: !!video.error };
}"""


class Finite:
    """A camera stream that ends; the hub then ends its viewers."""

    def __init__(self, units: list[AccessUnit]) -> None:
        self.units = units

    async def frames(self) -> AsyncIterator[AccessUnit]:
        for unit in self.units:
            yield unit
            await asyncio.sleep(0)

    async def close(self) -> None:
        pass


async def browser_units(units: list[AccessUnit]) -> list[AccessUnit]:
    """What a browser viewer of the ``+aac`` variant is handed, to the stream's end."""
    hub = StreamHub(grace_s=0, viewer_max_frames=10_000)
    source = StreamKey("34020000001320000021")

    async def opener() -> Upstream:
        return Finite(units)

    out: list[AccessUnit] = []
    try:
        async with hub.view(aac_key(source), aac_opener(hub, source, opener)) as viewer:
            async for unit in viewer:
                out.append(unit)
    except StreamEndedError:
        pass
    await hub.close()
    return out


def buffered(units: list[AccessUnit]) -> tuple[str, dict[str, object]]:
    packager = Fmp4Packager(audio=True)
    segments = [s for u in units for s in packager.push(u)]
    mime = segments[0].mime_type
    encoded = [base64.b64encode(s.data).decode() for s in segments]
    with chromium() as browser:
        page = browser.new_page()
        result: dict[str, object] = page.evaluate(APPEND_JS, [mime, encoded])
        page.close()
    return mime, result


def test_chromium_buffers_video_and_audio_without_holes() -> None:
    require_browser()
    units = asyncio.run(browser_units(demuxed(Codec.G711A, 100)))  # 4 s
    mime, result = buffered(units)
    assert mime.endswith(', mp4a.40.2"')
    assert not result["error"]
    ranges = result["ranges"]
    assert isinstance(ranges, list) and len(ranges) == 1, ranges  # one range: no holes
    assert ranges[0][1] > 3.5, ranges


def test_audio_that_stops_does_not_cut_the_buffered_video_short() -> None:
    require_browser()
    units = demuxed(Codec.G711A, 125)  # 5 s
    cut = units[0].pts_90k + 90000
    silent_later = [u for u in units if u.stream_id >= 0xE0 or u.pts_90k < cut]
    _, result = buffered(asyncio.run(browser_units(silent_later)))
    ranges = result["ranges"]
    assert isinstance(ranges, list) and len(ranges) == 1, ranges
    # without the silence fill the intersection of the tracks would end after ~1 s
    assert ranges[0][1] > 4.0, ranges


class Endless:
    """A camera that keeps sending until closed; records when it was closed."""

    def __init__(self, units: list[AccessUnit]) -> None:
        self.units = units
        self.closed_at: float | None = None

    async def frames(self) -> AsyncIterator[AccessUnit]:
        offset = 0
        while True:
            for u in self.units:
                pts, dts = u.pts_90k + offset, u.dts_90k + offset
                yield AccessUnit(u.codec, u.stream_id, pts, dts, u.data, u.keyframe)
                await asyncio.sleep(0.001)
            offset += 25 * 3600

    async def close(self) -> None:
        self.closed_at = asyncio.get_running_loop().time()


async def test_the_device_stream_ends_one_grace_after_the_last_browser_left() -> None:
    hub = StreamHub(grace_s=0.3)
    source = StreamKey("34020000001320000022")
    cameras: list[Endless] = []
    units = demuxed(Codec.G711A, 25)

    async def opener() -> Upstream:
        cameras.append(Endless(units))
        return cameras[-1]

    async with hub.view(aac_key(source), aac_opener(hub, source, opener)) as viewer:
        got = [await anext(viewer) for _ in range(60)]
    left = asyncio.get_running_loop().time()
    assert any(u.codec is Codec.AAC for u in got)
    for _ in range(100):
        if cameras[0].closed_at is not None:
            break
        await asyncio.sleep(0.05)
    closed_at = cameras[0].closed_at
    assert closed_at is not None
    assert 0.25 < closed_at - left < 0.5  # one grace period, not the variant's plus the source's
    # a direct viewer (RTSP, a recorder) keeps the device's stream when the browsers leave
    async with hub.view(source, opener) as direct:
        async with hub.view(aac_key(source), aac_opener(hub, source, opener)) as browser:
            await anext(browser)
        await asyncio.sleep(0.6)
        assert cameras[1].closed_at is None
        await anext(direct)
    await hub.close()
