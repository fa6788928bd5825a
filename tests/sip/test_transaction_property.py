"""Property: any interleaving of inputs leaves a transaction consistent and, once its TU has
done its part, terminated within max(64*T1, Timer D) + T4 of the last input over UDP.

"The TU has done its part" means: a client was started, a server got a final response, and
an INVITE client stuck in Proceeding had its CANCEL sent (RFC 3261 §9.1) — without those the
RFC lets a transaction wait for its TU indefinitely.  Every transaction is driven through a
TransactionTable, so the heap's lazy invalidation is exercised by the same random schedules.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.sip.errors import TransactionError
from sightline.sip.timers import TimerConfig
from sightline.sip.transaction import (
    Action,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    TransactionState,
    TransactionTable,
    TransactionTerminated,
)
from tests.sip.test_transaction_timers import make_request, respond

Tx = (
    InviteClientTransaction
    | NonInviteClientTransaction
    | InviteServerTransaction
    | NonInviteServerTransaction
)
KINDS = ("ict", "nict", "ist", "nist")
OPS = (
    "start",
    "response",
    "retransmission",
    "ack",
    "send",
    "timeout",
    "transport_error",
    "cancelled",
)
STATUSES = st.sampled_from([100, 180, 183, 200, 202, 302, 404, 486, 500, 603, 699, 700])


@dataclass
class Run:
    tx: Tx
    table: TransactionTable = field(default_factory=TransactionTable)
    actions: list[Action] = field(default_factory=list)
    now: float = 0.0

    def drive(self, until: float) -> None:
        """Fire due timers in order up to ``until``, as an adapter's timer loop would."""
        while (deadline := self.table.next_deadline()) is not None and deadline <= until:
            self.actions.extend(a for _, a in self.table.handle_timeout(deadline))
        self.now = until

    def apply(self, op: str, status: int) -> None:
        tx, now = self.tx, self.now
        request = tx.request
        if op == "start" and isinstance(tx, InviteClientTransaction | NonInviteClientTransaction):
            self.actions += tx.start(now)
        elif op == "response" and isinstance(
            tx, InviteClientTransaction | NonInviteClientTransaction
        ):
            self.actions += tx.receive_response(respond(request, status), now)
        elif op in ("retransmission", "ack") and isinstance(
            tx, InviteServerTransaction | NonInviteServerTransaction
        ):
            method = "ACK" if op == "ack" else request.method
            self.actions += tx.receive_request(make_request(method, to_tag="tt1"), now)
        elif op == "send" and isinstance(tx, InviteServerTransaction | NonInviteServerTransaction):
            self.actions += tx.send_response(respond(request, status), now)
        elif op == "timeout":
            self.actions += tx.handle_timeout(now)
        elif op == "transport_error":
            self.actions += tx.transport_error(now)
        elif op == "cancelled" and isinstance(tx, InviteClientTransaction):
            self.actions += tx.cancelled(now)

    def finish_tu(self) -> None:
        """Do what the TU eventually does: start, answer, or CANCEL."""
        tx, now = self.tx, self.now
        if tx.is_terminated:
            return
        if isinstance(tx, InviteClientTransaction | NonInviteClientTransaction):
            if not tx.started:
                self.actions += tx.start(now)
            if isinstance(tx, InviteClientTransaction):
                self.actions += tx.cancelled(now)
        elif tx.state in (TransactionState.TRYING, TransactionState.PROCEEDING):
            self.actions += tx.send_response(respond(tx.request, 500), now)


def build(kind: str, reliable: bool, timers: TimerConfig) -> Tx:
    method = "INVITE" if kind in ("ict", "ist") else "MESSAGE"
    request = make_request(method)
    if kind == "ict":
        return InviteClientTransaction(request, reliable=reliable, now=0.0, timers=timers)
    if kind == "nict":
        return NonInviteClientTransaction(request, reliable=reliable, now=0.0, timers=timers)
    if kind == "ist":
        return InviteServerTransaction(request, reliable=reliable, now=0.0, timers=timers)
    return NonInviteServerTransaction(request, reliable=reliable, now=0.0, timers=timers)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    reliable=st.booleans(),
    t1_s=st.sampled_from([0.05, 0.5, 1.0]),
    steps=st.lists(
        st.tuples(st.sampled_from(OPS), STATUSES, st.floats(0.0, 40.0, allow_nan=False)),
        max_size=25,
    ),
)
def test_random_interleavings(
    kind: str, reliable: bool, t1_s: float, steps: list[tuple[str, int, float]]
) -> None:
    timers = TimerConfig(t1_s=t1_s, t2_s=max(4.0, t1_s))
    run = Run(build(kind, reliable, timers))
    if isinstance(run.tx, InviteClientTransaction | NonInviteClientTransaction):
        run.table.add_client(run.tx)
    else:
        run.table.add_server(run.tx)
    for op, status, dt in steps:
        run.drive(run.now + dt)
        # forbidden calls (start twice, send after final, status 700...) are refused cleanly
        with contextlib.suppress(TransactionError):
            run.apply(op, status)
    run.finish_tu()
    last_input = run.now
    bound = max(timers.timer_b_s, timers.timer_d_s) + timers.t4_s
    run.drive(last_input + bound)

    assert run.tx.is_terminated, run.tx
    assert run.tx.next_deadline() is None
    assert len(run.table) == 0 and run.table.next_deadline() is None
    assert run.actions.count(TransactionTerminated(run.tx.key)) == 1
    assert isinstance(run.actions[-1], TransactionTerminated)
