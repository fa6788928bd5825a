"""The RTP port allocator: pairs, round-robin, churn, refused ports, exhaustion."""

from __future__ import annotations

import random
import socket

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sightline.config import MediaSettings
from sightline.media.ports import PortsExhaustedError, RtpPortAllocator


def test_pairs_start_on_even_ports_inside_the_range() -> None:
    allocator = RtpPortAllocator(30001, 30010)
    ports = [allocator.allocate() for _ in range(allocator.capacity)]
    assert ports == [30002, 30004, 30006, 30008]  # 30010 would need 30011 for RTCP
    assert allocator.capacity == 4
    with pytest.raises(PortsExhaustedError, match="in use"):
        allocator.allocate()


def test_every_port_with_step_one() -> None:
    allocator = RtpPortAllocator(40000, 40002, step=1)
    assert [allocator.allocate() for _ in range(3)] == [40000, 40001, 40002]


def test_from_settings() -> None:
    settings = MediaSettings(rtp_ports="31000-31999")
    allocator = RtpPortAllocator.from_range(settings.rtp_port_range)
    assert allocator.capacity == 500
    assert allocator.allocate() == 31000


@pytest.mark.parametrize(("low", "high", "step"), [(30001, 30001, 2), (30000, 30000, 2), (0, 0, 1)])
def test_ranges_without_a_usable_port_are_refused(low: int, high: int, step: int) -> None:
    with pytest.raises(ValueError, match="no usable port"):
        RtpPortAllocator(low, high, step=step)


def test_bad_step_is_refused() -> None:
    with pytest.raises(ValueError, match="step"):
        RtpPortAllocator(30000, 30010, step=3)


def test_a_released_port_is_the_last_one_reused() -> None:
    allocator = RtpPortAllocator(30000, 30007)
    first = allocator.allocate()
    allocator.release(first)
    assert [allocator.allocate() for _ in range(4)] == [30002, 30004, 30006, 30000]


def test_release_of_an_unknown_port_is_harmless() -> None:
    allocator = RtpPortAllocator(30000, 30003)
    allocator.release(12345)
    assert allocator.in_use == frozenset()


def test_churn_never_hands_out_a_port_in_use() -> None:
    rng = random.Random(7)
    allocator = RtpPortAllocator(30000, 30099)
    held: set[int] = set()
    for _ in range(20_000):
        if held and (len(held) == allocator.capacity or rng.random() < 0.45):
            port = rng.choice(sorted(held))
            held.remove(port)
            allocator.release(port)
        else:
            port = allocator.allocate()
            assert port not in held
            assert port % 2 == 0 and 30000 <= port <= 30098
            held.add(port)
        assert allocator.in_use == held


class AllocatorMachine(RuleBasedStateMachine):
    """Random allocate/release/open sequences against a model of the ports held."""

    def __init__(self) -> None:
        super().__init__()
        self.allocator = RtpPortAllocator(30000, 30019)
        self.held: set[int] = set()
        self.refused: set[int] = set()

    @rule()
    def allocate(self) -> None:
        if len(self.held) == self.allocator.capacity:
            with pytest.raises(PortsExhaustedError):
                self.allocator.allocate()
            return
        port = self.allocator.allocate()
        assert port not in self.held
        self.held.add(port)

    @rule(data=st.data())
    @precondition(lambda self: bool(self.held))
    def release(self, data: st.DataObject) -> None:
        port = data.draw(st.sampled_from(sorted(self.held)))
        self.allocator.release(port)
        self.held.remove(port)

    @rule(port=st.sampled_from(range(30000, 30020, 2)))
    def os_refuses(self, port: int) -> None:
        self.refused.add(port)

    @rule()
    def open(self) -> None:
        def bind(port: int) -> int:
            if port in self.refused:
                raise OSError(98, "Address already in use")
            return port

        usable = set(range(30000, 30020, 2)) - self.held - self.refused
        if not usable:
            with pytest.raises(PortsExhaustedError, match="could be bound"):
                self.allocator.open(bind)
            return
        port, bound = self.allocator.open(bind)
        assert port == bound and port in usable
        self.held.add(port)

    @invariant()
    def matches_model(self) -> None:
        assert self.allocator.in_use == self.held


TestAllocatorMachine = AllocatorMachine.TestCase


def test_open_skips_a_port_another_program_holds() -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    busy = taken.getsockname()[1]
    allocator = RtpPortAllocator(busy, busy + 1, step=1)

    def bind(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            raise
        return sock

    try:
        port, sock = allocator.open(bind)
        sock.close()
        assert port == busy + 1
        assert allocator.in_use == {busy + 1}
        allocator.release(port)
        port, sock = allocator.open(bind)  # the held port is tried again, and refused again
        sock.close()
        assert port == busy + 1
    finally:
        taken.close()
