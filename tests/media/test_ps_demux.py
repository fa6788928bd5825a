"""PsDemuxer on clean, odd and damaged PS streams built from real H.264/H.265."""

from __future__ import annotations

import io
import itertools
import random
from fractions import Fraction

import av
import pytest

from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import Codec, pack_header, program_stream_map, system_header
from sightline.media.ps_frames import TimestampOrigin
from sightline.media.ps_mux import PsMuxer
from tests.media.pstools import (
    assert_monotonic,
    demux_all,
    pes,
    plain_pack,
    private,
    split_packs,
)
from tests.media.video import EncodedFrame, encode_pattern

STREAMS = [("libx264", Codec.H264), ("libx265", Codec.H265)]


def frames_of(encoder: str, count: int = 50, **kw: int) -> tuple[EncodedFrame, ...]:
    """Encoded test pattern (B-frames on, so PTS and DTS differ)."""
    return encode_pattern(encoder, count, bframes=2, **kw)


def mux(frames: tuple[EncodedFrame, ...], codec: Codec, max_pes_payload: int = 65_522) -> bytes:
    """Frames through our muxer."""
    m = PsMuxer(codec, max_pes_payload=max_pes_payload)
    return b"".join(
        m.mux_frame(f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe) for f in frames
    )


def same(units: list, frames: tuple[EncodedFrame, ...]) -> None:  # type: ignore[type-arg]
    """Units equal frames in data, times and key flags."""
    assert [u.data for u in units] == [f.data for f in frames]
    assert [(u.pts_90k, u.dts_90k) for u in units] == [(f.pts_90k, f.dts_90k) for f in frames]
    assert [u.keyframe for u in units] == [f.keyframe for f in frames]


@pytest.mark.parametrize(("encoder", "codec"), STREAMS)
@pytest.mark.parametrize("chunk", [5, 188, 1400, 1 << 30])
def test_round_trip_in_any_chunking(encoder: str, codec: Codec, chunk: int) -> None:
    frames = frames_of(encoder, 12 if chunk < 100 else 50)
    d = PsDemuxer()
    units = demux_all(mux(frames, codec, max_pes_payload=3000), chunk, d)
    same(units, frames)
    assert {u.codec for u in units} == {codec}
    info = d.streams[0xE0]
    assert info.sps_info is not None and (info.sps_info.width, info.sps_info.height) == (320, 240)
    assert d.stats.garbage_bytes == 0 and d.stats.truncated_packets == 0


@pytest.mark.parametrize(("encoder", "codec"), STREAMS)
def test_without_any_psm_the_codec_is_sniffed(encoder: str, codec: Codec) -> None:
    frames = frames_of(encoder)
    ps = b"".join(plain_pack(f) for f in frames)
    assert b"\x00\x00\x01\xbc" not in ps
    d = PsDemuxer()
    units = demux_all(ps, 1400, d)
    same(units, frames)
    assert d.streams[0xE0].codec is codec and d.stats.psm == 0


def test_psm_that_names_the_wrong_codec_is_overruled_by_parameter_sets() -> None:
    frames = frames_of("libx265", 10)
    wrong = program_stream_map([(0x1B, 0xE0)])
    ps = b"".join(
        pack_header(f.dts_90k) + (wrong if f.keyframe else b"") + pes(0xE0, f.data, f.pts_90k)
        for f in frames
    )
    units = demux_all(ps)
    assert [u.data for u in units] == [f.data for f in frames]
    assert {u.codec for u in units} == {Codec.H265}


@pytest.mark.parametrize(("encoder", "codec"), STREAMS)
def test_frames_over_64k_in_several_pes(encoder: str, codec: Codec) -> None:
    frames = encode_pattern(encoder, 8, width=1920, height=1080, gop=4)
    assert max(len(f.data) for f in frames) > 65_535
    units = demux_all(mux(frames, codec))
    assert [u.data for u in units] == [f.data for f in frames]


def test_unbounded_video_pes_of_length_zero() -> None:
    frames = encode_pattern("libx264", 8, width=1280, height=720, gop=4)

    def pack(f: EncodedFrame) -> bytes:
        header = pes(0xE0, b"", f.pts_90k)
        return pack_header(f.dts_90k) + header[:4] + b"\x00\x00" + header[6:] + f.data

    for chunk in (1400, 3):
        units = demux_all(b"".join(pack(f) for f in frames), chunk)
        assert [u.data for u in units] == [f.data for f in frames]


