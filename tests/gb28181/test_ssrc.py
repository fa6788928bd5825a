"""SSRC layout, conversions, the allocator and recognising devices' SSRC faults."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.ssrc import (
    SEQUENCE_SPACE,
    GbSsrc,
    InvalidSsrc,
    SsrcAllocator,
    SsrcExhausted,
    SsrcVerdict,
    StreamKind,
    domain_digits,
    matches,
    ssrc_from_int,
    ssrc_to_int,
)

PLATFORM = "34020000002000000001"


def test_domain_digits_are_digits_4_to_8() -> None:
    # The standard's own example: 13010000002000000001 gives 10000.
    assert domain_digits("13010000002000000001") == "10000"
    assert domain_digits(PLATFORM) == "20000"
    assert domain_digits("3402000000") == "20000"
    assert domain_digits("4401060000") == "10600"


@pytest.mark.parametrize(
    "bad", ["", "340200000", "34020000002000000001x", "３４０２０００００", "x" * 10]
)
def test_domain_digits_refuse_non_ids(bad: str) -> None:
    with pytest.raises(InvalidSsrc):
        domain_digits(bad)


def test_text_and_wire_conversions() -> None:
    assert ssrc_to_int("0200000001") == 0x0BEBC201
    assert ssrc_to_int("200000001") == 200_000_001  # leading zero lost, as devices answer
    assert ssrc_to_int("1999999999") == 1_999_999_999
    assert ssrc_from_int(200_000_001) == "0200000001"
    assert ssrc_from_int(0xFFFF_FFFF) == "4294967295"


@pytest.mark.parametrize("bad", ["", "4294967296", "12345678901", "0x0BEBC201", "-1", "１２"])
def test_ssrc_to_int_refuses(bad: str) -> None:
    with pytest.raises(InvalidSsrc):
        ssrc_to_int(bad)


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_ssrc_from_int_refuses(bad: int) -> None:
    with pytest.raises(InvalidSsrc):
        ssrc_from_int(bad)


@given(st.integers(0, 2**32 - 1))
def test_int_text_round_trip(value: int) -> None:
    assert ssrc_to_int(ssrc_from_int(value)) == value


def test_gb_ssrc_structure() -> None:
    parsed = GbSsrc.parse("1200000042")
    assert parsed == GbSsrc(StreamKind.HISTORY, "20000", 42)
    assert str(parsed) == "1200000042"
    assert parsed.value == 1_200_000_042
    assert GbSsrc.parse("200000001") == GbSsrc(StreamKind.LIVE, "20000", 1)


@pytest.mark.parametrize("bad", ["2200000001", "4294967295", "abc"])
def test_gb_ssrc_refuses_non_gb_values(bad: str) -> None:
    with pytest.raises(InvalidSsrc):
        GbSsrc.parse(bad)


@pytest.mark.parametrize(("domain", "sequence"), [("2000", 1), ("2000x", 1), ("20000", 10_000)])
def test_gb_ssrc_validates_parts(domain: str, sequence: int) -> None:
    with pytest.raises(InvalidSsrc):
        GbSsrc(StreamKind.LIVE, domain, sequence)


@given(
    st.sampled_from(StreamKind), st.from_regex(r"[0-9]{5}", fullmatch=True), st.integers(0, 9999)
)
def test_gb_ssrc_round_trip(kind: StreamKind, domain: str, sequence: int) -> None:
    ssrc = GbSsrc(kind, domain, sequence)
    assert GbSsrc.parse(str(ssrc)) == ssrc
    assert GbSsrc.parse(str(ssrc.value)) == ssrc


# --- allocator -----------------------------------------------------------------------------------


def test_first_digit_says_live_or_history() -> None:
    alloc = SsrcAllocator(PLATFORM)
    live, history = alloc.allocate(StreamKind.LIVE), alloc.allocate(StreamKind.HISTORY)
    assert live[0] == "0" and history[0] == "1"
    assert live[1:6] == history[1:6] == "20000"
    assert len(live) == len(history) == 10
    assert live[6:] != history[6:], "live and history share one stream-number pool"


def test_released_numbers_are_the_last_to_come_back() -> None:
    alloc = SsrcAllocator(PLATFORM, start=5)
    first = alloc.allocate(StreamKind.LIVE)
    assert first == "0200000005"
    assert alloc.release(first)
    following = [alloc.allocate(StreamKind.LIVE) for _ in range(SEQUENCE_SPACE - 1)]
    assert first not in following
    assert alloc.allocate(StreamKind.HISTORY) == "1200000005"


def test_exhaustion_and_recovery() -> None:
    alloc = SsrcAllocator(PLATFORM)
    issued = {alloc.allocate(random.choice(list(StreamKind))) for _ in range(SEQUENCE_SPACE)}
    assert len(issued) == SEQUENCE_SPACE == alloc.capacity == len(alloc)
    assert len({s[6:] for s in issued}) == SEQUENCE_SPACE
    with pytest.raises(SsrcExhausted):
        alloc.allocate(StreamKind.LIVE)
    freed = sorted(issued)[1234]
    assert alloc.release(freed)
    again = alloc.allocate(StreamKind.HISTORY)
    assert again[6:] == freed[6:] and again[0] == "1"


def test_uniqueness_under_churn() -> None:
    rng = random.Random(2024)
    alloc = SsrcAllocator(PLATFORM, start=rng.randrange(SEQUENCE_SPACE))
    held: list[str] = []
    numbers: set[str] = set()
    for _ in range(60_000):
        if held and (len(held) > 9_000 or rng.random() < 0.45):
            index = rng.randrange(len(held))
            held[index], held[-1] = held[-1], held[index]
            victim = held.pop()
            numbers.remove(victim[6:])
            assert alloc.release(victim)
            assert victim not in alloc
        else:
            ssrc = alloc.allocate(rng.choice(list(StreamKind)))
            assert ssrc[6:] not in numbers
            assert ssrc in alloc
            numbers.add(ssrc[6:])
            held.append(ssrc)
        assert len(alloc) == len(held)
    assert all(ssrc in alloc for ssrc in held)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 50)), max_size=200))
def test_never_reused_while_in_use(ops: list[tuple[bool, int]]) -> None:
    alloc = SsrcAllocator("3402000000", start=9_990)  # starts near the wrap
    held: list[str] = []
    for is_alloc, index in ops:
        if is_alloc or not held:
            ssrc = alloc.allocate(StreamKind.LIVE if index % 2 else StreamKind.HISTORY)
            assert all(ssrc[6:] != other[6:] for other in held)
            held.append(ssrc)
        else:
            assert alloc.release(held.pop(index % len(held)))
    assert len(alloc) == len(held)


def test_release_is_idempotent_and_ignores_strangers() -> None:
    alloc = SsrcAllocator(PLATFORM)
    ssrc = alloc.allocate(StreamKind.LIVE)
    assert not alloc.release("1" + ssrc[1:])  # same number, other kind: not what was issued
    assert alloc.release(ssrc)
    assert not alloc.release(ssrc)
    assert not alloc.release("0100000001")  # another domain
    assert not alloc.release("garbage")
    assert "garbage" not in alloc and 42 not in alloc


def test_reserve_restores_sessions() -> None:
    alloc = SsrcAllocator(PLATFORM, start=0)
    alloc.reserve("1200000000")
    assert "1200000000" in alloc
    with pytest.raises(InvalidSsrc):
        alloc.reserve("0200000000")  # the stream number is taken, whatever the kind
    with pytest.raises(InvalidSsrc):
        alloc.reserve("0100000001")
    assert alloc.allocate(StreamKind.LIVE) == "0200000001"


def test_never_issues_ssrc_zero() -> None:
    # Digits 4-8 of 3400000000 are 00000: live stream number 0 would be SSRC 0.
    alloc = SsrcAllocator("3400000000", start=0)
    assert alloc.allocate(StreamKind.LIVE) == "0000000001"
    alloc = SsrcAllocator("3400000000", start=0)
    assert alloc.allocate(StreamKind.HISTORY) == "1000000000"


def test_allocator_validates_arguments() -> None:
    with pytest.raises(InvalidSsrc):
        SsrcAllocator("not a domain")
    with pytest.raises(InvalidSsrc):
        SsrcAllocator(PLATFORM, start=SEQUENCE_SPACE)


# --- device faults -------------------------------------------------------------------------------


def test_exact_match() -> None:
    check = matches("0200000001", 200_000_001)
    assert check.ok and check.verdict is SsrcVerdict.EXACT


@pytest.mark.parametrize(
    ("received", "verdict"),
    [
        (0, SsrcVerdict.ZERO),
        (0x0000_0001, SsrcVerdict.HEX_DIGITS),  # 0x0200000001 cut to 32 bits
        (int.from_bytes((200_000_001).to_bytes(4, "big"), "little"), SsrcVerdict.BYTE_SWAPPED),
        (0x1A2B3C4D, SsrcVerdict.FOREIGN),
    ],
)
def test_faults_are_named(received: int, verdict: SsrcVerdict) -> None:
    check = matches("0200000001", received)
    assert check.verdict is verdict and not check.ok
    assert str(received) in check.describe() and "200000001" in check.describe()


def test_hex_digits_without_truncation() -> None:
    assert matches("0012345678", 0x12345678).verdict is SsrcVerdict.HEX_DIGITS


def test_device_chosen_ssrc_announced_in_answer() -> None:
    assert matches("0200000001", 1_200_000_777, answered="1200000777").verdict is (
        SsrcVerdict.ANSWERED
    )
    assert matches("0200000001", 5, answered="1200000777").verdict is SsrcVerdict.FOREIGN


def test_matches_validates_input() -> None:
    with pytest.raises(InvalidSsrc):
        matches("0200000001", 2**32)
    with pytest.raises(InvalidSsrc):
        matches("not digits", 1)
