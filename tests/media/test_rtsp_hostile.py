"""Hostile clients against the running RTSP server: it answers, closes, and holds nothing."""

from __future__ import annotations

import asyncio

import pytest

from sightline.media.rtsp import MAX_HEAD_BYTES
from tests.media.test_rtsp_support import RawClient, serving, until

CHANNEL = "34020000001320000001"


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40) + b"\r\n\r\n", 400),  # TLS
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", 505),
        (b"DESCRIBE rtsp://h/live/1 RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 1000000\r\n\r\n", 413),
        (b"OPTIONS * RTSP/1.0\r\nX: " + b"A" * (MAX_HEAD_BYTES + 10), 413),
    ],
)
async def test_unframeable_input_is_answered_then_closed(data: bytes, status: int) -> None:
    async with serving() as served:
        client = await RawClient.connect(served.server.port)
        response = await client.send(data)
        assert response.status == status
        assert await client.closed_by_server()
        await client.close()


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (b"BREW rtsp://h/pot RTSP/1.0\r\nCSeq: 1\r\n\r\n", 501),
        (b"RECORD rtsp://h/live/1 RTSP/1.0\r\nCSeq: 1\r\n\r\n", 405),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: one\r\n\r\n", 400),
        (b"PLAY rtsp://h/live/1 RTSP/1.0\r\nCSeq: 1\r\n\r\n", 455),
        (b"SETUP rtsp://h/live/1 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast\r\n\r\n", 461),
        (b"DESCRIBE rtsp://h/../../etc/passwd RTSP/1.0\r\nCSeq: 1\r\n\r\n", 404),
        (b"DESCRIBE rtsp://h:99999999/live/1 RTSP/1.0\r\nCSeq: 1\r\n\r\n", 400),
    ],
)
async def test_meaningless_requests_are_answered_and_the_connection_stays(
    request_: bytes, status: int
) -> None:
    async with serving() as served:
        client = await RawClient.connect(served.server.port)
        assert (await client.send(request_)).status == status
        assert (await client.request("OPTIONS", "*")).status == 200
        assert served.hub.snapshot() == []
        await client.close()


async def test_a_slow_client_sending_nothing_is_dropped_at_the_timeout() -> None:
    async with serving(timeout_s=0.2) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.server.port)
        writer.write(b"OPTIONS * RTSP/1.0\r\nCSe")  # and then nothing more
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        writer.close()


async def test_a_client_that_never_reads_does_not_hold_the_stream_forever() -> None:
    async with serving(timeout_s=0.5) as served:
        client = await RawClient.connect(served.server.port)
        base = f"rtsp://127.0.0.1:{served.server.port}/live/{CHANNEL}/"
        assert (await client.request("DESCRIBE", served.url())).status == 200
        setup = await client.request(
            "SETUP", base + "trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"
        )
        session = (setup.header("Session") or "").split(";")[0]
        assert (await client.request("PLAY", base, f"Session: {session}")).status == 200
        assert served.viewers() == 1
        await until(lambda: served.viewers() == 0)  # no keepalive, no reading: timed out
        await client.close()


async def test_many_pipelined_requests_get_answers_in_order() -> None:
    async with serving() as served:
        client = await RawClient.connect(served.server.port)
        burst = b"".join(f"OPTIONS * RTSP/1.0\r\nCSeq: {n}\r\n\r\n".encode() for n in range(1, 201))
        client.writer.write(burst)
        cseqs = [(await client.response()).header("CSeq") for _ in range(200)]
        assert cseqs == [str(n) for n in range(1, 201)]
        await client.close()


async def test_a_second_channel_on_the_same_connection_needs_its_own_token() -> None:
    async with serving() as served:
        client = await RawClient.connect(served.server.port)
        assert (await client.request("DESCRIBE", served.url())).status == 200
        other = served.url("34020000001320000002").split("?")[0]
        assert (await client.request("DESCRIBE", other)).status == 401
        await client.close()