def test_one_pes_per_nal_with_private_data_between_like_hikvision() -> None:
    frames = frames_of("libx264", 30)
    rng = random.Random(5)
    parts = []
    for f in frames:
        nals = [b"\x00\x00\x00\x01" + n for n in f.data.split(b"\x00\x00\x00\x01") if n]
        parts.append(pack_header(f.dts_90k))
        if f.keyframe:
            parts.append(system_header([(0xE0, True), (0xBD, False)]))
            parts.append(program_stream_map([(0x1B, 0xE0)]))
        for nal in nals:
            parts.append(pes(0xE0, nal, f.pts_90k, f.dts_90k))
            junk = rng.randbytes(rng.randint(0, 300)) + b"\x00\x00\x01\xe0\x00\x00"
            parts.append(private(junk))
    units = demux_all(b"".join(parts))
    assert [u.data for u in units] == [f.data for f in frames]
    assert_monotonic(units)


def test_garbage_between_packs_is_skipped() -> None:
    frames = frames_of("libx265")
    rng = random.Random(7)
    pieces = []
    for pack in split_packs(mux(frames, Codec.H265)):
        # Random bytes, with start codes only where an ES start code or a bare prefix sits.
        junk = rng.randbytes(rng.randint(0, 500)).replace(b"\x00\x00\x01", b"\x00\x02\x01")
        pieces.append(junk + rng.choice([b"\x00\x00\x01\x41\x9a", b"\x00\x00\x01", b""]))
        pieces.append(pack)
    d = PsDemuxer()
    units = demux_all(b"".join(pieces), 999, d)
    same(units, frames)
    assert d.stats.garbage_bytes > 0


@pytest.mark.parametrize("seed", range(4))
def test_truncated_packs_lose_only_their_own_frame(seed: int) -> None:
    frames = frames_of("libx264", 60)
    rng = random.Random(seed)
    packs = split_packs(mux(frames, Codec.H264, max_pes_payload=4000))
    damaged = set(rng.sample(range(1, len(packs)), 12))
    for i in damaged:
        p = packs[i]
        a = rng.randrange(len(p))
        b = min(len(p), a + rng.randint(1, 3000))
        packs[i] = p[:a] + p[b:] if rng.random() < 0.7 else p[:a]
    d = PsDemuxer()
    units = demux_all(b"".join(packs), 1400, d)
    assert_monotonic(units)
    by_pts = {u.pts_90k: u for u in units}
    for i, f in enumerate(frames):
        if i not in damaged:
            assert by_pts[f.pts_90k].data == f.data, i
    originals = {f.data for f in frames}
    broken = [u for u in units if u.data not in originals]
    assert len(broken) <= len(damaged)
    assert all(len(u.data) < 400_000 for u in units)


