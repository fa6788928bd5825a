"""Registration expiry from a lazily extended heap: the same answers as scanning every binding."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.gb28181.registrar import Binding, Registrar
from sightline.sip.digest import DigestServer, NonceManager
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer

DEVICES = [f"3402000000132000000{i}" for i in range(4)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[Registrar, Clock, list[tuple[str, bool]], list[str]]:
    clock = Clock()
    changes: list[tuple[str, bool]] = []
    refreshes: list[str] = []
    registrar = Registrar(
        digest=DigestServer("3402000000", NonceManager(b"s" * 32)),
        password_for=lambda _d: "x",
        stats=SipStats(),
        on_change=lambda b, online: changes.append((b.device_id, online)),
        on_refresh=lambda _old, new: refreshes.append(new.device_id),
        clock=clock,
    )
    return registrar, clock, changes, refreshes


def binding(device_id: str, expires_at: float, call_id: str = "c", port: int = 5060) -> Binding:
    return Binding(device_id, "<sip:x>", Peer("UDP", "127.0.0.1", port), expires_at, call_id, None)


def test_a_refresh_moves_the_expiry_and_is_reported_as_a_refresh() -> None:
    registrar, clock, changes, refreshes = make()
    registrar.record(binding(DEVICES[0], clock.now + 60), 60)
    clock.now += 50
    registrar.record(binding(DEVICES[0], clock.now + 60, port=5070), 60)
    assert changes == [(DEVICES[0], True)] and refreshes == [DEVICES[0]]
    clock.now += 20  # past the first expiry, not the second
    assert registrar.expire() == []
    clock.now += 40
    assert [b.device_id for b in registrar.expire()] == [DEVICES[0]]
    assert changes[-1] == (DEVICES[0], False) and not registrar.bindings


steps = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.sampled_from(DEVICES), st.integers(0, 120)),
        st.tuples(st.just("forget"), st.sampled_from(DEVICES), st.just(0)),
        st.tuples(st.just("wait"), st.just(""), st.integers(0, 90)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_expire_matches_a_scan_of_every_binding(ops: list[tuple[str, str, int]]) -> None:
    registrar, clock, _, _ = make()
    for op, device_id, value in ops:
        if op == "register":  # expires 0 unregisters
            registrar.record(binding(device_id, clock.now + value), value)
        elif op == "forget":
            registrar.forget(device_id)
        else:
            clock.now += value
            due = sorted(d for d, b in registrar.bindings.items() if b.expires_at <= clock.now)
            assert sorted(b.device_id for b in registrar.expire()) == due
            assert all(b.expires_at > clock.now for b in registrar.bindings.values())
