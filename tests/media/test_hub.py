"""StreamHub: one upstream shared by many viewers, its timers, and what viewers see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sightline.media.hub import (
    NoMediaError,
    StreamEndedError,
    StreamHub,
    StreamKey,
    StreamNeverArrivedError,
    StreamState,
    Upstream,
    Viewer,
)
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit

KEY = StreamKey("34020000001320000001")


def unit(n: int, *, key: bool = False, size: int = 100, stream_id: int = 0xE0) -> AccessUnit:
    """Access unit number ``n`` (its number is in its data, so a test can follow it)."""
    data = n.to_bytes(4, "big") + bytes(max(0, size - 4))
    return AccessUnit(Codec.H264, stream_id, n * 3600, n * 3600, data, key)


def number(u: AccessUnit) -> int:
    return int.from_bytes(u.data[:4], "big")


def gop(start: int, length: int = 5) -> list[AccessUnit]:
    return [unit(start + i, key=i == 0) for i in range(length)]


class TestUpstream:
    """A device-side stand-in fed by the test: what the GB layer's upstream looks like."""

    __test__ = False

    def __init__(self, close_gate: asyncio.Event | None = None) -> None:
        self.queue: asyncio.Queue[AccessUnit | None] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.closing = asyncio.Event()
        self.close_gate = close_gate

    def send(self, *units: AccessUnit) -> None:
        for u in units:
            self.queue.put_nowait(u)

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def frames(self) -> AsyncIterator[AccessUnit]:
        while (u := await self.queue.get()) is not None:
            yield u

    async def close(self) -> None:
        self.closing.set()
        if self.close_gate is not None:
            await self.close_gate.wait()  # a BYE waiting for its 200 OK
        self.closed.set()


class Opener:
    """Counts INVITEs; each returns a fresh TestUpstream, optionally after a gate opens."""

    def __init__(
        self,
        gate: asyncio.Event | None = None,
        error: Exception | None = None,
        close_gate: asyncio.Event | None = None,
    ) -> None:
        self.calls = 0
        self.close_gate = close_gate
        self.upstreams: list[TestUpstream] = []
        self.gate = gate
        self.error = error

    async def __call__(self) -> Upstream:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.upstreams.append(TestUpstream(self.close_gate))
        return self.upstreams[-1]

    @property
    def upstream(self) -> TestUpstream:
        return self.upstreams[-1]


async def take(viewer: Viewer, count: int) -> list[int]:
    out: list[int] = []
    async with asyncio.timeout(5):
        while len(out) < count:
            out.append(number(await anext(viewer)))
    return out


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_two_viewers_share_one_upstream() -> None:
    hub, opener = StreamHub(), Opener()
    async with hub.view(KEY, opener) as a, hub.view(KEY, opener) as b:
        opener.upstream.send(*gop(0))
        assert await take(a, 5) == await take(b, 5) == [0, 1, 2, 3, 4]
        assert opener.calls == 1
        (snap,) = hub.snapshot()
        assert snap.viewers == 2 and snap.frames == 5 and snap.keyframes == 1
        assert snap.state is StreamState.LIVE and snap.time_to_first_frame_s is not None
    await hub.close()


async def test_joins_during_setup_wait_for_the_same_opening() -> None:
    gate = asyncio.Event()
    hub, opener = StreamHub(), Opener(gate)
    joins = [asyncio.create_task(hub.join(KEY, opener)) for _ in range(3)]
    await settle()
    assert opener.calls == 1 and not any(j.done() for j in joins)
    assert hub.snapshot()[0].state is StreamState.OPENING
    gate.set()
    viewers = await asyncio.gather(*joins)
    opener.upstream.send(*gop(0, 2))
    for v in viewers:
        assert await take(v, 2) == [0, 1]
    assert opener.calls == 1
    await hub.close()


async def test_an_opener_error_reaches_every_joiner_and_the_next_join_retries() -> None:
    gate = asyncio.Event()
    failing = Opener(gate, error=RuntimeError("device answered 486 Busy Here"))
    hub = StreamHub()
    joins = [asyncio.create_task(hub.join(KEY, failing)) for _ in range(2)]
    await settle()
    gate.set()
    for result in await asyncio.gather(*joins, return_exceptions=True):
        assert isinstance(result, RuntimeError) and "486" in str(result)
    assert failing.calls == 1 and hub.snapshot() == []
    working = Opener()
    async with hub.view(KEY, working):
        assert working.calls == 1
    await hub.close()


async def test_the_upstream_closes_a_grace_period_after_the_last_viewer() -> None:
    hub, opener = StreamHub(grace_s=0.1), Opener()
    async with hub.view(KEY, opener) as viewer:
        opener.upstream.send(*gop(0))
        await take(viewer, 5)
    first = opener.upstream
    await asyncio.sleep(0.03)
    async with hub.view(KEY, opener):  # back within the grace period: same upstream
        assert opener.calls == 1
        await asyncio.sleep(0.15)
        assert not first.closed.is_set()
    await asyncio.wait_for(first.closed.wait(), 2)
    assert hub.snapshot() == []
    async with hub.view(KEY, opener):
        assert opener.calls == 2
    await hub.close()


