"""RTSP with the camera's G.711: a PCMA/PCMU track beside the video, played by FFmpeg (PyAV)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import av
import numpy as np
import pytest

from sightline.media.hub import StreamHub, StreamKey, Upstream
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit, StreamInfo
from sightline.media.rtp import RtpPacket, parse_rtp
from sightline.media.rtsp import RtspRequest, RtspResponse
from sightline.media.rtsp_server import RtspServer
from sightline.media.rtsp_session import RtspSession, Step, build_sdp, parse_target
from tests.media.test_audio import demuxed
from tests.media.test_rtsp_support import RawClient

TOKEN = "audio-token"
CHANNELS = {
    "34020000001320000011": Codec.G711A,
    "34020000001320000012": Codec.G711U,
    "34020000001320000013": None,
}


class PsCamera:
    """A camera's demuxed PS (video and maybe G.711, from our muxer), looped in real time."""

    def __init__(self, audio: Codec | None) -> None:
        self.units = demuxed(audio, 50)

    async def frames(self) -> AsyncIterator[AccessUnit]:
        offset = 0
        while True:
            for u in self.units:
                pts, dts = u.pts_90k + offset, u.dts_90k + offset
                yield AccessUnit(u.codec, u.stream_id, pts, dts, u.data, u.keyframe)
                if u.stream_id >= 0xE0:
                    await asyncio.sleep(0.04)
            offset += 50 * 3600

    async def close(self) -> None:
        pass


@asynccontextmanager
async def rtsp() -> AsyncIterator[tuple[RtspServer, StreamHub]]:
    hub = StreamHub(grace_s=0.05)

    def open_view(
        channel: str, token: str, address: str
    ) -> AbstractAsyncContextManager[AsyncIterator[AccessUnit]]:
        audio = CHANNELS[channel]

        async def opener() -> Upstream:
            return PsCamera(audio)

        return hub.view(StreamKey(channel), opener)

    server = RtspServer(authorize=lambda token, *_: token == TOKEN, open_view=open_view)
    async with server:
        yield server, hub
    await hub.close()


def url(server: RtspServer, channel: str) -> str:
    return f"rtsp://127.0.0.1:{server.port}/live/{channel}?token={TOKEN}"


def play(url: str) -> tuple[list[str], int, np.ndarray, str, int]:
    """FFmpeg's RTSP client over TCP: stream types, video frames and 2 s of decoded audio."""
    options = {"rtsp_transport": "tcp", "timeout": "5000000"}
    with av.open(url, options=options, timeout=10) as container:
        kinds: list[str] = [s.type for s in container.streams]
        audio = container.streams.audio[0]
        name, rate = audio.codec_context.name, audio.codec_context.sample_rate
        video_frames, samples = 0, []
        for packet in container.demux():
            for frame in packet.decode():
                if isinstance(frame, av.AudioFrame):
                    samples.append(frame.to_ndarray().reshape(-1))
                else:
                    video_frames += 1
            if sum(len(s) for s in samples) >= 16000:
                break
    return kinds, video_frames, np.concatenate(samples), name, rate


@pytest.mark.parametrize(
    ("channel", "codec"),
    [("34020000001320000011", "pcm_alaw"), ("34020000001320000012", "pcm_mulaw")],
)
async def test_ffmpeg_gets_the_cameras_g711_as_an_audio_track(channel: str, codec: str) -> None:
    async with rtsp() as (server, _):
        kinds, video_frames, samples, name, rate = await asyncio.to_thread(
            play, url(server, channel)
        )
    assert kinds == ["video", "audio"]
    assert (name, rate) == (codec, 8000)
    assert video_frames >= 30  # 2 s of audio came with the video
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert rms > 4000  # the tone: a quarter of full scale, sine RMS ~5800


