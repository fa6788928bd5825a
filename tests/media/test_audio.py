"""G.711 in PS → AAC in fMP4: the simulator's tone, muxed, demuxed, transcoded and decoded."""

from __future__ import annotations

import dataclasses
import io
import itertools

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.media.audio import G711ToAac
from sightline.media.fmp4 import Fmp4Packager
from sightline.media.fmp4_audio import AacConfig, AdtsError, adts_frame, parse_adts
from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.ps_mux import AudioChunk, PsMuxer
from sightline.sim.audio import AudioClock
from tests.media.test_fmp4 import boxes, child
from tests.media.video import encode_pattern


def demuxed(audio: Codec | None, frames: int = 75) -> list[AccessUnit]:
    """A simulated camera's stream as the platform sees it: video and (maybe) G.711 units."""
    muxer = PsMuxer(Codec.H264, audio)
    clock = None if audio is None else AudioClock(audio)
    demuxer = PsDemuxer()
    units: list[AccessUnit] = []
    for f in encode_pattern("libx264", frames):
        chunks = [] if clock is None else clock.chunks_until(f.pts_90k)
        pack = muxer.mux_frame(
            f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe, audio=chunks
        )
        units += demuxer.feed(pack, end_of_frame=True)
    return units + demuxer.flush()


def with_aac(units: list[AccessUnit]) -> list[AccessUnit]:
    """What the ``+aac`` variant hands its viewers."""
    transcoder = G711ToAac()
    out: list[AccessUnit] = []
    for unit in units:
        out.append(unit)
        out += transcoder.push(unit)
    return out


def packaged(units: list[AccessUnit], *, audio: bool) -> tuple[bytes, list[str]]:
    packager = Fmp4Packager(audio=audio)
    data, mimes = bytearray(), []
    for unit in units:
        for segment in packager.push(unit):
            data += segment.data
            if segment.init:
                mimes.append(segment.mime_type)
    return bytes(data), mimes


@pytest.mark.parametrize("codec", [Codec.G711A, Codec.G711U])
def test_g711_in_ps_comes_out_as_aac_that_ffmpeg_decodes_with_the_video(codec: Codec) -> None:
    units = demuxed(codec)
    assert {u.codec for u in units} == {Codec.H264, codec}
    data, mimes = packaged(with_aac(units), audio=True)
    assert mimes == ['video/mp4; codecs="avc1.42C00D, mp4a.40.2"']
    with av.open(io.BytesIO(data), "r", format="mp4") as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.streams.audio[0].codec_context.name == "aac"
        video = list(container.decode(video=0))
        container.seek(0)
        sound = list(container.decode(audio=0))
    assert len(video) == 75
    assert {f.sample_rate for f in sound} == {16000}
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in sound])
    assert len(samples) / 16000 > 2.5  # 3 s of video; the encoder holds back its last frame
    rms = float(np.sqrt(np.mean(samples[4000:] ** 2)))
    assert rms > 0.1  # the tone, at a quarter of full scale (sine RMS ~0.18)
    # the tone's pitch survives: 440 Hz dominates away from the 880 Hz beeps
    window = samples[4000:12000]
    peak_hz = np.argmax(np.abs(np.fft.rfft(window))) * 16000 / len(window)
    assert abs(peak_hz - 440) < 10


def test_a_stream_without_audio_is_packaged_exactly_as_before() -> None:
    units = demuxed(None)
    old, old_mimes = packaged(units, audio=False)
    new, new_mimes = packaged(with_aac(units), audio=True)
    assert new == old and new_mimes == old_mimes == ['video/mp4; codecs="avc1.42C00D"']


def test_a_stream_map_without_audio_settles_at_the_key_frame() -> None:
    packager = Fmp4Packager(audio=True)
    units = demuxed(None)
    assert units[0].keyframe and units[0].audio_declared is False  # our muxer writes a PSM
    out = [packager.push(u) for u in units[:4]]
    assert [len(o) for o in out] == [2, 1, 1, 1]  # init + key frame at once, then one each


def test_without_a_stream_map_the_init_waits_only_the_probe_time() -> None:
    packager = Fmp4Packager(audio=True)
    units = [dataclasses.replace(u, audio_declared=None) for u in demuxed(None)]
    out = [packager.push(u) for u in units[:4]]
    assert [len(o) for o in out] == [0, 0, 0, 5]  # 100 ms at 25 fps, then all held units


@pytest.mark.parametrize("codec", [Codec.G711A, Codec.G711U])
def test_a_stream_map_with_audio_declares_it_on_key_frames(codec: Codec) -> None:
    keys = [u for u in demuxed(codec) if u.keyframe and u.stream_id >= 0xE0]
    assert keys and all(u.audio_declared is True for u in keys)


def test_audio_packager_ignores_g711_for_a_viewer_with_audio_off() -> None:
    units = with_aac(demuxed(Codec.G711A))
    data, mimes = packaged(units, audio=False)
    assert mimes == ['video/mp4; codecs="avc1.42C00D"']
    top = dict(boxes(data[: data.index(b"moof") - 4]))
    assert len([k for k, _ in boxes(top[b"moov"]) if k == b"trak"]) == 1


