"""RFC 6184 / RFC 7798 packetisation: round trips through the depacketiser, FU fragments."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.media.errors import RtpError
from sightline.media.es import split_annexb
from sightline.media.fmp4 import stream_info_of
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.rtp import RtpPacket, parse_rtp
from sightline.media.rtp_h26x import H26xDepacketiser, H26xPacketiser, sdp_attributes
from tests.media.video import encode_pattern

ENCODERS = [("libx264", Codec.H264), ("libx265", Codec.H265)]


def round_trip(codec: Codec, units: list[bytes], max_payload: int) -> list[bytes]:
    packetiser = H26xPacketiser(codec, ssrc=7, sequence=65530, max_payload=max_payload)
    depacketiser = H26xDepacketiser(codec)
    out: list[bytes] = []
    for i, unit in enumerate(units):
        for packet in packetiser.packetise(unit, i * 3600):
            assert len(packet.payload) <= max_payload
            out += depacketiser.push(parse_rtp(bytes(packet)))
    return out


@pytest.mark.parametrize(("encoder", "codec"), ENCODERS)
def test_real_streams_round_trip_nal_for_nal(encoder: str, codec: Codec) -> None:
    clip = [f.data for f in encode_pattern(encoder, 30)]
    out = round_trip(codec, clip, 1200)
    assert [split_annexb(u) for u in out] == [split_annexb(u) for u in clip]


@pytest.mark.parametrize(("encoder", "codec"), ENCODERS)
def test_large_nal_units_are_fragmented_with_start_and_end_bits(encoder: str, codec: Codec) -> None:
    key = next(f.data for f in encode_pattern(encoder, 30) if f.keyframe)
    slices = [n for n in split_annexb(key) if len(n) > 500]
    packets = H26xPacketiser(codec, ssrc=1, max_payload=200).packetise(key, 0)
    fu_type, hsize = (28, 1) if codec is Codec.H264 else (49, 2)
    fragments = [
        p
        for p in packets
        if (p.payload[0] & 0x1F if codec is Codec.H264 else p.payload[0] >> 1 & 0x3F) == fu_type
    ]
    assert slices and len(fragments) >= len(slices[0]) // 200
    starts = [p for p in fragments if p.payload[hsize] & 0x80]
    ends = [p for p in fragments if p.payload[hsize] & 0x40]
    assert len(starts) == len(ends) == len(slices)
    assert [p.marker for p in packets] == [False] * (len(packets) - 1) + [True]
    assert len({p.timestamp for p in packets}) == 1
    assert [p.sequence for p in packets] == list(range(len(packets)))


def test_a_lost_fragment_drops_only_its_nal_unit() -> None:
    key = next(f.data for f in encode_pattern("libx264", 30) if f.keyframe)
    packets = H26xPacketiser(Codec.H264, ssrc=1, max_payload=300).packetise(key, 0)
    depacketiser = H26xDepacketiser(Codec.H264)
    out = []
    nals = split_annexb(key)
    assert len(nals[-1]) > 3 * 300  # the slice spans at least three fragments
    for i, packet in enumerate(packets):
        if i != len(packets) - 2:  # a fragment in the middle of the slice
            out += depacketiser.push(packet)
    assert depacketiser.lost_packets == 1
    (unit,) = out
    assert split_annexb(unit) == nals[:-1]  # SPS, PPS and SEI survive


def test_aggregation_packets_are_read() -> None:
    sps, pps = b"\x67\x42\xc0\x1e\xda", b"\x68\xce\x3c\x80"
    stap = b"\x18" + len(sps).to_bytes(2, "big") + sps + len(pps).to_bytes(2, "big") + pps
    depacketiser = H26xDepacketiser(Codec.H264)
    depacketiser.push(RtpPacket(96, 1, 0, 1, stap))
    (unit,) = depacketiser.push(RtpPacket(96, 2, 0, 1, b"\x65\x88\x80", marker=True))
    assert split_annexb(unit) == [sps, pps, b"\x65\x88\x80"]


def test_a_timestamp_change_ends_an_access_unit_without_a_marker() -> None:
    depacketiser = H26xDepacketiser(Codec.H265)
    assert depacketiser.push(RtpPacket(96, 1, 0, 1, b"\x26\x01\xaa")) == []
    assert depacketiser.push(RtpPacket(96, 2, 3600, 1, b"\x02\x01\xbb")) == [
        b"\x00\x00\x00\x01\x26\x01\xaa"
    ]


@pytest.mark.parametrize(
    ("codec", "payload"),
    [
        (Codec.H264, b"\x1c"),  # FU-A without header
        (Codec.H264, b"\x18\x00\x09\x67"),  # STAP-A NAL size past the end
        (Codec.H264, b"\x19\x00\x01"),  # STAP-B: interleaved mode, unsupported
        (Codec.H265, b"\x62"),  # one byte: shorter than the payload header
        (Codec.H265, b"\x64\x01\x00"),  # type 50 (PACI), unsupported
    ],
)
def test_malformed_payloads_raise_rtp_error(codec: Codec, payload: bytes) -> None:
    with pytest.raises(RtpError):
        H26xDepacketiser(codec).push(RtpPacket(96, 1, 0, 1, payload, marker=True))


def test_packetising_other_codecs_is_refused() -> None:
    with pytest.raises(RtpError):
        H26xPacketiser(Codec.G711A, ssrc=1).packetise(b"\x00\x00\x01\x01\x02", 0)


@pytest.mark.parametrize(("encoder", "codec"), ENCODERS)
def test_sdp_parameter_sets_are_the_streams(encoder: str, codec: Codec) -> None:
    key = next(f for f in encode_pattern(encoder, 30) if f.keyframe)
    info = stream_info_of(AccessUnit(codec, 0xE0, 0, 0, key.data, True))
    assert info is not None
    rtpmap, fmtp = sdp_attributes(info, 97)
    assert rtpmap == f"rtpmap:97 {'H264' if codec is Codec.H264 else 'H265'}/90000"
    fields = dict(p.split("=", 1) for p in fmtp.removeprefix("fmtp:97 ").split(";"))
    if codec is Codec.H264:
        sets = [base64.b64decode(s) for s in fields["sprop-parameter-sets"].split(",")]
        assert sets == [*info.sps, *info.pps]
    else:
        assert base64.b64decode(fields["sprop-vps"]) == info.vps[0]
        assert base64.b64decode(fields["sprop-sps"]) == info.sps[0]
        assert base64.b64decode(fields["sprop-pps"]) == info.pps[0]


def _nal(codec: Codec) -> st.SearchStrategy[bytes]:
    # A NAL header without the forbidden bit and a body free of start-code emulation.
    head = st.integers(1, 23).map(lambda t: bytes((0x60 | t,)))
    if codec is Codec.H265:
        head = st.integers(0, 40).map(lambda t: bytes((t << 1, 1)))
    body = st.binary(min_size=1, max_size=3000).map(lambda b: b.replace(b"\x00", b"\x01"))
    return st.tuples(head, body).map(lambda hb: hb[0] + hb[1])


@settings(max_examples=100, deadline=None)
@given(
    codec=st.sampled_from([Codec.H264, Codec.H265]),
    data=st.data(),
    max_payload=st.integers(8, 1500),
)
def test_generated_access_units_round_trip(
    codec: Codec, data: st.DataObject, max_payload: int
) -> None:
    units = data.draw(st.lists(st.lists(_nal(codec), min_size=1, max_size=6), max_size=5))
    annexb = [b"".join(b"\x00\x00\x01" + n for n in nals) for nals in units]
    assert [split_annexb(u) for u in round_trip(codec, annexb, max_payload)] == units


@settings(max_examples=300)
@given(
    codec=st.sampled_from([Codec.H264, Codec.H265]),
    payloads=st.lists(st.binary(max_size=50), max_size=10),
)
def test_arbitrary_payloads_raise_only_rtp_error(codec: Codec, payloads: list[bytes]) -> None:
    depacketiser = H26xDepacketiser(codec)
    for seq, payload in enumerate(payloads):
        try:
            units = depacketiser.push(RtpPacket(96, seq, seq // 3, 1, payload, marker=seq % 2 == 0))
        except RtpError:
            continue
        assert all(u.startswith(b"\x00\x00\x00\x01") for u in units)