async def test_describe_names_pcma_and_setup_gives_the_audio_its_own_channels() -> None:
    async with rtsp() as (server, _):
        channel = "34020000001320000011"
        base = f"rtsp://127.0.0.1:{server.port}/live/{channel}/"
        client = await RawClient.connect(server.port)
        sdp = (await client.request("DESCRIBE", url(server, channel))).body.decode().splitlines()
        assert sdp[-3:] == ["m=audio 0 RTP/AVP 8", "a=rtpmap:8 PCMA/8000", "a=control:trackID=1"]
        video = await client.request(
            "SETUP", base + "trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"
        )
        session = (video.header("Session") or "").split(";")[0]
        audio = await client.request(
            "SETUP",
            base + "trackID=1",
            "Transport: RTP/AVP/TCP;unicast;interleaved=2-3",
            f"Session: {session}",
        )
        assert audio.status == 200
        assert (audio.header("Transport") or "").startswith("RTP/AVP/TCP;unicast;interleaved=2-3")
        played = await client.request("PLAY", base, f"Session: {session}")
        info = played.header("RTP-Info") or ""
        assert "trackID=0;seq=" in info and ",url=" in info and "trackID=1;seq=" in info
        sound: list[RtpPacket] = []
        while len(sound) < 10:
            frame = await client.frame()
            if frame.channel == 2:
                sound.append(parse_rtp(frame.data))
        await client.close()
    assert {p.payload_type for p in sound} == {8}
    assert {len(p.payload) for p in sound} == {320}  # one 40 ms G.711 frame per packet
    steps = {b.timestamp - a.timestamp for a, b in itertools.pairwise(sound)}
    assert steps == {320}  # 8 kHz clock


async def test_a_channel_without_audio_has_no_audio_track() -> None:
    async with rtsp() as (server, _):
        channel = "34020000001320000013"
        base = f"rtsp://127.0.0.1:{server.port}/live/{channel}/"
        client = await RawClient.connect(server.port)
        sdp = (await client.request("DESCRIBE", url(server, channel))).body.decode()
        assert "m=audio" not in sdp and "m=video" in sdp
        missing = await client.request(
            "SETUP", base + "trackID=1", "Transport: RTP/AVP/TCP;unicast;interleaved=2-3"
        )
        assert missing.status == 404
        await client.close()


# -- the sans-IO session ------------------------------------------------------------------------

SESSION_URL = "rtsp://127.0.0.1:8554/live/34020000001320000011"
TCP_AUDIO = "RTP/AVP/TCP;unicast;interleaved=6-7"


def status_of(outcome: object) -> int:
    assert isinstance(outcome, RtspResponse), outcome
    return outcome.status


def _request(method: str, uri: str, *headers: tuple[str, str], cseq: int) -> RtspRequest:
    return RtspRequest(method, uri, (("CSeq", str(cseq)), *headers))


@pytest.mark.parametrize(("codec", "line"), [(Codec.G711A, "8 PCMA"), (Codec.G711U, "0 PCMU")])
def test_sdp_adds_the_g711_track_after_the_video(codec: Codec, line: str) -> None:
    info = StreamInfo(0xE0, Codec.H264)
    sdp = build_sdp(info, session_id=1, address="127.0.0.1", name="x", audio=codec).split("\r\n")
    payload = line.split(maxsplit=1)[0]
    assert sdp[-5:-1] == [
        "a=control:trackID=0",
        f"m=audio 0 RTP/AVP {payload}",
        f"a=rtpmap:{line}/8000",
        "a=control:trackID=1",
    ]
    assert "m=audio" not in build_sdp(info, session_id=1, address="127.0.0.1", name="x")


def test_session_keeps_the_audio_tracks_channels_and_names_it_in_rtp_info() -> None:
    session = RtspSession("abc", 0.0)
    target = parse_target(SESSION_URL + "/trackID=1")
    setup = _request("SETUP", target.base + "trackID=1", ("Transport", TCP_AUDIO), cseq=1)
    assert isinstance(session.receive(setup, 0.0), Step)
    answer = session.setup(setup, target, 0x1234)
    assert answer.header("Transport") == "RTP/AVP/TCP;unicast;interleaved=6-7;ssrc=00001234"
    assert session.audio_channels == (6, 7) and session.channels == (0, 1)
    played = session.play(
        _request("PLAY", target.base, ("Session", "abc"), cseq=2), target, 10, 900, (20, 80)
    )
    info = played.header("RTP-Info") or ""
    assert info.endswith(f",url={target.base}trackID=1;seq=20;rtptime=80")
    session.teardown(_request("TEARDOWN", target.base, ("Session", "abc"), cseq=3))
    assert session.audio_channels is None
    bad = _request("SETUP", SESSION_URL + "/trackID=2", ("Transport", TCP_AUDIO), cseq=4)
    assert status_of(session.receive(bad, 0.0)) == 404
