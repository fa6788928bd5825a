"""The RTSP server against real clients: PyAV (FFmpeg's RTSP demuxer) and a raw socket."""

from __future__ import annotations

import asyncio
import base64

import av
import pytest

from sightline.media.es import iter_nal_units, nal_type, split_annexb
from sightline.media.ps_format import Codec
from sightline.media.rtp import parse_rtp
from sightline.media.rtp_h26x import H26xDepacketiser
from tests.media.test_rtsp_support import RawClient, serving, until
from tests.media.video import encode_pattern

H264_CHANNEL, H265_CHANNEL = "34020000001320000001", "34020000001320000002"


def play_with_pyav(url: str, count: int) -> list[tuple[int, int, str]]:
    """Open ``url`` with FFmpeg's RTSP client over TCP and decode ``count`` frames."""
    options = {"rtsp_transport": "tcp", "stimeout": "5000000", "timeout": "5000000"}
    with av.open(url, options=options, timeout=10) as container:
        stream = container.streams.video[0]
        out = []
        for frame in container.decode(stream):
            out.append((frame.width, frame.height, stream.codec_context.name))
            if len(out) == count:
                break
    return out


@pytest.mark.parametrize(("channel", "codec"), [(H264_CHANNEL, "h264"), (H265_CHANNEL, "hevc")])
async def test_pyav_plays_a_channel_over_tcp_interleaved(channel: str, codec: str) -> None:
    async with serving() as served:
        frames = await asyncio.to_thread(play_with_pyav, served.url(channel), 30)
        assert frames == [(320, 240, codec)] * 30
        await until(lambda: served.viewers() == 0)  # PyAV sent TEARDOWN and closed
        assert served.authorize_calls[0] == ("s3cret-token", channel, "127.0.0.1")


async def test_pyav_is_refused_with_a_bad_token() -> None:
    async with serving() as served:
        with pytest.raises(av.error.FFmpegError):
            await asyncio.to_thread(play_with_pyav, served.url(token="wrong"), 1)
        assert served.viewers() == 0 and served.hub.snapshot() == []


async def test_a_bad_or_missing_token_is_answered_401() -> None:
    async with serving() as served:
        client = await RawClient.connect(served.server.port)
        bad = await client.request("DESCRIBE", served.url(token="nope"))
        missing = await client.request("DESCRIBE", served.url().split("?")[0])
        assert (bad.status, missing.status) == (401, 401)
        assert served.hub.snapshot() == []  # no stream was opened for a refused client
        good = await client.request("DESCRIBE", served.url())
        assert good.status == 200
        await client.close()


async def test_describe_carries_the_streams_parameter_sets() -> None:
    first_key = next(f for f in encode_pattern("libx264", 50) if f.keyframe)
    params = {nal_type(Codec.H264, n): n for n in iter_nal_units(first_key.data)}
    async with serving() as served:
        client = await RawClient.connect(served.server.port)
        response = await client.request("DESCRIBE", served.url(), "Accept: application/sdp")
        await client.close()
    sdp = response.body.decode()
    assert response.status == 200 and response.header("Content-Type") == "application/sdp"
    assert response.header("Content-Base") == (
        f"rtsp://127.0.0.1:{served.server.port}/live/{H264_CHANNEL}/"
    )
    fmtp = next(line for line in sdp.splitlines() if line.startswith("a=fmtp:96 "))
    fields = dict(p.split("=", 1) for p in fmtp.removeprefix("a=fmtp:96 ").split(";"))
    sps, pps = (base64.b64decode(s) for s in fields["sprop-parameter-sets"].split(","))
    assert (sps, pps) == (params[7], params[8])
    assert fields["profile-level-id"] == params[7][1:4].hex().upper()
    assert "a=rtpmap:96 H264/90000" in sdp.splitlines()


async def test_describe_of_h265_has_vps_sps_pps() -> None:
    async with serving() as served:
        client = await RawClient.connect(served.server.port)
        response = await client.request("DESCRIBE", served.url(H265_CHANNEL))
        await client.close()
    sdp = response.body.decode()
    assert "a=rtpmap:96 H265/90000" in sdp
    fmtp = next(line for line in sdp.splitlines() if line.startswith("a=fmtp:96 "))
    fields = dict(p.split("=", 1) for p in fmtp.removeprefix("a=fmtp:96 ").split(";"))
    types = [
        nal_type(Codec.H265, base64.b64decode(fields[f"sprop-{k}"])) for k in ("vps", "sps", "pps")
    ]
    assert types == [32, 33, 34]


