"""How a WebSocket view's end is read (the player's departure versus a stream failure), and
how frames that piled up are sent."""

from __future__ import annotations

import asyncio
import contextlib
import io

import av
from starlette.websockets import WebSocketDisconnect

from sightline.api.routers.media import fmp4_segments, player_left
from sightline.media.fmp4 import Fmp4Packager, Fmp4Segment
from sightline.media.hub import StreamEndedError, StreamKey, Viewer


def _ended(play_exc: BaseException | None, *, gone_done: bool, cancel_play: bool = False) -> bool:
    async def run() -> bool:
        loop = asyncio.get_running_loop()
        play: asyncio.Future[None] = loop.create_future()
        gone: asyncio.Future[None] = loop.create_future()
        if cancel_play:
            play.cancel()
        elif play_exc is None:
            play.set_result(None)
        else:
            play.set_exception(play_exc)
        if gone_done:
            gone.set_result(None)
        else:
            gone.cancel()
        return player_left(play, gone)

    return asyncio.run(run())


def test_a_send_after_the_server_saw_the_disconnect_is_the_player_leaving() -> None:
    # uvicorn refuses sends once it has closed (e.g. 1009 on an oversized client message)
    closed = RuntimeError(
        "Unexpected ASGI message 'websocket.send', after sending 'websocket.close'."
    )
    assert _ended(closed, gone_done=True)


def test_the_same_error_without_a_disconnect_is_a_failure_to_report() -> None:
    assert not _ended(RuntimeError("boom"), gone_done=False)


def test_a_stream_that_ends_while_the_player_stays_is_reported() -> None:
    assert not _ended(None, gone_done=False)


def test_disconnects_seen_by_the_play_task_are_departures() -> None:
    assert _ended(WebSocketDisconnect(1001), gone_done=False)
    assert _ended(ConnectionResetError(), gone_done=False)
    assert _ended(None, gone_done=False, cancel_play=True)


# -- frames that piled up go out together ------------------------------------------------------


def _segments(queued: int) -> list[Fmp4Segment]:
    """What fmp4_segments gives for a viewer that already holds ``queued`` frames."""
    from types import SimpleNamespace

    from tests.media.test_audio import demuxed

    units = demuxed(None, frames=queued)
    conn = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(stream_tokens=None)))

    async def run() -> list[Fmp4Segment]:
        viewer = Viewer(StreamKey("34020000001310000001"), max_frames=500, max_bytes=1 << 30)
        for unit in units:
            viewer.offer(unit)
        viewer.fail(StreamEndedError("end of the test stream"))
        out: list[Fmp4Segment] = []
        segments = fmp4_segments(viewer, Fmp4Packager(), None, conn)  # type: ignore[arg-type]
        with contextlib.suppress(StreamEndedError):
            async for segment in segments:
                out.append(segment)
        return out

    return asyncio.run(run())


def test_frames_queued_behind_a_busy_sender_go_out_in_one_segment() -> None:
    segments = _segments(30)
    # the init segment alone, then the first frame (the one awaited) with the 29 queued
    assert [s.init for s in segments] == [True, False]
    assert segments[1].data.count(b"moof") == 30
    assert segments[1].mime_type.startswith("video/mp4")
    with av.open(io.BytesIO(b"".join(s.data for s in segments)), "r", format="mp4") as container:
        assert len(list(container.decode(video=0))) == 30
