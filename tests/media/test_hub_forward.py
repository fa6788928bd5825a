"""A derived stream (the ``+aac`` variant) published in the same call as its source.

``Viewer.forward`` and push upstreams (``attach``): no task switch per frame between a source
stream and a stream made from it, and the same errors and order as the ``async for`` path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from sightline.media.hub import (
    NoMediaError,
    StreamEndedError,
    StreamHub,
    StreamKey,
    Upstream,
    Viewer,
)
from sightline.media.ps_frames import AccessUnit
from tests.media.test_hub import KEY, Opener, gop, number, settle, take, unit

DERIVED = StreamKey(KEY.channel_id, "live+test")


class Derived:
    """A push upstream over a viewer of the source: every unit, and a copy of each key frame."""

    def __init__(self, hub: StreamHub, source: Viewer, *, fail_at: int | None = None) -> None:
        self.hub = hub
        self.source = source
        self.fail_at = fail_at

    async def frames(self) -> AsyncIterator[AccessUnit]:
        async for u in self.source:
            yield u

    def attach(self, deliver: Callable[[AccessUnit], None]) -> Awaitable[None]:
        def each(u: AccessUnit) -> None:
            if number(u) == self.fail_at:
                raise ValueError("cannot transform this one")
            deliver(u)

        return self.source.forward(each)

    async def close(self) -> None:
        self.hub.leave(self.source, linger=False)


def derived_opener(
    hub: StreamHub, source: Opener, **options: int
) -> Callable[[], Awaitable[Upstream]]:
    async def open_derived() -> Derived:
        return Derived(hub, await hub.join(KEY, source), **options)

    return open_derived


async def test_derived_units_arrive_in_the_same_turn_as_the_source_publishes_them() -> None:
    hub = StreamHub(grace_s=0.05)
    source = Opener()
    direct = await _joined(hub, KEY, source)
    derived = await _joined(hub, DERIVED, derived_opener(hub, source))
    source.upstream.send(*gop(0))
    await settle()
    # both viewers hold all five units after the same turns: no extra hop for the derived one
    assert direct.queued_frames == derived.queued_frames == 5
    assert await take(derived, 5) == [0, 1, 2, 3, 4]
    await hub.close()


async def test_a_late_derived_stream_starts_with_the_sources_current_gop() -> None:
    hub = StreamHub(grace_s=0.05)
    source = Opener()
    direct = await _joined(hub, KEY, source)
    source.upstream.send(*gop(0, 3))
    assert await take(direct, 3) == [0, 1, 2]
    derived = await _joined(hub, DERIVED, derived_opener(hub, source))
    source.upstream.send(unit(3))
    assert await take(derived, 4) == [0, 1, 2, 3]
    await hub.close()


async def test_the_sources_error_reaches_derived_viewers() -> None:
    hub = StreamHub(no_media_timeout_s=0.1, grace_s=0.05)
    source = Opener()
    derived = await _joined(hub, DERIVED, derived_opener(hub, source))
    source.upstream.send(*gop(0, 2))
    assert await take(derived, 2) == [0, 1]
    with pytest.raises(NoMediaError):  # the source went silent: its error, not a generic end
        async with asyncio.timeout(5):
            await anext(derived)
    await hub.close()


async def test_a_failing_transform_ends_the_derived_stream_only() -> None:
    hub = StreamHub(grace_s=0.05)
    source = Opener()
    direct = await _joined(hub, KEY, source)
    derived = await _joined(hub, DERIVED, derived_opener(hub, source, fail_at=2))
    source.upstream.send(*gop(0, 4))
    assert await take(derived, 2) == [0, 1]
    with pytest.raises(StreamEndedError, match="cannot transform"):
        async with asyncio.timeout(5):
            await anext(derived)
    assert await take(direct, 4) == [0, 1, 2, 3]  # the source goes on for its own viewers
    source.upstream.send(unit(4))
    assert await take(direct, 1) == [4]
    await hub.close()


async def test_the_source_closes_when_the_derived_stream_goes() -> None:
    hub = StreamHub(grace_s=0.05)
    source = Opener()
    derived = await _joined(hub, DERIVED, derived_opener(hub, source))
    source.upstream.send(*gop(0, 2))
    assert await take(derived, 2) == [0, 1]
    hub.leave(derived)
    async with asyncio.timeout(5):
        await source.upstream.closed.wait()
    assert hub.snapshot() == []


async def _joined(
    hub: StreamHub, key: StreamKey, opener: Callable[[], Awaitable[Upstream]]
) -> Viewer:
    return await hub.join(key, opener)