async def setup_and_play(client: RawClient, url: str, base: str) -> str:
    """DESCRIBE, SETUP, PLAY; returns the session id."""
    assert (await client.request("DESCRIBE", url)).status == 200
    setup = await client.request(
        "SETUP", base + "trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=4-5"
    )
    assert setup.status == 200, setup
    assert (setup.header("Transport") or "").startswith("RTP/AVP/TCP;unicast;interleaved=4-5")
    session = (setup.header("Session") or "").split(";")[0]
    play = await client.request("PLAY", base, f"Session: {session}", "Range: npt=0.000-")
    assert play.status == 200 and "seq=" in (play.header("RTP-Info") or "")
    return session


async def test_raw_play_sends_depacketisable_rtp_and_teardown_ends_the_view() -> None:
    async with serving() as served:
        base = f"rtsp://127.0.0.1:{served.server.port}/live/{H264_CHANNEL}/"
        client = await RawClient.connect(served.server.port)
        session = await setup_and_play(client, served.url(), base)
        assert served.viewers() == 1
        depacketiser, units = H26xDepacketiser(Codec.H264), list[bytes]()
        while len(units) < 10:
            frame = await client.frame()
            assert frame.channel == 4
            units += depacketiser.push(parse_rtp(frame.data))
        clip = {tuple(split_annexb(f.data)) for f in encode_pattern("libx264", 50)}
        assert all(tuple(split_annexb(u)) in clip for u in units)  # the same NAL units came out
        teardown = await client.request("TEARDOWN", base, f"Session: {session}")
        assert teardown.status == 200
        assert served.viewers() == 0
        assert (await client.request("OPTIONS", "*")).status == 200  # connection still usable
        await client.close()


async def test_a_client_that_disconnects_leaves_the_stream() -> None:
    async with serving() as served:
        base = f"rtsp://127.0.0.1:{served.server.port}/live/{H264_CHANNEL}/"
        client = await RawClient.connect(served.server.port)
        await setup_and_play(client, served.url(), base)
        await client.frame()
        await client.close()
        await until(lambda: served.viewers() == 0)


async def test_pause_stops_and_play_resumes_at_a_key_frame() -> None:
    async with serving() as served:
        base = f"rtsp://127.0.0.1:{served.server.port}/live/{H264_CHANNEL}/"
        client = await RawClient.connect(served.server.port)
        session = await setup_and_play(client, served.url(), base)
        await client.frame()
        assert (await client.request("PAUSE", base, f"Session: {session}")).status == 200
        client.frames.clear()
        assert (await client.request("PLAY", base, f"Session: {session}")).status == 200
        depacketiser, units = H26xDepacketiser(Codec.H264), list[bytes]()
        while not units:
            units += depacketiser.push(parse_rtp((await client.frame()).data))
        assert any(nal_type(Codec.H264, n) == 5 for n in iter_nal_units(units[0]))
        await client.close()


async def test_an_idle_session_times_out_and_releases_the_view() -> None:
    async with serving(timeout_s=0.3) as served:
        client = await RawClient.connect(served.server.port)
        base = f"rtsp://127.0.0.1:{served.server.port}/live/{H264_CHANNEL}/"
        await setup_and_play(client, served.url(), base)
        assert await client.closed_by_server()
        assert served.viewers() == 0
        await client.close()


async def test_get_parameter_keeps_a_session_alive() -> None:
    async with serving(timeout_s=0.4) as served:
        client = await RawClient.connect(served.server.port)
        base = f"rtsp://127.0.0.1:{served.server.port}/live/{H264_CHANNEL}/"
        session = await setup_and_play(client, served.url(), base)
        for _ in range(6):
            await asyncio.sleep(0.15)
            keepalive = await client.request("GET_PARAMETER", base, f"Session: {session}")
            assert keepalive.status == 200
        assert served.viewers() == 1
        await client.close()


async def test_unknown_channel_is_404() -> None:
    async with serving() as served:
        client = await RawClient.connect(served.server.port)
        response = await client.request("DESCRIBE", served.url("34020000001320000099"))
        assert response.status == 404
        await client.close()
