"""The hub's no-media limits, kept by one timer per period rather than a timeout per frame."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sightline.media.hub import NoMediaError, StreamHub, StreamNeverArrivedError
from sightline.media.ps_frames import AccessUnit
from tests.media.test_hub import KEY, Opener, gop, take, unit


async def test_frames_closer_than_the_limit_keep_the_stream_for_many_periods() -> None:
    hub, opener = StreamHub(first_frame_timeout_s=0.3, no_media_timeout_s=0.1), Opener()
    loop = asyncio.get_running_loop()
    async with hub.view(KEY, opener) as viewer:
        await asyncio.sleep(0.2)  # within the first-frame limit, past the no-media one
        opener.upstream.send(*gop(0, 1))
        assert await take(viewer, 1) == [0]
        for n in range(1, 13):  # 12 frames 40 ms apart: ~5 no-media periods in all
            await asyncio.sleep(0.04)
            opener.upstream.send(unit(n))
        assert await take(viewer, 12) == list(range(1, 13))
        last = loop.time()
        with pytest.raises(NoMediaError, match=r"no media for 0\.1 s") as info:
            await asyncio.wait_for(anext(viewer), 2)
        silent_s = loop.time() - last
    assert not isinstance(info.value, StreamNeverArrivedError)
    assert 0.09 <= silent_s < 0.5
    assert opener.upstream.closed.is_set()
    await hub.close()


async def test_the_first_frame_limit_counts_from_setup() -> None:
    hub, opener = StreamHub(first_frame_timeout_s=0.15, no_media_timeout_s=5.0), Opener()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with hub.view(KEY, opener) as viewer:
        with pytest.raises(StreamNeverArrivedError, match=r"no media within 0\.15 s"):
            await asyncio.wait_for(anext(viewer), 2)
    assert 0.14 <= loop.time() - started < 1.0
    await hub.close()


async def test_an_error_from_the_upstream_is_not_taken_for_silence() -> None:
    class Failing:
        async def frames(self) -> AsyncIterator[AccessUnit]:
            yield unit(0, key=True)
            raise TimeoutError("the device's own timeout")

        async def close(self) -> None:
            return None

    async def opener() -> Failing:
        return Failing()

    hub = StreamHub(no_media_timeout_s=5.0)
    async with hub.view(KEY, opener) as viewer:
        assert await take(viewer, 1) == [0]
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(anext(viewer), 2)
    assert not isinstance(info.value, NoMediaError)
    assert "upstream failed" in str(info.value)
    await hub.close()
