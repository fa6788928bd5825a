"""Property tests: PS round trips for generated streams; hostile bytes never break the demuxer."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sightline.media.ps_demux import PsDemuxer
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import VideoAssembler
from sightline.media.ps_mux import PsMuxer
from tests.media.pstools import assert_monotonic, escape
from tests.media.video import encode_pattern

MAX_BUFFERED = 300_000


@st.composite
def h264_frames(draw: st.DrawFn) -> list[tuple[bytes, int, bool]]:
    """Access units: AUD + one or more slices of a picture, key frames with SPS/PPS."""
    frames = []
    count = draw(st.integers(1, 12))
    step = draw(st.integers(1, 9000))
    for i in range(count):
        key = i == 0 or draw(st.booleans())
        au = b"\x00\x00\x00\x01\x09\xf0"
        if key:
            au += b"\x00\x00\x00\x01\x67\x42\xc0\x1e\xda" + b"\x00\x00\x00\x01\x68\xce\x3c\x80"
        for s in range(draw(st.integers(1, 3))):
            head = bytes((0x65 if key else 0x41, 0x88 if s == 0 else 0x20))
            au += b"\x00\x00\x01" + head + escape(draw(st.binary(max_size=3000)))
        frames.append((au, 3600 + i * step, key))
    return frames


@settings(max_examples=60, deadline=None)
@given(
    frames=h264_frames(),
    max_pes=st.integers(50, 65_000),
    chunk=st.integers(1, 5000),
    marker=st.booleans(),
)
def test_generated_h264_round_trips(
    frames: list[tuple[bytes, int, bool]], max_pes: int, chunk: int, marker: bool
) -> None:
    muxer = PsMuxer(Codec.H264, max_pes_payload=max_pes)
    d = PsDemuxer()
    units = []
    for au, pts, key in frames:
        pack = muxer.mux_frame(au, pts, keyframe=key)
        pieces = [pack[i : i + chunk] for i in range(0, len(pack), chunk)]
        for n, piece in enumerate(pieces):
            units += d.feed(piece, end_of_frame=marker and n == len(pieces) - 1)
    units += d.flush()
    assert [(u.data, u.pts_90k, u.keyframe) for u in units] == frames


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split data at the given (sorted, deduplicated) offsets."""
    marks = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *marks], [*marks, len(data)], strict=True)]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=4000), cuts=st.lists(st.integers(0, 4000), max_size=20))
def test_arbitrary_bytes_never_raise_and_memory_stays_bounded(data: bytes, cuts: list[int]) -> None:
    d = PsDemuxer(max_frame_bytes=100_000, max_buffered_bytes=MAX_BUFFERED)
    units = []
    for piece in chunked(data, cuts):
        units += d.feed(piece, end_of_frame=len(piece) % 3 == 0)
        assert d.buffered_bytes <= MAX_BUFFERED
    units += d.flush()
    assert_monotonic(units)


_PS_PREFIXES = st.sampled_from(
    [b"\x00\x00\x01\xba", b"\x00\x00\x01\xe0", b"\x00\x00\x01\xc0", b"\x00\x00\x01\xbc",
     b"\x00\x00\x01\xbd", b"\x00\x00\x01\xe0\x00\x00\x80\x80\x05", b"\x00\x00\x01"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.one_of(_PS_PREFIXES, st.binary(max_size=300)), max_size=40),
    cuts=st.lists(st.integers(0, 6000), max_size=10),
)
def test_start_code_soup_never_raises(parts: list[bytes], cuts: list[int]) -> None:
    d = PsDemuxer(max_frame_bytes=50_000, max_buffered_bytes=MAX_BUFFERED)
    units = []
    for piece in chunked(b"".join(parts), cuts):
        units += d.feed(piece)
        assert d.buffered_bytes <= MAX_BUFFERED
    assert_monotonic(units + d.flush())


def _real_stream() -> bytes:
    muxer = PsMuxer(Codec.H265, max_pes_payload=2000)
    return b"".join(
        muxer.mux_frame(f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe)
        for f in encode_pattern("libx265", 12, bframes=2)
    )


REAL = _real_stream()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(REAL)), st.integers(0, 400), st.binary(max_size=16)),
        max_size=8,
    ),
    chunk=st.integers(1, 3000),
)
def test_damaged_real_stream_never_raises(edits: list[tuple[int, int, bytes]], chunk: int) -> None:
    data = bytearray(REAL)
    for at, remove, insert in edits:
        data[at : at + remove] = insert
    d = PsDemuxer(max_buffered_bytes=MAX_BUFFERED)
    units = []
    for i in range(0, len(data), chunk):
        units += d.feed(bytes(data[i : i + chunk]))
        assert d.buffered_bytes <= MAX_BUFFERED
    assert_monotonic(units + d.flush())


def test_fuzz_target_runs_clean_briefly() -> None:
    from tests.fuzz.fuzz_ps_demux import main

    assert main(["--iterations", "150", "--seed", "28181"]) == 0


_PARAMS = b"\x00\x00\x00\x01\x67\x42\xc0\x1e\xda" + b"\x00\x00\x00\x01\x68\xce\x3c\x80"


@settings(max_examples=200, deadline=None)
@given(
    frames=h264_frames(),
    params=st.booleans(),
    junk=st.binary(max_size=40),
    cuts_a=st.lists(st.integers(0, 20_000), max_size=12),
    cuts_b=st.lists(st.integers(0, 20_000), max_size=12),
)
def test_sniffed_codec_does_not_depend_on_how_bytes_are_cut(
    frames: list[tuple[bytes, int, bool]],
    params: bool,
    junk: bytes,
    cuts_a: list[int],
    cuts_b: list[int],
) -> None:
    # No PSM: the assembler sniffs the codec (from the weak votes of three NAL headers when
    # there is no SPS). It must settle at the same NAL unit whether the stream arrives
    # datagram by datagram or joined per frame (the receiver's fast lane), and so give every
    # frame the same stamp.
    pes = [(au if params else au.replace(_PARAMS, b""), pts) for au, pts, _ in frames]
    pes[0] = (junk + pes[0][0], pes[0][1])

    def assemble(cuts: list[int]) -> list[tuple[bytes, object, bool]]:
        a = VideoAssembler(0xE0, None)
        out: list[tuple[bytes, object, bool]] = []
        for data, pts in pes:
            for n, piece in enumerate(chunked(data, cuts)):
                a.push(piece, n == 0, pts if n == 0 else None, None)
                out += a.take()
        a.finish()
        return out + a.take()

    expected = assemble(cuts_a)
    assert assemble(cuts_b) == expected
    assert assemble([]) == expected