async def test_a_viewer_arriving_while_the_old_upstream_closes_gets_a_new_one() -> None:
    bye_answered = asyncio.Event()
    hub, opener = StreamHub(grace_s=0.01), Opener(close_gate=bye_answered)
    async with hub.view(KEY, opener):
        pass
    old = opener.upstream
    await asyncio.wait_for(old.closing.wait(), 2)
    async with hub.view(KEY, opener) as viewer:
        assert opener.calls == 2 and opener.upstream is not old
        opener.upstream.send(*gop(0, 2))
        bye_answered.set()
        await asyncio.wait_for(old.closed.wait(), 2)
        assert await take(viewer, 2) == [0, 1]
    await hub.close()


async def test_a_late_joiner_starts_with_the_current_gop() -> None:
    hub, opener = StreamHub(), Opener()
    async with hub.view(KEY, opener) as early:
        opener.upstream.send(unit(0), unit(1), *gop(2, 4), *gop(6, 3)[:2])
        await take(early, 6)  # early joiner: frames before the first key frame are skipped
        assert early.dropped_frames == 2
        async with hub.view(KEY, opener) as late:
            assert late.queued_frames == 2
            opener.upstream.send(unit(8))
            assert await take(late, 3) == [6, 7, 8]
            assert await take(early, 1) == [8]
    await hub.close()


async def test_an_oversized_gop_is_not_kept() -> None:
    hub, opener = StreamHub(gop_max_bytes=250), Opener()
    async with hub.view(KEY, opener) as early:
        opener.upstream.send(*gop(0, 3))
        await take(early, 3)
        async with hub.view(KEY, opener) as late:
            assert late.queued_frames == 0
            opener.upstream.send(*gop(3, 2))
            assert await take(late, 2) == [3, 4]
    await hub.close()


async def test_no_media_closes_the_upstream_and_tells_every_viewer() -> None:
    hub, opener = StreamHub(no_media_timeout_s=0.1), Opener()
    a = await hub.join(KEY, opener)
    b = await hub.join(KEY, opener)
    opener.upstream.send(*gop(0, 2))
    assert await take(a, 2) == [0, 1]
    for viewer in (a, b):
        with pytest.raises(NoMediaError, match=r"no media for 0\.1 s") as info:
            await asyncio.wait_for(take(viewer, 3), 2)
        assert not isinstance(info.value, StreamNeverArrivedError)
    assert opener.upstream.closed.is_set()
    assert hub.snapshot() == []
    hub.leave(a)
    hub.leave(b)


async def test_a_stream_that_never_arrives() -> None:
    hub, opener = StreamHub(first_frame_timeout_s=0.1), Opener()
    async with hub.view(KEY, opener) as viewer:
        with pytest.raises(StreamNeverArrivedError, match=r"no media within 0\.1 s"):
            await asyncio.wait_for(anext(viewer), 2)
    assert opener.upstream.closed.is_set()


async def test_the_upstream_ending_ends_the_viewers() -> None:
    hub, opener = StreamHub(), Opener()
    async with hub.view(KEY, opener) as viewer:
        opener.upstream.send(*gop(0, 2))
        opener.upstream.end()
        assert await take(viewer, 2) == [0, 1]
        with pytest.raises(StreamEndedError, match="upstream ended"):
            await anext(viewer)
    assert opener.upstream.closed.is_set()


async def test_a_slow_viewer_loses_frames_up_to_a_key_frame_and_blocks_nobody() -> None:
    hub, opener = StreamHub(viewer_max_frames=6), Opener()
    async with hub.view(KEY, opener) as fast, hub.view(KEY, opener) as slow:
        sent = gop(0) + gop(5) + gop(10)
        for u in sent:
            opener.upstream.send(u)
            assert number(await anext(fast)) == number(u)  # never waits on the slow one
        got = await take(slow, slow.queued_frames)
        assert got == [10, 11, 12, 13, 14]  # the queue overflowed at 6: skipped to GOP 10
        assert slow.dropped_frames == len(sent) - len(got)
        assert fast.dropped_frames == 0
        (snap,) = hub.snapshot()
        assert snap.dropped_frames == slow.dropped_frames
        opener.upstream.send(unit(15))
        assert await take(slow, 1) == [15]  # a viewer that catches up gets everything again
    await hub.close()


async def test_a_joiner_cancelled_during_setup_does_not_cancel_the_opening() -> None:
    gate = asyncio.Event()
    hub, opener = StreamHub(grace_s=0.05), Opener(gate)
    join = asyncio.create_task(hub.join(KEY, opener))
    await settle()
    join.cancel()
    with pytest.raises(asyncio.CancelledError):
        await join
    gate.set()
    await settle()
    assert opener.calls == 1 and len(opener.upstreams) == 1
    await asyncio.wait_for(opener.upstream.closed.wait(), 2)  # closed by the grace timer


async def test_closing_the_hub_ends_every_viewer() -> None:
    hub, opener = StreamHub(), Opener()
    viewer = await hub.join(KEY, opener)
    other = await hub.join(StreamKey("34020000001320000002"), opener)
    await hub.close()
    for v in (viewer, other):
        with pytest.raises(StreamEndedError, match="closed"):
            await anext(v)
    assert all(u.closed.is_set() for u in opener.upstreams)
    assert hub.snapshot() == []


async def test_audio_before_the_first_key_frame_is_skipped_and_later_audio_kept() -> None:
    hub, opener = StreamHub(), Opener()
    async with hub.view(KEY, opener) as viewer:
        opener.upstream.send(unit(0, key=True, stream_id=0xC0), *gop(1, 2))
        opener.upstream.send(unit(3, key=True, stream_id=0xC0))
        assert await take(viewer, 3) == [1, 2, 3]
    await hub.close()