def test_reset_after_known_loss_resynchronises() -> None:
    frames = frames_of("libx264", 20)
    ps = mux(frames, Codec.H264)
    packs = split_packs(ps)
    d = PsDemuxer()
    first = d.feed(b"".join(packs[:5]) + packs[5][: len(packs[5]) // 2])
    first += d.reset()
    rest = demux_all(b"".join(packs[6:]), 1400, d)
    assert [u.data for u in first + rest] == [f.data for f in frames[:5] + frames[6:]]


def test_stream_muxed_by_ffmpeg() -> None:
    frames = frames_of("libx264", 75)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpeg") as out:
        stream = out.add_stream("h264", rate=25)
        stream.width, stream.height = 320, 240
        stream.time_base = Fraction(1, 90000)
        for f in frames:
            packet = av.Packet(f.data)
            packet.pts, packet.dts, packet.stream = f.pts_90k, f.dts_90k, stream
            packet.time_base = Fraction(1, 90000)
            out.mux(packet)
    units = demux_all(buf.getvalue())
    assert [u.data for u in units] == [f.data for f in frames]
    assert_monotonic(units)
    shift = units[0].dts_90k - frames[0].dts_90k
    for u, f in zip(units, frames, strict=True):
        assert u.dts_90k - shift == f.dts_90k
        if u.origin is TimestampOrigin.STREAM:
            assert u.pts_90k - shift == f.pts_90k


def test_missing_backwards_and_wrapping_timestamps_come_out_increasing() -> None:
    frames = encode_pattern("libx264", 40)
    base = (1 << 33) - 15 * 3600
    packs = []
    for i, f in enumerate(frames):
        raw = (base + i * 3600) % (1 << 33)
        if i % 4 == 2:
            pts = None
        elif i == 9:
            pts = raw - 50 * 3600  # one glitch backwards
        else:
            pts = raw
        packs.append(pack_header(raw) + pes(0xE0, f.data, pts))
    units = demux_all(b"".join(packs))
    assert [u.data for u in units] == [f.data for f in frames]
    assert [u.dts_90k for u in units] == [base + i * 3600 for i in range(len(frames))]
    origins = [u.origin for u in units]
    assert origins[2] is TimestampOrigin.DERIVED and origins[9] is TimestampOrigin.REPAIRED
    assert origins.count(TimestampOrigin.STREAM) == len(frames) - 11


def test_clock_reset_is_followed_after_three_frames() -> None:
    frames = encode_pattern("libx264", 20)
    raw = [i * 3600 for i in range(10)] + [500 + i * 1800 for i in range(10)]
    units = demux_all(
        b"".join(pack_header(0) + pes(0xE0, f.data, t) for f, t in zip(frames, raw, strict=True))
    )
    assert_monotonic(units)
    steps = [b.dts_90k - a.dts_90k for a, b in itertools.pairwise(units)]
    assert steps[-5:] == [1800] * 5


def test_audio_with_and_without_psm() -> None:
    video = encode_pattern("libx264", 10)
    tone = bytes(range(1, 256)) * 2
    muxer = PsMuxer(Codec.H264, Codec.G711U)
    ps = b"".join(
        muxer.mux_frame(f.data, f.pts_90k, keyframe=f.keyframe)
        + muxer.mux_audio(tone, f.pts_90k + 100)
        for f in video
    )
    units = demux_all(ps)
    audio = [u for u in units if u.stream_id == 0xC0]
    assert [u.codec for u in audio] == [Codec.G711U] * len(video)
    assert [u.pts_90k for u in audio] == [f.pts_90k + 100 for f in video]
    assert all(u.data == tone for u in audio)
    bare = b"".join(pack_header(0) + pes(0xC0, tone, None) for _ in range(5))
    units = demux_all(bare)
    assert [u.codec for u in units] == [Codec.G711A] * 5
    step = len(tone) * 90000 // 8000
    assert [u.dts_90k - units[0].dts_90k for u in units] == [i * step for i in range(5)]


def test_aac_is_sniffed_from_adts_and_timed_by_its_frames() -> None:
    adts = bytes((0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC)) + bytes(9)  # 16 bytes, 44.1 kHz
    units = demux_all(b"".join(pack_header(0) + pes(0xC0, adts * 2, None) for _ in range(3)))
    assert {u.codec for u in units} == {Codec.AAC}
    assert units[1].dts_90k - units[0].dts_90k == 2 * 1024 * 90000 // 44100


def test_marker_bit_ends_the_frame_without_waiting_for_the_next() -> None:
    frames = frames_of("libx265", 20)
    d = PsDemuxer()
    for pack, f in zip(split_packs(mux(frames, Codec.H265)), frames, strict=True):
        pieces = [pack[i : i + 1400] for i in range(0, len(pack), 1400)]
        got = [u for p in pieces[:-1] for u in d.feed(p)]
        got += d.feed(pieces[-1], end_of_frame=True)
        assert [(u.data, u.pts_90k, u.dts_90k) for u in got] == [(f.data, f.pts_90k, f.dts_90k)]
        assert got[0].origin is TimestampOrigin.STREAM


def test_marker_on_every_packet_is_noticed_and_ignored() -> None:
    frames = frames_of("libx264", 20, width=640, height=480)
    d = PsDemuxer()
    ps = mux(frames, Codec.H264)
    units = [u for i in range(0, len(ps), 500) for u in d.feed(ps[i : i + 500], end_of_frame=True)]
    units += d.flush()
    originals = [f.data for f in frames]
    assert [u.data for u in units][-15:] == originals[-15:]
