"""The simulator's G.711 audio: the tone, its clock, and a real call that carries it in PS."""

from __future__ import annotations

import asyncio
import itertools
from fractions import Fraction

import av
import numpy as np
import pytest

from sightline.cli.main import _parser as build_parser
from sightline.cli.sim import config_from_args
from sightline.gb28181.invite import MediaTransport
from sightline.media.ps_format import Codec
from sightline.sim import SimHost
from sightline.sim.audio import (
    BEEP_HZ,
    FRAME_90K,
    TONE_HZ,
    AudioClock,
    SimAudio,
    g711_loop,
    tone_samples,
)
from sightline.sim.config import DeviceGroup
from tests.sim.conftest import ConfigFactory
from tests.sim.media_peer import bye, invite
from tests.sim.platform import LoopbackPlatform


def _decode_g711(codec: Codec, data: bytes) -> np.ndarray:
    ctx = av.CodecContext.create("pcm_alaw" if codec is Codec.G711A else "pcm_mulaw", "r")
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate, ctx.layout = 8000, "mono"
    packet = av.Packet(data)
    packet.pts, packet.time_base = 0, Fraction(1, 8000)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in ctx.decode(packet)])


def _peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * 8000 / len(samples))


@pytest.mark.parametrize("codec", [Codec.G711A, Codec.G711U])
def test_the_loop_is_one_second_of_a_tone_with_a_beep(codec: Codec) -> None:
    data = g711_loop(codec)
    assert len(data) == 8000
    pcm = _decode_g711(codec, data)
    assert abs(_peak_hz(pcm[:800]) - BEEP_HZ) < 15  # the first 100 ms: the beep
    assert abs(_peak_hz(pcm[1000:]) - TONE_HZ) < 5
    reference = tone_samples().astype(np.float64)
    assert float(np.max(np.abs(pcm - reference))) < 0.05 * 32768  # G.711 is near-lossless here


def test_the_audio_clock_follows_the_video_and_resyncs_after_a_jump() -> None:
    clock = AudioClock(Codec.G711A)
    first = clock.chunks_until(0)
    assert [c.pts_90k for c in first] == [0]
    assert [c.pts_90k for c in clock.chunks_until(3600 * 3)] == [3600, 7200, 10800]
    assert clock.chunks_until(10800) == []  # the same time again: nothing new
    assert all(len(c.data) == 320 for c in first)
    # 25 frames make the loop: the 26th starts over
    chunks = [c for t in range(4, 30) for c in clock.chunks_until(t * FRAME_90K)]
    assert chunks[21].data == first[0].data
    jumped = clock.chunks_until(50 * 90000)  # video skipped ahead (frames dropped)
    assert [c.pts_90k for c in jumped] == [50 * 90000]


def test_sim_and_demo_commands_take_an_audio_option() -> None:
    args = build_parser().parse_args(
        [
            "sim",
            "--server",
            "127.0.0.1:5060",
            "--server-id",
            "34020000002000000001",
            "--audio",
            "g711u",
        ]
    )
    assert config_from_args(args).audio is SimAudio.G711U
    default = build_parser().parse_args(
        ["sim", "--server", "127.0.0.1:5060", "--server-id", "34020000002000000001"]
    )
    assert config_from_args(default).audio is SimAudio.NONE
    demo = build_parser().parse_args(["demo", "--audio", "g711a"])
    assert demo.audio == "g711a"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--audio", "mp3"])


async def test_a_call_carries_g711_in_the_ps_next_to_the_video(
    platform: LoopbackPlatform, sim_config: ConfigFactory
) -> None:
    groups = (DeviceGroup(count=1, audio=SimAudio.G711A), DeviceGroup(count=1))
    host = SimHost(sim_config(groups=groups, keepalive_s=30.0))
    await host.start()
    try:
        assert await host.wait_registered(2, timeout_s=5)
        loud, quiet = list(host.devices.values())
        units = {}
        for device in (loud, quiet):
            channel = device.channel_id(0)
            call = await invite(platform, device.device_id, channel, MediaTransport.UDP)
            answer = call.answer
            assert answer.payload_types == (96,) and answer.encoding(96) == "PS/90000"
            await call.receiver.sink.wait_packets(1)
            await asyncio.sleep(1.0)
            assert (await bye(platform, device.device_id, call)).status == 200
            units[device] = call.receiver.sink.access_units()
            call.receiver.close()
    finally:
        await host.stop()
    assert {u.codec for u in units[quiet]} == {Codec.H264}  # the default: no audio
    sound = [u for u in units[loud] if u.codec is Codec.G711A]
    video = [u for u in units[loud] if u.codec is Codec.H264]
    assert len(sound) >= 15 and {u.stream_id for u in sound} == {0xC0}
    assert {b.pts_90k - a.pts_90k for a, b in itertools.pairwise(sound)} == {FRAME_90K}
    assert abs(sound[0].pts_90k - video[0].pts_90k) <= FRAME_90K  # one clock for both
    pcm = _decode_g711(Codec.G711A, b"".join(u.data for u in sound))
    assert float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > 4000
