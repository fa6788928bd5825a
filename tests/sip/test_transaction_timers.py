"""Timers A-K of RFC 3261 §17 on a fake clock, plus the builders the other transaction tests use.

The clock is just the ``now`` passed in: ``drive`` jumps from deadline to deadline, so a test
of Timer B at 32 s runs in microseconds.
"""

from __future__ import annotations

import pytest

from sightline.errors import ConfigError
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response, build_response
from sightline.sip.timers import TimerConfig
from sightline.sip.transaction import (
    Action,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    SendMessage,
    Transaction,
    TransactionState,
    TransactionTerminated,
    TransactionTimeout,
)

T = TimerConfig()


def make_request(
    method: str = "OPTIONS",
    *,
    branch: str = "z9hG4bKbranch1",
    cseq: int = 1,
    host: str = "192.0.2.1",
    port: int | None = 5060,
    uri: str = "sip:34020000001320000001@192.0.2.2:5060",
    call_id: str = "call-1@192.0.2.1",
    from_tag: str | None = "ft1",
    to_tag: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> Request:
    """A minimal valid request; the Via branch, sent-by and tags are what matching uses."""
    headers = Headers()
    sent_by = host if port is None else f"{host}:{port}"
    headers.add("Via", f"SIP/2.0/UDP {sent_by};rport;branch={branch}")
    headers.add("Max-Forwards", "70")
    headers.add("From", "<sip:alice@example.com>" + (f";tag={from_tag}" if from_tag else ""))
    headers.add("To", "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else ""))
    headers.add("Call-ID", call_id)
    headers.add("CSeq", f"{cseq} {method}")
    for name, value in extra:
        headers.add(name, value)
    return Request(method, uri, headers)


def respond(request: Request, status: int, to_tag: str | None = "tt1") -> Response:
    """A response to ``request`` (To tag added unless it is a 100)."""
    return build_response(request, status, to_tag=to_tag)


def drive(tx: Transaction, until: float) -> list[tuple[float, Action]]:
    """Fire the transaction's timers in order up to ``until``; return (time, action) pairs."""
    out: list[tuple[float, Action]] = []
    while (deadline := tx.next_deadline()) is not None and deadline <= until:
        out.extend((deadline, action) for action in tx.handle_timeout(deadline))
    return out


def state_of(tx: Transaction) -> TransactionState:
    """The state, read through a call so mypy does not keep an earlier narrowing."""
    return tx.state


def send_times(events: list[tuple[float, Action]]) -> list[float]:
    """When SendMessage actions happened."""
    return [t for t, a in events if isinstance(a, SendMessage)]


def doubling(start: float, cap: float | None, limit: float) -> list[float]:
    """Retransmission instants for intervals start, 2*start, ... (capped), strictly below limit."""
    times: list[float] = []
    t, interval = 0.0, start
    while t + interval < limit:
        t += interval
        times.append(t)
        interval = 2 * interval if cap is None else min(2 * interval, cap)
    return times


# -- configuration --------------------------------------------------------------------------


def test_table_4_defaults() -> None:
    assert (T.t1_s, T.t2_s, T.t4_s) == (0.5, 4.0, 5.0)
    assert T.timer_b_s == T.timer_f_s == T.timer_h_s == T.timer_j_s == 32.0
    assert T.timer_d_s == 32.0
    assert T.timer_i_s == T.timer_k_s == 5.0
    for timer in ("D", "I", "J", "K"):
        assert T.absorb_s(timer, reliable=True) == 0.0
    assert [T.absorb_s(t, reliable=False) for t in ("D", "I", "J", "K")] == [32.0, 5.0, 32.0, 5.0]


def test_derived_timers_follow_t1() -> None:
    fast = TimerConfig(t1_s=0.1, t2_s=0.4, t4_s=0.5)
    assert fast.timer_b_s == pytest.approx(6.4)
    assert fast.timer_j_s == pytest.approx(6.4)
    assert fast.next_interval(0.3, capped=True) == 0.4
    assert fast.next_interval(0.3, capped=False) == pytest.approx(0.6)


@pytest.mark.parametrize(
    "kwargs",
    [{"t1_s": 0.0}, {"t2_s": -1.0}, {"t1_s": 5.0, "t2_s": 4.0}, {"timer_d_unreliable_s": -1.0}],
)
def test_invalid_config_is_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TimerConfig(**kwargs)


# -- client timers --------------------------------------------------------------------------


def test_timer_a_doubles_until_timer_b_over_udp() -> None:
    tx = InviteClientTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    first = tx.start(0.0)
    events = drive(tx, 100.0)
    assert first == [SendMessage(tx.request)]
    assert send_times(events) == doubling(T.t1_s, None, T.timer_b_s)
    assert len(send_times(events)) == 6  # 0.5 1.5 3.5 7.5 15.5 31.5
    assert [a for t, a in events if not isinstance(a, SendMessage)] == [
        TransactionTimeout(tx.key),
        TransactionTerminated(tx.key),
    ]
    assert events[-1][0] == T.timer_b_s
    assert tx.state is TransactionState.TERMINATED


def test_timer_b_is_64_t1_and_no_timer_a_over_tcp() -> None:
    timers = TimerConfig(t1_s=0.1, t2_s=0.4, t4_s=0.5)
    tx = InviteClientTransaction(make_request("INVITE"), reliable=True, now=10.0, timers=timers)
    tx.start(10.0)
    assert tx.pending_timers() == {"B": pytest.approx(16.4)}
    events = drive(tx, 100.0)
    assert send_times(events) == []
    assert [t for t, a in events if isinstance(a, TransactionTimeout)] == [pytest.approx(16.4)]


def test_timer_b_is_ignored_in_proceeding_until_cancel_guard() -> None:
    tx = InviteClientTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    tx.start(0.0)
    tx.receive_response(respond(tx.request, 180), 0.2)
    assert tx.next_deadline() is None  # RFC 3261: waits for the TU, which may CANCEL
    tx.cancelled(1.0)
    tx.cancelled(2.0)  # a second CANCEL does not push the guard back
    events = drive(tx, 100.0)
    assert [(t, type(a)) for t, a in events] == [
        (1.0 + T.timer_b_s, TransactionTimeout),
        (1.0 + T.timer_b_s, TransactionTerminated),
    ]


def test_timer_d_is_32s_over_udp() -> None:
    tx = InviteClientTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    tx.start(0.0)
    tx.receive_response(respond(tx.request, 486), 1.0)
    assert tx.state is TransactionState.COMPLETED
    assert tx.pending_timers() == {"D": 33.0}
    assert tx.handle_timeout(32.9) == []  # early call: nothing happens
    assert tx.handle_timeout(33.0) == [TransactionTerminated(tx.key)]


def test_timer_d_is_zero_over_tcp() -> None:
    tx = InviteClientTransaction(make_request("INVITE"), reliable=True, now=0.0, timers=T)
    tx.start(0.0)
    actions = tx.receive_response(respond(tx.request, 486), 1.0)
    assert actions[-1] == TransactionTerminated(tx.key)
    assert tx.next_deadline() is None


def test_timer_e_doubles_to_t2_until_timer_f() -> None:
    tx = NonInviteClientTransaction(make_request("MESSAGE"), reliable=False, now=0.0, timers=T)
    tx.start(0.0)
    events = drive(tx, 100.0)
    times = send_times(events)
    assert times == doubling(T.t1_s, T.t2_s, T.timer_f_s)
    assert times[:5] == [0.5, 1.5, 3.5, 7.5, 11.5]
    assert len(times) == 10
    assert events[-2:] == [
        (32.0, TransactionTimeout(tx.key)),
        (32.0, TransactionTerminated(tx.key)),
    ]


def test_timer_e_uses_t2_in_proceeding() -> None:
    tx = NonInviteClientTransaction(make_request("MESSAGE"), reliable=False, now=0.0, timers=T)
    tx.start(0.0)
    assert send_times(drive(tx, 0.6)) == [0.5]
    tx.receive_response(respond(tx.request, 100, to_tag=None), 0.6)
    events = drive(tx, 14.0)
    # E was due at 1.5 (second interval); from then on every T2
    assert send_times(events) == [1.5, 5.5, 9.5, 13.5]


def test_timer_f_without_e_over_tcp() -> None:
    tx = NonInviteClientTransaction(make_request("MESSAGE"), reliable=True, now=0.0, timers=T)
    tx.start(0.0)
    assert tx.pending_timers() == {"F": 32.0}


def test_timer_k_is_t4_over_udp_and_zero_over_tcp() -> None:
    udp = NonInviteClientTransaction(make_request(), reliable=False, now=0.0, timers=T)
    udp.start(0.0)
    udp.receive_response(respond(udp.request, 200), 2.0)
    assert udp.pending_timers() == {"K": 2.0 + T.t4_s}
    assert drive(udp, 100.0) == [(7.0, TransactionTerminated(udp.key))]

    tcp = NonInviteClientTransaction(make_request(), reliable=True, now=0.0, timers=T)
    tcp.start(0.0)
    assert tcp.receive_response(respond(tcp.request, 200), 2.0)[-1] == TransactionTerminated(
        tcp.key
    )


# -- server timers --------------------------------------------------------------------------


def test_trying_timer_sends_100_after_200ms() -> None:
    invite = make_request("INVITE")
    tx = InviteServerTransaction(invite, reliable=False, now=0.0, timers=T)
    assert tx.next_deadline() == pytest.approx(0.2)
    events = drive(tx, 1.0)
    assert len(events) == 1
    trying = events[0][1]
    assert isinstance(trying, SendMessage) and isinstance(trying.message, Response)
    assert trying.message.status == 100
    assert trying.message.to.tag is None
    assert trying.message.top_via == invite.top_via
    # an INVITE retransmission now gets the 100 again
    assert tx.receive_request(make_request("INVITE"), 1.0) == [SendMessage(trying.message)]


def test_trying_timer_cancelled_when_tu_answers_in_time() -> None:
    tx = InviteServerTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    tx.send_response(respond(tx.request, 180), 0.1)
    assert drive(tx, 10.0) == []


def test_timer_g_doubles_to_t2_until_timer_h() -> None:
    tx = InviteServerTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    busy = respond(tx.request, 486)
    assert tx.send_response(busy, 0.0) == [SendMessage(busy)]
    events = drive(tx, 100.0)
    assert send_times(events) == doubling(T.t1_s, T.t2_s, T.timer_h_s)
    assert all(a == SendMessage(busy) for _, a in events if isinstance(a, SendMessage))
    assert events[-2:] == [
        (32.0, TransactionTimeout(tx.key)),
        (32.0, TransactionTerminated(tx.key)),
    ]


def test_no_timer_g_over_tcp_but_timer_h() -> None:
    tx = InviteServerTransaction(make_request("INVITE"), reliable=True, now=0.0, timers=T)
    tx.send_response(respond(tx.request, 603), 0.0)
    assert tx.pending_timers() == {"H": 32.0}


def test_timer_i_is_t4_over_udp_and_zero_over_tcp() -> None:
    udp = InviteServerTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    udp.send_response(respond(udp.request, 486), 0.0)
    ack = make_request("ACK", to_tag="tt1")
    assert udp.receive_request(ack, 0.7) == []
    assert udp.state is TransactionState.CONFIRMED
    assert udp.pending_timers() == {"I": pytest.approx(5.7)}
    assert drive(udp, 100.0) == [(0.7 + T.t4_s, TransactionTerminated(udp.key))]

    tcp = InviteServerTransaction(make_request("INVITE"), reliable=True, now=0.0, timers=T)
    tcp.send_response(respond(tcp.request, 486), 0.0)
    assert tcp.receive_request(ack, 0.7) == [TransactionTerminated(tcp.key)]


def test_timer_j_is_64_t1_over_udp_and_zero_over_tcp() -> None:
    udp = NonInviteServerTransaction(make_request(), reliable=False, now=0.0, timers=T)
    udp.send_response(respond(udp.request, 200), 1.0)
    assert udp.pending_timers() == {"J": 33.0}
    assert drive(udp, 100.0) == [(33.0, TransactionTerminated(udp.key))]

    tcp = NonInviteServerTransaction(make_request(), reliable=True, now=0.0, timers=T)
    ok = respond(tcp.request, 200)
    assert tcp.send_response(ok, 1.0) == [SendMessage(ok), TransactionTerminated(tcp.key)]


def test_handle_timeout_called_late_fires_once_per_timer() -> None:
    tx = NonInviteClientTransaction(make_request(), reliable=False, now=0.0, timers=T)
    tx.start(0.0)
    # a stalled event loop wakes at 3.0: one retransmission, not a burst of three
    actions = tx.handle_timeout(3.0)
    assert actions == [SendMessage(tx.request)]
    assert tx.pending_timers()["E"] == 4.0