def test_audio_track_declares_the_aac_config() -> None:
    data, _ = packaged(with_aac(demuxed(Codec.G711U, 30)), audio=True)
    moov = dict(boxes(data[: data.index(b"moof") - 4]))[b"moov"]
    traks = [body for kind, body in boxes(moov) if kind == b"trak"]
    assert len(traks) == 2
    mdia = child(traks[1], b"mdia")
    assert child(mdia, b"hdlr")[8:12] == b"soun"
    assert bytes.fromhex("1408") in mdia  # AudioSpecificConfig: AAC-LC, 16 kHz, mono


def test_g711_to_aac_keeps_the_90k_clock_and_resyncs_on_a_jump() -> None:
    transcoder = G711ToAac()
    clock = AudioClock(Codec.G711A)
    units = [
        AccessUnit(Codec.G711A, 0xC0, 1_000_000 + c.pts_90k, 1_000_000 + c.pts_90k, c.data, True)
        for t in range(0, 2 * 90000, 3600)
        for c in clock.chunks_until(t)
    ]
    out = [a for u in units for a in transcoder.push(u)]
    steps = {b.pts_90k - a.pts_90k for a, b in itertools.pairwise(out)}
    assert steps <= {5760}  # 1024 samples at 16 kHz
    assert abs(out[1].pts_90k - 1_000_000) <= 1  # the first is the encoder's priming frame
    jumped = AccessUnit(Codec.G711A, 0xC0, 9_000_000, 9_000_000, units[0].data, True)
    for _ in range(6):
        transcoder.push(jumped)
    more = [a for _ in range(4) for a in transcoder.push(jumped)]
    assert more and all(a.pts_90k > 8_900_000 for a in more)


@given(st.binary(max_size=64))
def test_adts_parser_raises_only_its_error(data: bytes) -> None:
    try:
        config, raw = parse_adts(data)
    except AdtsError:
        return
    assert len(raw) < len(data) and config.sample_rate > 0


@given(
    st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    st.integers(1, 2),
    st.binary(min_size=1, max_size=2000),
)
def test_adts_round_trip(rate: int, channels: int, raw: bytes) -> None:
    config = AacConfig(2, rate, channels)
    assert parse_adts(adts_frame(config, raw)) == (config, raw)


def _tone_units(seconds: float, start: int = 0) -> list[AccessUnit]:
    clock = AudioClock(Codec.G711A)
    return [
        AccessUnit(Codec.G711A, 0xC0, start + c.pts_90k, start + c.pts_90k, c.data, True)
        for t in range(0, int(seconds * 90000), 3600)
        for c in clock.chunks_until(t)
    ]


def test_a_lost_g711_unit_becomes_silence_and_the_aac_stays_gapless() -> None:
    units = _tone_units(2.0)
    whole, holed = G711ToAac(), G711ToAac()
    full = [a for u in units for a in whole.push(u)]
    lossy = [a for i, u in enumerate(units) if i not in (10, 11) for a in holed.push(u)]
    assert [a.pts_90k for a in lossy] == [a.pts_90k for a in full]  # the same timeline
    assert holed.next_pts_90k == whole.next_pts_90k == 50 * 3600


def test_audio_that_stops_is_filled_with_silence_as_the_video_goes_on() -> None:
    transcoder = G711ToAac()
    for unit in _tone_units(1.0):
        transcoder.push(unit)
    assert transcoder.fill_until(1 * 90000) == []  # in step with the video: nothing to fill
    filled = [a for t in range(90000, 5 * 90000, 3600) for a in transcoder.fill_until(t)]
    assert filled and all(a.codec is Codec.AAC for a in filled)
    next_pts = transcoder.next_pts_90k
    assert next_pts is not None and 5 * 90000 - 2 * 27000 <= next_pts <= 5 * 90000
    steps = {b.pts_90k - a.pts_90k for a, b in itertools.pairwise(filled)}
    assert steps == {5760}
    transcoder.fill_until(60 * 90000)  # the video jumped a minute: the audio starts over there
    assert transcoder.next_pts_90k == 60 * 90000 - 27000


def test_a_camera_that_sends_aac_itself_needs_no_transcode() -> None:
    """PS stream type 0x0F: ADTS AAC from the camera goes into the track as it is."""
    aac = [a for a in with_aac(demuxed(Codec.G711A, 50)) if a.codec is Codec.AAC]
    muxer, demuxer = PsMuxer(Codec.H264, Codec.AAC), PsDemuxer()
    units: list[AccessUnit] = []
    pending = list(aac)
    for f in encode_pattern("libx264", 50):
        chunks = []
        while pending and pending[0].pts_90k <= f.pts_90k:
            chunk = pending.pop(0)
            chunks.append(AudioChunk(chunk.data, max(0, chunk.pts_90k)))
        pack = muxer.mux_frame(
            f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe, audio=chunks
        )
        units += demuxer.feed(pack, end_of_frame=True)
    assert {u.codec for u in units} == {Codec.H264, Codec.AAC}
    data, mimes = packaged(units, audio=True)
    assert mimes == ['video/mp4; codecs="avc1.42C00D, mp4a.40.2"']
    with av.open(io.BytesIO(data), "r", format="mp4") as container:
        sound = list(container.decode(audio=0))
    assert len(sound) >= 25 and {f.sample_rate for f in sound} == {16000}
