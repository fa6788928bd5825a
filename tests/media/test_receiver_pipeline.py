"""The sans-IO receive pipeline with an injected clock: gaps, RTCP, junk, counters."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.media.pipeline import RtpPipeline
from sightline.media.ps_format import Codec
from sightline.media.ps_mux import PsMuxer
from sightline.media.rtcp import SenderReport
from sightline.media.rtp import RtpPacketiser
from tests.media.video import encode_pattern

SSRC = 110000_0789


def datagrams(frames: int = 20) -> tuple[list[list[bytes]], list[bytes]]:
    """RTP datagrams per frame, and the frames."""
    muxer = PsMuxer(Codec.H264)
    packetiser = RtpPacketiser(ssrc=SSRC, max_payload=600)
    encoded = encode_pattern("libx264", frames)
    out = []
    for f in encoded:
        pack = muxer.mux_frame(f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe)
        out.append([bytes(p) for p in packetiser.packetise(pack, f.pts_90k)])
    return out, [f.data for f in encoded]


def test_a_gap_is_given_up_after_the_delay_and_the_damaged_frame_does_not_merge() -> None:
    per_frame, frames = datagrams()
    pipeline = RtpPipeline(expected_ssrc=SSRC)
    damaged = 5
    assert len(per_frame[damaged]) > 2
    sent = [d for packets in per_frame for d in packets]
    lost = sent.index(per_frame[damaged][1])
    units = []
    now = 0.0
    for d in sent[: lost + 3]:
        now += 0.001
        units += pipeline.packet(d, now) if d != sent[lost] else []
    deadline = pipeline.next_deadline()
    assert deadline is not None and deadline > now  # packets after the gap wait for it
    while deadline is not None:  # the start-up hold, then giving up on the gap
        units += pipeline.handle_timeout(deadline)
        deadline = pipeline.next_deadline()
    assert pipeline.jitter.stats.lost == 1
    for d in sent[lost + 3 :]:
        now += 0.001
        units += pipeline.packet(d, now)
    units += pipeline.flush()
    got = [u.data for u in units]
    intact = [f for n, f in enumerate(frames) if n != damaged]
    assert [g for g in got if g in intact] == intact
    assert frames[damaged] not in got and len(got) <= len(frames)
    snap = pipeline.snapshot(now, 0.0, "UDP", 30000)
    assert snap.lost == 1 and snap.frames == len(units) and snap.keyframes == 1
    assert snap.time_to_first_packet_s == 0.001
    assert snap.since_last_packet_s == 0.0
    assert pipeline.stream_info is not None and pipeline.stream_info.codec is Codec.H264


def test_rtcp_on_the_rtp_port_is_taken_as_rtcp() -> None:
    per_frame, _ = datagrams(2)
    pipeline = RtpPipeline()
    assert pipeline.report_block(0.0) is None
    pipeline.packet(per_frame[0][0], 0.0)
    sr = SenderReport(SSRC, 0xAABBCCDD11223344, 0, 1, 1)
    assert pipeline.packet(bytes(sr), 1.0) == []
    assert pipeline.counters.rtcp_packets == 1 and pipeline.counters.packets == 1
    block = pipeline.report_block(1.5)
    assert block is not None and block.lsr == 0xCCDD1122 and block.dlsr == 65536 // 2


def test_junk_is_counted_not_raised() -> None:
    pipeline = RtpPipeline()
    assert pipeline.packet(b"\x00" * 20, 0.0) == []
    assert pipeline.packet(b"\x80", 0.0) == []
    pipeline.rtcp(b"\x81\xc9\x00\x09", 0.0)  # an RR whose length runs past the end
    assert pipeline.counters.malformed == 2 and pipeline.counters.rtcp_packets == 0
    assert pipeline.counters.first_packet_at is None


def test_a_new_ssrc_restarts_the_reception_statistics() -> None:
    per_frame, _ = datagrams(2)
    pipeline = RtpPipeline()
    pipeline.packet(per_frame[0][0], 0.0)
    other = bytearray(per_frame[0][1])
    other[8:12] = (1234).to_bytes(4, "big")
    pipeline.packet(bytes(other), 0.1)
    assert pipeline.reception is not None and pipeline.reception.ssrc == 1234


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=30))
def test_arbitrary_datagrams_never_raise(data: list[bytes]) -> None:
    pipeline = RtpPipeline(expected_ssrc=SSRC, accept_ssrc_mismatch=False)
    for n, d in enumerate(data):
        pipeline.packet(d, n * 0.01)
    pipeline.handle_timeout(10.0)
    pipeline.flush()
    assert pipeline.counters.packets == 0  # nothing random carries the expected SSRC


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=300), max_size=30))
def test_arbitrary_payloads_under_a_valid_header_never_raise(payloads: list[bytes]) -> None:
    pipeline = RtpPipeline()
    packetiser = RtpPacketiser(ssrc=SSRC)
    for n, payload in enumerate(payloads):
        for p in packetiser.packetise(payload, n * 3600):
            pipeline.packet(bytes(p), n * 0.01)
    pipeline.flush()
    assert pipeline.counters.packets == sum(max(1, -(-len(p) // 1400)) for p in payloads)
