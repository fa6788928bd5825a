"""How a WebSocket view's end is read: the player's departure versus a stream failure."""

from __future__ import annotations

import asyncio

from starlette.websockets import WebSocketDisconnect

from sightline.api.routers.media import player_left


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
