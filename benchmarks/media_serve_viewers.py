"""The viewer side of ``media_serve.py``: many live fMP4 viewers in one asyncio process.

Driven over stdin/stdout, one JSON line per answer, so the benchmark can run several of these
and read their counters at the same moments:

    open N IDS...   POST /live for each channel (at most N at a time) and play its WebSocket
                    URL; answers {"times": [s, ...], "failed": ["id: why", ...], "steps":
                    [[id, post, answered, connected, first byte], ...]}: the seconds from
                    POST /live to the first fMP4 byte of each stream, and each step's wall
                    clock (to line up with the server's and simulators' logs)
    mark            {"at": monotonic, "streams": {id: [bytes, fragments, max_gap_s]}}, the
                    gap being the longest silence of the stream since the previous mark
    quit            close every stream and end

The WebSocket URL is what the web console plays (``urls.ws``); every binary message is one
piece of the fMP4 stream (the init segment, then a fragment per frame, or several frames'
fragments when they piled up behind a busy server), so messages are counted, as
"fragments", and nothing is parsed. The loop is uvloop and the WebSocket client
``websockets`` (its C frame reader), so the viewers cost little next to the server.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

__all__ = ["OPEN_TIMEOUT_S", "Stream", "run"]

OPEN_TIMEOUT_S = 60.0  # an open without its first fMP4 byte by then counts as failed


@dataclass(slots=True)
class Stream:
    """What one viewer has received."""

    bytes: int = 0
    fragments: int = 0
    last_at: float = 0.0
    max_gap_s: float = 0.0
    error: str | None = None


class Viewers:
    """The process's viewers and the API session they share."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url
        self.password = password
        self.streams: dict[str, Stream] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.http: httpx.AsyncClient | None = None
        self.steps: list[list[object]] = []  # per open: id, then wall-clock times of its steps

    async def login(self) -> None:
        """One bearer token for every POST /live."""
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=60, limits=limits)
        answer = await self.http.post(
            "/api/v1/auth/login", json={"username": "admin", "password": self.password}
        )
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    async def open(self, channels: list[str], at_once: int) -> dict[str, object]:
        """Open every channel, ``at_once`` at a time; their times to first byte."""
        gate = asyncio.Semaphore(at_once)
        times: list[object] = []
        failed: list[object] = []

        async def one(channel: str) -> None:
            async with gate:
                try:
                    async with asyncio.timeout(OPEN_TIMEOUT_S):
                        times.append(await self._start(channel))
                except Exception as exc:  # reported, the run goes on with the others
                    failed.append(f"{channel}: {type(exc).__name__}: {exc}"[:300])

        self.steps = []
        await asyncio.gather(*(one(c) for c in channels))
        return {"times": times, "failed": failed, "steps": self.steps}

    async def _start(self, channel: str) -> float:
        assert self.http is not None
        started = time.monotonic()
        steps: list[object] = [channel, time.time()]
        self.steps.append(steps)
        live = await self.http.post(f"/api/v1/channels/{channel}/live")
        steps.append(time.time())
        live.raise_for_status()
        # offers permessage-deflate, as browsers do (serve declines it: video does not compress)
        ws = await connect(live.json()["urls"]["ws"], max_size=None)
        steps.append(time.time())
        first: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        stream = self.streams[channel] = Stream()
        task = asyncio.create_task(self._play(ws, stream, first))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        at = await first
        steps.append(time.time() - (time.monotonic() - at))
        return at - started

    async def _play(
        self, ws: ClientConnection, stream: Stream, first: asyncio.Future[float]
    ) -> None:
        clock = time.monotonic
        try:
            async for message in ws:
                if isinstance(message, str):
                    if '"error"' in message:
                        raise RuntimeError(message)
                    continue
                now = clock()
                if not stream.fragments:
                    if not first.done():  # cancelled when the open was given up on
                        first.set_result(now)
                elif now - stream.last_at > stream.max_gap_s:
                    stream.max_gap_s = now - stream.last_at
                stream.last_at = now
                stream.bytes += len(message)
                stream.fragments += 1
            stream.error = "closed by the server"
        except (websockets.ConnectionClosed, RuntimeError, OSError) as exc:  # ends this stream
            stream.error = str(exc)[:200]
        finally:
            if not first.done():
                first.set_exception(RuntimeError(stream.error or "no media"))
            await ws.close()

    def mark(self) -> dict[str, object]:
        """Every stream's counters now; the gaps start over."""
        now = time.monotonic()
        out: dict[str, list[float]] = {}
        for channel, s in self.streams.items():
            gap = max(s.max_gap_s, now - s.last_at) if s.fragments else -1.0  # -1: no media yet
            out[channel] = [s.bytes, s.fragments, gap]
            s.max_gap_s = 0.0
            if s.fragments:
                s.last_at = now  # the next window's silences count from its start
        return {"at": now, "streams": out}

    async def close(self) -> None:
        """Stop every stream."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()


async def _serve(base_url: str, password: str) -> None:
    viewers = Viewers(base_url, password)
    await viewers.login()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    try:
        while line := (await reader.readline()).decode().split():
            command, rest = line[0], line[1:]
            if command == "open":
                answer: dict[str, object] = await viewers.open(rest[1:], int(rest[0]))
            elif command == "mark":
                answer = viewers.mark()
            else:
                break
            print(json.dumps(answer), flush=True)
    finally:
        await viewers.close()


def run(base_url: str, password: str) -> int:
    """The viewer process's main: serve commands until ``quit`` or end of input."""
    import uvloop

    uvloop.run(_serve(base_url, password))
    return 0


# -- the benchmark's side ----------------------------------------------------------------------


class ViewerProcess:
    """One ``media_serve_viewers`` child, spoken to one JSON line at a time."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd
        )
        if self._line() != "ready":
            raise RuntimeError("a viewer process did not start")

    def send(self, command: str) -> None:
        """Send one command (answer with ``answer``)."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def answer(self) -> dict[str, Any]:
        """The JSON answer to the last command."""
        result: dict[str, Any] = json.loads(self._line())
        return result

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("a viewer process ended early")
        return line.strip()

    def stop(self) -> None:
        """Close its streams and wait for it."""
        if self.process.poll() is None:
            try:
                self.send("quit")
                self.process.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


def ask_all(viewers: list[ViewerProcess], commands: list[str]) -> list[dict[str, Any]]:
    """Send each viewer its command at once, then read every answer."""
    for viewer, command in zip(viewers, commands, strict=True):
        viewer.send(command)
    return [viewer.answer() for viewer in viewers]
