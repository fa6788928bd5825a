"""Playback end to end: REST session → ``s=Playback`` INVITE → the simulator's recording
history → fMP4 over WebSocket, decoded by PyAV, the recorded instant read from every frame.

One session is driven through the whole VCR: play, pause, resume, seek, scale 4, and the end of
the recording (the device's MediaStatus 121 closes the session cleanly).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import websockets

from tests.e2e.api_client import ApiError
from tests.e2e.records_support import demo_node, frame_times, full_hour_file, iso

pytestmark = pytest.mark.e2e


@dataclass
class Received:
    """What the player got: fMP4 bytes, each fragment's arrival time, and the text messages."""

    init: bytes = b""
    fragments: list[tuple[float, bytes]] = field(default_factory=list)
    messages: list[dict[str, object]] = field(default_factory=list)
    close_code: int | None = None

    def timeline(self) -> list[tuple[float, float]]:
        """(arrival, recorded instant) per frame; a message holds one frame's fragment, or
        several when they piled up behind a busy server (all arrived with the message)."""
        data = self.init + b"".join(f for _, f in self.fragments)
        times = frame_times(data)
        arrivals = [arrived for arrived, f in self.fragments for _ in range(_moofs(f))]
        assert len(times) == len(arrivals), (len(times), len(arrivals))
        return list(zip(arrivals, times, strict=True))

    def shown_between(self, begin: float, end: float) -> list[float]:
        """Recorded instants of frames that arrived in [begin, end)."""
        return [shown for arrived, shown in self.timeline() if begin <= arrived < end]


def _moofs(data: bytes) -> int:
    """Top-level ``moof`` boxes (one per frame) in a piece of the fMP4 stream."""
    count = offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        count += data[offset + 4 : offset + 8] == b"moof"
        offset += max(size, 8)
    return count


async def _watch(url: str, got: Received, until_s: float) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        deadline = time.monotonic() + until_s
        try:
            while time.monotonic() < deadline:
                message = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
                if isinstance(message, str):
                    got.messages.append(json.loads(message))
                elif not got.init:
                    got.init = message
                else:
                    got.fragments.append((time.monotonic(), message))
        except websockets.exceptions.ConnectionClosed as closed:
            got.close_code = closed.rcvd.code if closed.rcvd is not None else None


async def _drive(
    base: str, headers: dict[str, str], session: str, plan: list[tuple[float, dict[str, object]]]
) -> dict[str, float]:
    marks: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=20) as http:
        for delay, command in plan:
            await asyncio.sleep(delay)
            marks[str(command["action"])] = time.monotonic()
            answer = await http.post(f"/api/v1/playback/{session}/control", json=command)
            assert answer.status_code == 200, answer.text
    return marks


def test_playback_plays_pauses_seeks_speeds_up_and_ends_cleanly(tmp_path: Path) -> None:
    with demo_node(tmp_path, "31400-31499") as node:
        api, channel = node.api, node.channel_id
        recorded = full_hour_file(channel)
        start, length = recorded.start + 1200, 40
        session = api.post(
            f"/api/v1/channels/{channel}/playback",
            {"start": iso(start), "end": iso(start + length), "source": "device"},
        )
        assert session["session_id"] and session["urls"]["ws"].startswith("ws://")
        headers = node.headers
        plan: list[tuple[float, dict[str, object]]] = [
            (3.0, {"action": "pause"}),
            (2.5, {"action": "resume"}),
            (2.0, {"action": "seek", "offset_s": 20}),
            (2.5, {"action": "scale", "scale": 4}),
        ]
        got = Received()
        opened = time.monotonic()

        async def run() -> dict[str, float]:
            watcher = asyncio.ensure_future(_watch(session["urls"]["ws"], got, 30))
            marks = await _drive(node.server.http_url, headers, session["session_id"], plan)
            await watcher
            return marks

        marks = asyncio.run(run())
        timeline = got.timeline()
        assert timeline, got.messages
        # plays the asked time (within the first second or two)
        assert abs(timeline[0][1] - start) <= 2.0, (timeline[0][1], start)
        assert opened < timeline[0][0] < opened + 10
        # pause: recorded time stands still while paused
        before_pause = got.shown_between(0, marks["pause"])
        paused = got.shown_between(marks["pause"] + 0.7, marks["resume"])
        assert not paused or max(paused) - max(before_pause) <= 1.0, (
            paused[-3:],
            before_pause[-3:],
        )
        # resume: it goes on from where it stood
        resumed = got.shown_between(marks["resume"] + 0.7, marks["seek"])
        assert resumed and 0 <= resumed[0] - max(before_pause) <= 2.0
        # seek to 20 s after the start
        sought = got.shown_between(marks["seek"] + 0.7, marks["scale"])
        assert sought and abs(sought[0] - (start + 20)) <= 2.0, sought[:3]
        # scale 4: recorded time runs about four times as fast as the wall clock
        fast = [(a, s) for a, s in timeline if a >= marks["scale"] + 0.7]
        assert len(fast) > 10
        rate = (fast[-1][1] - fast[0][1]) / (fast[-1][0] - fast[0][0])
        assert 3.0 <= rate <= 5.0, rate
        # the end of the recording (MediaStatus 121) ends the view cleanly
        assert fast[-1][1] >= start + length - 1.0
        assert {"type": "end", "reason": "end of recording"} in got.messages, got.messages
        assert got.close_code == 1000
        assert not [m for m in got.messages if m.get("type") == "error"]
        # the session is gone: controls and a new player get 404
        with pytest.raises(ApiError) as error:
            api.post(f"/api/v1/playback/{session['session_id']}/control", {"action": "pause"})
        assert error.value.status == 404


def test_playback_refusals(tmp_path: Path) -> None:
    with demo_node(tmp_path, "31500-31599") as node:
        api, channel = node.api, node.channel_id
        recorded = full_hour_file(channel)
        path = f"/api/v1/channels/{channel}/playback"
        body = {"start": iso(recorded.start + 60), "end": iso(recorded.start + 120)}
        for bad, status in (
            ({**body, "end": body["start"]}, 422),
            ({**body, "start": "2026-11-24 08:00:00"}, 422),
            ({**body, "source": "platform"}, 404),  # platform recording is off: nothing there
            ({"start": iso(time.time() + 7200), "end": iso(time.time() + 7300)}, 404),  # future
        ):
            with pytest.raises(ApiError) as error:
                api.post(path, bad)
            assert error.value.status == status, (bad, str(error.value))
        session = api.post(path, body)
        sid = session["session_id"]
        for command in ({"action": "seek"}, {"action": "scale", "scale": 3}, {"action": "rewind"}):
            with pytest.raises(ApiError) as error:
                api.post(f"/api/v1/playback/{sid}/control", command)
            assert error.value.status == 422, command
        forged = session["urls"]["ws"].rsplit("token=", 1)[0] + "token=forged"
        got = Received()
        asyncio.run(_watch(forged, got, 5))
        assert got.close_code == 4401
        http = httpx.get(session["urls"]["http"].rsplit("token=", 1)[0] + "token=forged")
        assert http.status_code == 401
        headers = node.headers
        url = f"{node.server.http_url}/api/v1/playback/{sid}"
        assert httpx.delete(url, headers=headers, timeout=20).status_code == 204
        assert httpx.delete(url, headers=headers, timeout=20).status_code == 404
        ended = Received()
        asyncio.run(_watch(session["urls"]["ws"], ended, 5))
        assert ended.close_code == 4404
