"""Server transactions: delivery, retransmission absorption, ACK handling and misuse."""

from __future__ import annotations

import pytest

from sightline.sip.errors import TransactionError
from sightline.sip.message import Response
from sightline.sip.transaction import (
    DeliverRequest,
    InviteServerTransaction,
    NonInviteServerTransaction,
    SendMessage,
    TransactionState,
    TransactionTerminated,
    TransportFailure,
)
from tests.sip.test_transaction_timers import T, make_request, respond, state_of


def test_creating_request_is_delivered_once() -> None:
    request = make_request("INVITE")
    tx = InviteServerTransaction(request, reliable=False, now=0.0, timers=T)
    assert tx.receive_request(request, 0.0) == [DeliverRequest(request)]
    assert tx.receive_request(request, 0.1) == []  # now a retransmission with nothing to resend


def test_invite_retransmissions_get_the_latest_response() -> None:
    tx = InviteServerTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    retransmission = make_request("INVITE")
    assert tx.receive_request(retransmission, 0.05) == []
    ringing = respond(tx.request, 180)
    tx.send_response(ringing, 0.1)
    assert tx.receive_request(retransmission, 0.5) == [SendMessage(ringing)]
    session = respond(tx.request, 183)
    tx.send_response(session, 0.6)
    assert tx.receive_request(retransmission, 0.7) == [SendMessage(session)]
    busy = respond(tx.request, 486)
    tx.send_response(busy, 0.8)
    assert tx.receive_request(retransmission, 0.9) == [SendMessage(busy)]
    assert tx.last_response is busy


def test_ack_moves_completed_to_confirmed_and_is_absorbed_after() -> None:
    tx = InviteServerTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    ack = make_request("ACK", to_tag="tt1")
    assert tx.receive_request(ack, 0.0) == []  # stray ACK in Proceeding: ignored
    assert tx.state is TransactionState.PROCEEDING
    tx.send_response(respond(tx.request, 404), 0.1)
    assert tx.receive_request(ack, 0.2) == []
    assert state_of(tx) is TransactionState.CONFIRMED
    assert set(tx.pending_timers()) == {"I"}
    assert tx.receive_request(ack, 0.3) == []
    assert tx.receive_request(make_request("INVITE"), 0.4) == []


def test_2xx_terminates_invite_server() -> None:
    tx = InviteServerTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    ok = respond(tx.request, 200)
    assert tx.send_response(ok, 0.1) == [SendMessage(ok), TransactionTerminated(tx.key)]
    assert tx.final_response is ok
    assert tx.receive_request(make_request("INVITE"), 0.2) == []
    with pytest.raises(TransactionError):
        tx.send_response(respond(tx.request, 200), 0.3)


@pytest.mark.parametrize("cls", [InviteServerTransaction, NonInviteServerTransaction])
def test_responses_after_final_are_forbidden(
    cls: type[InviteServerTransaction | NonInviteServerTransaction],
) -> None:
    tx = cls(
        make_request("INVITE" if cls is InviteServerTransaction else "MESSAGE"),
        reliable=False,
        now=0.0,
        timers=T,
    )
    tx.send_response(respond(tx.request, 500), 0.0)
    with pytest.raises(TransactionError, match="Completed"):
        tx.send_response(respond(tx.request, 200), 0.1)
    with pytest.raises(TransactionError):
        tx.send_response(respond(tx.request, 180), 0.1)


@pytest.mark.parametrize("status", [0, 99, 700])
@pytest.mark.parametrize("cls", [InviteServerTransaction, NonInviteServerTransaction])
def test_invalid_status_is_forbidden(
    cls: type[InviteServerTransaction | NonInviteServerTransaction], status: int
) -> None:
    tx = cls(make_request(), reliable=False, now=0.0, timers=T)
    with pytest.raises(TransactionError):
        tx.send_response(Response(status, "X"), 0.0)


def test_non_invite_retransmissions_absorbed_in_each_state() -> None:
    request = make_request("MESSAGE")
    tx = NonInviteServerTransaction(request, reliable=False, now=0.0, timers=T)
    assert tx.receive_request(request, 0.0) == [DeliverRequest(request)]
    copy = make_request("MESSAGE")
    assert tx.receive_request(copy, 0.1) == []  # Trying: nothing to resend
    trying = respond(request, 100, to_tag=None)
    assert tx.send_response(trying, 0.2) == [SendMessage(trying)]
    assert tx.state is TransactionState.PROCEEDING
    assert tx.receive_request(copy, 0.3) == [SendMessage(trying)]
    ok = respond(request, 200)
    tx.send_response(ok, 0.4)
    assert state_of(tx) is TransactionState.COMPLETED
    assert tx.receive_request(copy, 0.5) == [SendMessage(ok)]
    assert tx.receive_request(copy, 20.0) == [SendMessage(ok)]
    assert tx.handle_timeout(0.4 + T.timer_j_s) == [TransactionTerminated(tx.key)]
    assert tx.receive_request(copy, 40.0) == []


@pytest.mark.parametrize("cls", [InviteServerTransaction, NonInviteServerTransaction])
def test_transport_error_terminates_server(
    cls: type[InviteServerTransaction | NonInviteServerTransaction],
) -> None:
    tx = cls(make_request(), reliable=True, now=0.0, timers=T)
    assert tx.transport_error(0.0) == [TransportFailure(tx.key), TransactionTerminated(tx.key)]
    assert tx.is_terminated
