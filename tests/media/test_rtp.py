"""RTP packets, RFC 4571 framing and the packetiser."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.media.errors import RtpError
from sightline.media.rtp import (
    Rfc4571Deframer,
    RtpExtension,
    RtpPacket,
    RtpPacketiser,
    frame_rfc4571,
    parse_rtp,
)

packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension,
        profile=st.integers(0, 0xFFFF),
        data=st.integers(0, 5).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    ),
    padding=st.integers(0, 255),
)


@given(packets)
def test_serialise_parse_round_trip(packet: RtpPacket) -> None:
    assert parse_rtp(bytes(packet)) == packet


@given(st.binary(max_size=100))
def test_arbitrary_bytes_raise_only_rtp_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    assert parse_rtp(bytes(packet)) == packet


def test_known_header_fields() -> None:
    # V=2 P=0 X=1 CC=1 | M=1 PT=96 | seq 0x1234 | ts 0x01020304 | SSRC 0x0BEBC201 | CSRC 7
    data = bytes.fromhex("91e0123401020304 0bebc201 00000007 bede0001 aabbccdd") + b"PS"
    p = parse_rtp(data)
    assert (p.payload_type, p.marker, p.sequence, p.timestamp) == (96, True, 0x1234, 0x01020304)
    assert (p.ssrc, p.csrcs, p.payload) == (200000001, (7,), b"PS")
    assert p.extension == RtpExtension(0xBEDE, bytes.fromhex("aabbccdd"))


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x60\x00",  # short
        bytes.fromhex("40600001000000000000000a"),  # version 1
        bytes.fromhex("8f600001000000000000000a"),  # 15 CSRCs missing
        bytes.fromhex("90600001000000000000000a bede0002 0000"),  # extension overruns
        bytes.fromhex("a0600001000000000000000a 00"),  # padding count 0
        bytes.fromhex("a0600001000000000000000a 03"),  # padding longer than the payload
    ],
)
def test_malformed_packets(data: bytes) -> None:
    with pytest.raises(RtpError):
        parse_rtp(data)


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(128, 0, 0, 0, b""),
        RtpPacket(96, 70000, 0, 0, b""),
        RtpPacket(96, 0, 0, 0, b"", csrcs=tuple(range(16))),
        RtpPacket(96, 0, 0, 0, b"", extension=RtpExtension(1, b"abc")),
    ],
)
def test_unserialisable_packets(packet: RtpPacket) -> None:
    with pytest.raises(RtpError):
        bytes(packet)


@given(st.lists(packets, max_size=10), st.lists(st.integers(1, 500), min_size=1))
def test_rfc4571_round_trip_in_any_chunking(items: list[RtpPacket], steps: list[int]) -> None:
    # PT 96 as GB/T 28181 uses; PTs 72-76 with the marker set would read as RTCP (RFC 5761).
    wire = [bytes(replace(p, ssrc=200000001, payload_type=96)) for p in items]
    stream = b"".join(frame_rfc4571(w) for w in wire)
    deframer = Rfc4571Deframer()
    got: list[bytes] = []
    pos = i = 0
    while pos < len(stream):
        step = steps[i % len(steps)]
        got += deframer.feed(stream[pos : pos + step])
        pos, i = pos + step, i + 1
    assert got == wire
    assert deframer.discarded_bytes == 0


@given(st.binary(max_size=3000), st.integers(1, 700))
def test_deframer_survives_garbage_with_bounded_buffer(data: bytes, step: int) -> None:
    deframer = Rfc4571Deframer()
    for pos in range(0, len(data), step):
        for packet in deframer.feed(data[pos : pos + step]):
            assert len(packet) >= 12 and packet[0] >> 6 == 2
        assert deframer.buffered_bytes <= 65_537


def test_frame_too_long() -> None:
    with pytest.raises(RtpError):
        frame_rfc4571(bytes(70_000))


def test_packetiser_splits_marks_and_wraps() -> None:
    packetiser = RtpPacketiser(ssrc=5, sequence=65_534, max_payload=1400)
    payload = random.Random(1).randbytes(3000)
    out = packetiser.packetise(payload, 90_000 * 3)
    assert [len(p.payload) for p in out] == [1400, 1400, 200]
    assert [p.sequence for p in out] == [65_534, 65_535, 0]
    assert [p.marker for p in out] == [False, False, True]
    assert {p.timestamp for p in out} == {270_000}
    assert b"".join(p.payload for p in out) == payload
    assert all(len(bytes(p)) <= 1412 for p in out)
    assert packetiser.packetise(b"", 0)[0].marker
    with pytest.raises(RtpError):
        RtpPacketiser(ssrc=1, max_payload=0).packetise(b"x", 0)
