"""RTCP reports and the RFC 3550 reception statistics behind them."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.media.errors import RtcpError
from sightline.media.rtcp import (
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    SenderReport,
    UnknownRtcp,
    parse_rtcp,
)

blocks = st.builds(
    ReportBlock,
    ssrc=st.integers(0, 0xFFFFFFFF),
    fraction_lost=st.integers(0, 255),
    cumulative_lost=st.integers(-0x800000, 0x7FFFFF),
    highest_seq=st.integers(0, 0xFFFFFFFF),
    jitter=st.integers(0, 0xFFFFFFFF),
    lsr=st.integers(0, 0xFFFFFFFF),
    dlsr=st.integers(0, 0xFFFFFFFF),
)
reports = st.one_of(
    st.builds(
        SenderReport,
        ssrc=st.integers(0, 0xFFFFFFFF),
        ntp_timestamp=st.integers(0, 2**64 - 1),
        rtp_timestamp=st.integers(0, 0xFFFFFFFF),
        packet_count=st.integers(0, 0xFFFFFFFF),
        octet_count=st.integers(0, 0xFFFFFFFF),
        reports=st.lists(blocks, max_size=31).map(tuple),
    ),
    st.builds(
        ReceiverReport,
        ssrc=st.integers(0, 0xFFFFFFFF),
        reports=st.lists(blocks, max_size=31).map(tuple),
    ),
    st.builds(
        UnknownRtcp,
        packet_type=st.sampled_from([202, 203, 204]),
        count=st.integers(0, 31),
        body=st.integers(0, 8).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    ),
)


@given(st.lists(reports, min_size=1, max_size=4))
def test_compound_round_trip(items: list[SenderReport | ReceiverReport | UnknownRtcp]) -> None:
    assert parse_rtcp(b"".join(bytes(i) for i in items)) == items


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_rtcp_error(data: bytes) -> None:
    with contextlib.suppress(RtcpError):
        parse_rtcp(data)


def test_malformed() -> None:
    for data in [b"", b"\x81\xc9\x00\x01\x00\x00\x00\x01", b"\x41\xc9\x00\x00", b"\x81\xc8"]:
        with pytest.raises(RtcpError):
            parse_rtcp(data)
    with pytest.raises(RtcpError):
        bytes(ReceiverReport(1, tuple(ReportBlock(0, 0, 0, 0, 0) for _ in range(32))))


def test_jitter_follows_rfc3550_a8_on_a_known_sequence() -> None:
    # Packets sent every 20 ms (1800 ticks) arrive alternately 0 and 10 ms late, so every
    # transit difference is 900 ticks: J_n = 900 * (1 - (15/16)^(n-1)).
    stats = ReceptionStats(ssrc=7)
    for n in range(40):
        late = 0.010 if n % 2 else 0.0
        stats.update(n, n * 1800, n * 0.020 + late)
    assert stats.jitter == pytest.approx(900 * (1 - (15 / 16) ** 39))
    assert stats.report_block(1.0).jitter == int(stats.jitter)


def test_constant_delay_means_zero_jitter() -> None:
    stats = ReceptionStats(ssrc=7)
    for n in range(10):
        stats.update(n, n * 3600, 5.0 + n * 0.04)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_loss_fraction_and_cumulative_over_intervals_with_wraparound() -> None:
    stats = ReceptionStats(ssrc=9)
    # 65530..65549 with every multiple of 5 missing; 65530 precedes the first received one,
    # so 19 are expected (65531..65549, across the wrap) and 3 of them are lost.
    seqs = [s & 0xFFFF for s in range(65_530, 65_550) if s % 5 != 0]
    for s in seqs:
        stats.update(s, 0, 0.0)
    block = stats.report_block(0.0)
    assert (len(seqs), block.cumulative_lost) == (16, 3)
    assert block.highest_seq == 0x10000 + (65_549 & 0xFFFF)
    assert block.fraction_lost == (3 << 8) // 19
    for s in range(65_530 + 20, 65_530 + 30):
        stats.update(s & 0xFFFF, 0, 0.0)
    second = stats.report_block(0.0)
    assert second.fraction_lost == 0 and second.cumulative_lost == block.cumulative_lost


def test_lsr_and_dlsr_come_from_the_last_sender_report() -> None:
    stats = ReceptionStats(ssrc=1)
    stats.update(1, 0, 0.0)
    stats.on_sender_report(SenderReport(1, 0x0123456789ABCDEF, 0, 0, 0), arrival_s=10.0)
    block = stats.report_block(now_s=10.5)
    assert block.lsr == 0x456789AB
    assert block.dlsr == 32768
