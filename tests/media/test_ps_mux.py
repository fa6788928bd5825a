"""PsMuxer: PyAV/FFmpeg reads what it writes, frame for frame."""

from __future__ import annotations

import io

import av
import pytest

from sightline.media.errors import PsMuxError
from sightline.media.ps_format import Codec, decode_timestamp
from sightline.media.ps_mux import AudioChunk, PsMuxer
from tests.media.video import EncodedFrame, encode_pattern

CODECS = [("libx264", Codec.H264, "h264"), ("libx265", Codec.H265, "hevc")]


def mux_all(muxer: PsMuxer, frames: tuple[EncodedFrame, ...]) -> bytes:
    """The whole stream as PS bytes."""
    return b"".join(
        muxer.mux_frame(f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe) for f in frames
    )


def ffmpeg_packets(ps: bytes) -> tuple[str, list[bytes]]:
    """Codec name and non-empty video packets as FFmpeg's PS demuxer sees them."""
    with av.open(io.BytesIO(ps), "r", format="mpeg") as container:
        stream = container.streams.video[0]
        name = stream.codec_context.name
        return name, [bytes(p) for p in container.demux(stream) if p.size]


@pytest.mark.parametrize(("encoder", "codec", "ffname"), CODECS)
@pytest.mark.parametrize("max_pes", [65_522, 1_000])
def test_ffmpeg_reads_every_frame(encoder: str, codec: Codec, ffname: str, max_pes: int) -> None:
    frames = encode_pattern(encoder, 50, bframes=2)
    ps = mux_all(PsMuxer(codec, max_pes_payload=max_pes), frames)
    name, packets = ffmpeg_packets(ps)
    assert name == ffname
    assert [len(p) for p in packets] == [len(f.data) for f in frames]
    assert packets == [f.data for f in frames]
    with av.open(io.BytesIO(ps), "r", format="mpeg") as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == len(frames)
    assert {(f.width, f.height) for f in decoded} == {(320, 240)}


def test_frames_over_64k_are_split_into_several_pes() -> None:
    frames = encode_pattern("libx264", 10, width=1280, height=720, gop=10)
    big = [f for f in frames if len(f.data) > 65_535]
    assert big, "a 720p key frame of the test pattern should exceed one PES"
    ps = mux_all(PsMuxer(Codec.H264), frames)
    assert ps.count(b"\x00\x00\x01\xe0") > len(frames)
    _, packets = ffmpeg_packets(ps)
    assert packets == [f.data for f in frames]


def test_pack_layout_follows_annex_c() -> None:
    frames = encode_pattern("libx264", 30, gop=25)
    muxer = PsMuxer(Codec.H264, Codec.G711A)
    for f in frames:
        pack = muxer.mux_frame(f.data, f.pts_90k, keyframe=f.keyframe)
        assert pack.startswith(b"\x00\x00\x01\xba")
        has_headers = b"\x00\x00\x01\xbb" in pack and b"\x00\x00\x01\xbc" in pack
        assert has_headers == f.keyframe
        pes = pack.index(b"\x00\x00\x01\xe0")
        assert decode_timestamp(pack, pes + 9) == f.pts_90k
    psm = pack_psm(muxer.mux_frame(frames[0].data, 0, keyframe=True))
    assert (0x1B, 0xE0) in psm and (0x90, 0xC0) in psm


def pack_psm(pack: bytes) -> list[tuple[int, int]]:
    """(stream_type, stream_id) entries of the PSM in a pack."""
    at = pack.index(b"\x00\x00\x01\xbc") + 6
    info = int.from_bytes(pack[at + 2 : at + 4], "big")
    at += 4 + info
    size = int.from_bytes(pack[at : at + 2], "big")
    entries = pack[at + 2 : at + 2 + size]
    return [(entries[i], entries[i + 1]) for i in range(0, len(entries), 4)]


def test_audio_rides_in_the_pack_and_ffmpeg_sees_it() -> None:
    frames = encode_pattern("libx264", 25)
    muxer = PsMuxer(Codec.H264, Codec.G711A)
    tone = bytes(range(256)) * 2 + bytes(128)
    ps = b"".join(
        muxer.mux_frame(
            f.data,
            f.pts_90k,
            keyframe=f.keyframe,
            audio=[AudioChunk(tone, f.pts_90k)],
        )
        for f in frames
    ) + muxer.mux_audio(tone, frames[-1].pts_90k + 3600)
    with av.open(io.BytesIO(ps), "r", format="mpeg") as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "pcm_alaw"
        packets = [p for p in container.demux(audio) if p.size]
    assert sum(p.size for p in packets) == len(tone) * (len(frames) + 1)


def test_muxer_rejects_what_it_cannot_write() -> None:
    with pytest.raises(PsMuxError):
        PsMuxer(Codec.G711A)
    with pytest.raises(PsMuxError):
        PsMuxer(Codec.H264, Codec.H265)
    with pytest.raises(PsMuxError):
        PsMuxer(Codec.H264, max_pes_payload=70_000)
    muxer = PsMuxer(Codec.H264)
    with pytest.raises(PsMuxError):
        muxer.mux_frame(b"", 0)
    with pytest.raises(PsMuxError):
        muxer.mux_frame(b"\x00\x00\x01\x09", 100, dts_90k=200)
    with pytest.raises(PsMuxError):
        muxer.mux_audio(b"\x55", 0)
