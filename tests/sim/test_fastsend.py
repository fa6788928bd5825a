"""The simulator's send path: C ``sendmmsg`` against the pure-Python reference, byte for byte."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.media.ps_format import Codec
from sightline.media.ps_mux import AudioChunk, PsMuxer
from sightline.media.rtp import RtpPacketiser
from sightline.sim import media_session
from sightline.sim.invite import MediaOffer, SendMode
from sightline.sim.media_session import EndReason, FrameSink, MediaSession
from sightline.sim.video import VideoCodec
from sightline.sim.video_feed import EncodedFrame

fastsend = pytest.importorskip("sightline.sim._fastsend")


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setblocking(False)
    yield rx, tx
    rx.close()
    tx.close()


def _drain(rx: socket.socket, count: int) -> list[bytes]:
    return [rx.recv(65536) for _ in range(count)]


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 9000),
    max_payload=st.integers(100, 1400),
    sequence=st.one_of(st.integers(65500, 65535), st.integers(0, 65535)),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload_type=st.integers(0, 127),
    seed=st.integers(0, 1 << 16),
)
def test_c_send_matches_packetiser(
    pair: tuple[socket.socket, socket.socket],
    *,
    size: int,
    max_payload: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload_type: int,
    seed: int,
) -> None:
    rx, tx = pair
    pack = random.Random(seed).randbytes(size)
    ref = RtpPacketiser(ssrc, payload_type, sequence, max_payload)
    expected = [bytes(p) for p in ref.packetise(pack, timestamp)]
    next_seq, sent, nbytes = fastsend.send_rtp(
        tx.fileno(),
        rx.getsockname(),
        bytearray(pack),
        payload_type,
        ssrc,
        sequence,
        timestamp,
        max_payload,
    )
    assert (next_seq, sent, nbytes) == (ref.sequence, len(expected), sum(map(len, expected)))
    assert _drain(rx, sent) == expected


def test_c_send_rejects_bad_input(pair: tuple[socket.socket, socket.socket]) -> None:
    _, tx = pair
    with pytest.raises(ValueError, match="not an IP address"):
        fastsend.send_rtp(tx.fileno(), ("camera.local", 5000), b"x", 96, 1, 0, 0, 1400)
    with pytest.raises(ValueError, match="max_payload"):
        fastsend.send_rtp(tx.fileno(), ("127.0.0.1", 5000), b"x", 96, 1, 0, 0, 0)
    with pytest.raises(OSError):
        fastsend.send_rtp(-1, ("127.0.0.1", 5000), b"x", 96, 1, 0, 0, 1400)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=140_000),
    pts=st.integers(0, (1 << 33) - 1),
    keyframe=st.booleans(),
    video=st.sampled_from([Codec.H264, Codec.H265]),
    audio=st.sampled_from([None, Codec.G711A, Codec.G711U]),
)
def test_frame_template_matches_mux_frame(
    data: bytes, pts: int, keyframe: bool, video: Codec, audio: Codec | None
) -> None:
    muxer = PsMuxer(video, audio)
    template = muxer.frame_template(data, keyframe=keyframe)
    assert bytes(template.stamp(pts)) == muxer.mux_frame(data, pts, keyframe=keyframe)
    if audio is not None:
        chunk = AudioChunk(b"\xd5" * 320, pts)
        with_audio = template.stamp(pts) + muxer.audio_pes(chunk)
        assert bytes(with_audio) == muxer.mux_frame(data, pts, keyframe=keyframe, audio=[chunk])


async def _session_datagrams(
    fast: bool, audio: Codec | None, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[bytes], media_session.SessionCounters]:
    monkeypatch.setattr(media_session, "send_rtp", fastsend.send_rtp if fast else None)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    sinks: list[FrameSink] = []

    def attach(sink: FrameSink) -> Callable[[], None]:
        sinks.append(sink)
        return lambda: None

    ended: list[EndReason] = []
    offer = MediaOffer("Play", "127.0.0.1", rx.getsockname()[1], SendMode.UDP, None, 96)
    random.seed(1234)
    session = MediaSession(
        call_id="c",
        channel_id="34020000001320000001",
        offer=offer,
        local_ip="127.0.0.1",
        rtp_ssrc=0x01000001,
        codec=VideoCodec.H264,
        attach=attach,
        on_end=lambda _s, reason: ended.append(reason),
        audio=audio,
    )
    await session.prepare()
    session.start()
    for _ in range(100):
        if sinks:
            break
        await asyncio.sleep(0.01)
    rng = random.Random(7)
    frames = [rng.randbytes(rng.randrange(1, 30_000)) for _ in range(8)]
    sinks[0](EncodedFrame(frames[0], 3600, False, 0))  # skipped: not a key frame
    for i, data in enumerate(frames):
        sinks[0](EncodedFrame(data, 3600 * (i + 2), i % 4 == 0, 0))
    await asyncio.sleep(0.05)  # the transport's path sends at once too; nothing is buffered
    received = []
    while True:
        try:
            received.append(rx.recv(65536))
        except BlockingIOError:
            break
    session.stop(EndReason.BYE)
    rx.close()
    return received, session.counters


@pytest.mark.parametrize("audio", [None, Codec.G711A])
async def test_session_sends_the_same_bytes_both_ways(
    audio: Codec | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, fast_counters = await _session_datagrams(True, audio, monkeypatch)
    slow, slow_counters = await _session_datagrams(False, audio, monkeypatch)
    assert len(fast) > 8
    assert fast == slow
    assert fast_counters == slow_counters
    assert fast_counters.packets == len(fast) and fast_counters.dropped_packets == 0


def test_template_cache_is_bounded_and_shared() -> None:
    cache = media_session._Templates(limit=10_000)
    muxer = PsMuxer(Codec.H264, Codec.G711A)
    frames = [EncodedFrame(bytes([i]) * 3000, 0, i % 3 == 0, 0) for i in range(10)]
    for frame in frames:
        template = cache.get(muxer, frame)
        assert bytes(template.stamp(9000)) == muxer.mux_frame(
            frame.data, 9000, keyframe=frame.keyframe
        )
        assert cache.get(muxer, frame) is template  # muxed once, then shared
        assert cache.size <= 10_000
    other = PsMuxer(Codec.H265)
    assert cache.get(other, frames[-1]) is not cache.get(muxer, frames[-1])
