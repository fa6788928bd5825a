"""Test helpers for RTSP (no tests here): a looping PyAV-encoded upstream, a hub-backed
server, a raw client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sightline.media.hub import StreamHub, StreamKey, Upstream
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.rtsp import InterleavedFrame, RtspResponse, parse_response
from sightline.media.rtsp_server import RtspServer
from tests.media.video import encode_pattern

__all__ = ["GOOD_TOKEN", "LoopingUpstream", "RawClient", "serving", "until"]

GOOD_TOKEN = "s3cret-token"
CHANNELS = {"34020000001320000001": "libx264", "34020000001320000002": "libx265"}


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait for ``condition`` to hold (polled: the hub has no event for viewer counts)."""
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


class LoopingUpstream:
    """The pattern clip (PyAV-encoded) played in a loop at ``interval_s`` per frame."""

    def __init__(self, encoder: str, interval_s: float = 0.004) -> None:
        self.codec = Codec.H264 if encoder == "libx264" else Codec.H265
        self.clip = encode_pattern(encoder, 50)
        self.interval_s = interval_s
        self.closed = asyncio.Event()

    async def frames(self) -> AsyncIterator[AccessUnit]:
        offset = 0
        while True:
            for f in self.clip:
                pts, dts = f.pts_90k + offset, f.dts_90k + offset
                yield AccessUnit(self.codec, 0xE0, pts, dts, f.data, f.keyframe)
                await asyncio.sleep(self.interval_s)
            offset += len(self.clip) * 3600

    async def close(self) -> None:
        self.closed.set()


class Served:
    """A running server with the hub behind it."""

    def __init__(self, server: RtspServer, hub: StreamHub) -> None:
        self.server, self.hub = server, hub
        self.authorize_calls: list[tuple[str, str, str]] = []

    def url(self, channel: str = "34020000001320000001", token: str = GOOD_TOKEN) -> str:
        return f"rtsp://127.0.0.1:{self.server.port}/live/{channel}?token={token}"

    def viewers(self) -> int:
        return sum(s.viewers for s in self.hub.snapshot())


@asynccontextmanager
async def serving(timeout_s: float = 60.0) -> AsyncIterator[Served]:
    """An RtspServer on 127.0.0.1 backed by a StreamHub of looping test channels."""
    hub = StreamHub(grace_s=0.05)
    served: Served

    def open_view(
        channel: str, token: str, address: str
    ) -> AbstractAsyncContextManager[AsyncIterator[AccessUnit]]:
        encoder = CHANNELS[channel]  # KeyError is a LookupError: 404

        async def opener() -> Upstream:
            return LoopingUpstream(encoder)

        return hub.view(StreamKey(channel), opener)

    def authorize(token: str, channel: str, address: str) -> bool:
        served.authorize_calls.append((token, channel, address))
        return token == GOOD_TOKEN

    server = RtspServer(authorize=authorize, open_view=open_view, timeout_s=timeout_s)
    served = Served(server, hub)
    async with server:
        yield served
    await hub.close()


class RawClient:
    """A byte-level RTSP client for the tests that need to misbehave."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.frames: list[InterleavedFrame] = []
        self.cseq = 0

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, method: str, uri: str, *headers: str) -> RtspResponse:
        """Send a well-formed request with the next CSeq and read its response."""
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}", *headers]
        return await self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def send(self, data: bytes) -> RtspResponse:
        """Send raw bytes and read the next response (interleaved frames are kept aside)."""
        self.writer.write(data)
        await self.writer.drain()
        return await self.response()

    async def response(self) -> RtspResponse:
        async with asyncio.timeout(5):
            while (await self.reader.readexactly(1)) == b"$":
                head = await self.reader.readexactly(3)
                data = await self.reader.readexactly(int.from_bytes(head[1:], "big"))
                self.frames.append(InterleavedFrame(head[0], data))
            head = b"R" + await self.reader.readuntil(b"\r\n\r\n")
            length = next((int(v) for k, v in _headers(head) if k.lower() == "content-length"), 0)
            body = await self.reader.readexactly(length)
        return parse_response(head + body)

    async def frame(self) -> InterleavedFrame:
        """The next interleaved frame."""
        async with asyncio.timeout(5):
            if self.frames:
                return self.frames.pop(0)
            marker = await self.reader.readexactly(1)
            assert marker == b"$", marker
            head = await self.reader.readexactly(3)
            data = await self.reader.readexactly(int.from_bytes(head[1:], "big"))
        return InterleavedFrame(head[0], data)

    async def closed_by_server(self) -> bool:
        """True when the server closes the connection (anything still sent is read first)."""
        async with asyncio.timeout(5):
            while await self.reader.read(65536):
                pass
        return True

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def _headers(head: bytes) -> list[tuple[str, str]]:
    out = []
    for line in head.decode().split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name:
            out.append((name.strip(), value.strip()))
    return out
