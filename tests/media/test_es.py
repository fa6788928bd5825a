"""Annex-B helpers, SPS parsing, codec strings and avcC/hvcC checked by FFmpeg's decoders."""

from __future__ import annotations

import contextlib

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.media.errors import EsError
from sightline.media.es import (
    annexb_to_length_prefixed,
    guess_video_codec,
    is_keyframe,
    length_prefixed_to_annexb,
    nal_type,
    split_annexb,
)
from sightline.media.es_sps import parse_sps, unescape_rbsp
from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import StreamInfo
from sightline.media.ps_mux import PsMuxer
from tests.media.pstools import demux_all, escape
from tests.media.video import encode_pattern

PARAMS = {Codec.H264: {7, 8}, Codec.H265: {32, 33, 34}}


def stream_info(encoder: str, codec: Codec, **kw: int) -> tuple[StreamInfo, list[bytes]]:
    """Demux an encoded stream; its StreamInfo and its access units."""
    frames = encode_pattern(encoder, **kw)
    muxer = PsMuxer(codec)
    d = PsDemuxer()
    units = demux_all(
        b"".join(muxer.mux_frame(f.data, f.pts_90k, keyframe=f.keyframe) for f in frames), 1400, d
    )
    return d.streams[0xE0], [u.data for u in units]


def test_split_and_types() -> None:
    data = b"\x00\x00\x00\x01\x67\x42\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88\x84\x00"
    nals = split_annexb(data)
    assert nals == [b"\x67\x42", b"\x68\xce", b"\x65\x88\x84"]
    assert [nal_type(Codec.H264, n) for n in nals] == [7, 8, 5]
    assert nal_type(Codec.H265, b"\x40\x01") == 32
    assert is_keyframe(Codec.H264, data) and not is_keyframe(Codec.H264, b"\x00\x00\x01\x41\x9a")
    assert is_keyframe(Codec.H265, b"\x00\x00\x01\x26\x01\xaf")  # IDR_W_RADL
    with pytest.raises(EsError):
        nal_type(Codec.G711A, b"\x01")
    with pytest.raises(EsError):
        nal_type(Codec.H264, b"")


@given(st.lists(st.binary(max_size=50), max_size=10))
def test_length_prefixed_round_trip(bodies: list[bytes]) -> None:
    nals = [b"\x41" + escape(b) for b in bodies]
    annexb = b"".join(b"\x00\x00\x00\x01" + n for n in nals)
    assert split_annexb(annexb) == nals
    assert length_prefixed_to_annexb(annexb_to_length_prefixed(annexb)) == annexb


@given(st.binary(max_size=60))
def test_length_prefixed_garbage_raises_only_es_error(data: bytes) -> None:
    with contextlib.suppress(EsError):
        length_prefixed_to_annexb(data)


@given(st.sampled_from([Codec.H264, Codec.H265]), st.binary(max_size=80))
def test_sps_garbage_raises_only_es_error(codec: Codec, data: bytes) -> None:
    with contextlib.suppress(EsError):
        parse_sps(codec, data)
    guess_video_codec(data)


def test_unescape() -> None:
    assert unescape_rbsp(b"\x00\x00\x03\x01\x00\x00\x03\x00\x03") == b"\x00\x00\x01\x00\x00\x00\x03"


@pytest.mark.parametrize(("profile", "idc"), [("baseline", 66), ("main", 77), ("high", 100)])
@pytest.mark.parametrize(("width", "height"), [(320, 240), (1920, 1080), (352, 288)])
def test_h264_sps_size_profile_and_codec_string(
    profile: str, idc: int, width: int, height: int
) -> None:
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    # "fast" rather than "ultrafast": ultrafast turns CABAC off, which x264 signals as Baseline.
    ctx.options = {"preset": "fast", "profile": profile, "level": "4.1"}
    frame = av.VideoFrame(width, height, "yuv420p")
    frame.pts = 0
    data = b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])
    sps = next(n for n in split_annexb(data) if n[0] & 0x1F == 7)
    info = parse_sps(Codec.H264, sps)
    assert (info.width, info.height, info.profile_idc, info.level_idc) == (width, height, idc, 41)
    assert info.codec_string == f"avc1.{idc:02X}{sps[2]:02X}29"


def test_h265_sps_and_codec_string() -> None:
    info, _ = stream_info("libx265", Codec.H265, frames=3, width=640, height=360)
    assert info.sps_info is not None
    assert (info.sps_info.width, info.sps_info.height) == (640, 360)
    assert info.sps_info.profile_idc == 1  # Main
    assert info.codec_string is not None and info.codec_string.startswith("hvc1.1.6.L")
    assert info.codec_string.split(".")[3] == f"L{info.sps_info.level_idc}"


@pytest.mark.parametrize(
    ("encoder", "codec", "decoder"),
    [("libx264", Codec.H264, "h264"), ("libx265", Codec.H265, "hevc")],
)
def test_decoder_config_record_is_what_ffmpeg_needs(
    encoder: str, codec: Codec, decoder: str
) -> None:
    info, units = stream_info(encoder, codec, frames=30, width=352, height=288)
    ctx = av.CodecContext.create(decoder, "r")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.extradata = info.decoder_config()
    decoded = []
    for unit in units:
        # Parameter sets removed from the samples: the decoder can only get them from the record.
        kept = [n for n in split_annexb(unit) if nal_type(codec, n) not in PARAMS[codec]]
        sample = b"".join(len(n).to_bytes(4, "big") + n for n in kept)
        decoded += ctx.decode(av.Packet(sample))
    decoded += ctx.decode(None)
    assert len(decoded) == len(units)
    assert {(f.width, f.height) for f in decoded} == {(352, 288)}


def test_decoder_config_needs_parameter_sets() -> None:
    with pytest.raises(EsError):
        StreamInfo(0xE0, Codec.H264).decoder_config()
    with pytest.raises(EsError):
        StreamInfo(0xE0, Codec.H265).decoder_config()
    with pytest.raises(EsError):
        StreamInfo(0xC0, Codec.G711A).decoder_config()


@pytest.mark.parametrize(("encoder", "codec"), [("libx264", Codec.H264), ("libx265", Codec.H265)])
def test_codec_guess_from_elementary_stream(encoder: str, codec: Codec) -> None:
    frames = encode_pattern(encoder, 30)
    assert guess_video_codec(frames[0].data) is codec
    assert guess_video_codec(b"".join(f.data for f in frames[1:6])) in (codec, None)
    assert guess_video_codec(b"\x12\x34") is None
