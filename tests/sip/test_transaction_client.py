"""Client transactions: responses, the ACK for non-2xx, absorption and misuse."""

from __future__ import annotations

import pytest

from sightline.sip.errors import TransactionError
from sightline.sip.message import Request
from sightline.sip.transaction import (
    DeliverResponse,
    InviteClientTransaction,
    NonInviteClientTransaction,
    SendMessage,
    TransactionState,
    TransactionTerminated,
    TransportFailure,
    build_cancel,
)
from tests.sip.test_transaction_timers import T, drive, make_request, respond

ROUTES = (("Route", "<sip:proxy1.example.com;lr>"), ("Route", "<sip:proxy2.example.com;lr>"))


def started_invite(reliable: bool = False) -> InviteClientTransaction:
    request = make_request("INVITE", cseq=7, extra=ROUTES)
    tx = InviteClientTransaction(request, reliable=reliable, now=0.0, timers=T)
    tx.start(0.0)
    return tx


def test_ack_for_non_2xx_follows_17_1_1_3() -> None:
    tx = started_invite()
    busy = respond(tx.request, 486, to_tag="callee-tag")
    actions = tx.receive_response(busy, 1.0)
    assert actions[0] == DeliverResponse(busy)
    assert isinstance(actions[1], SendMessage)
    ack = actions[1].message
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.uri == tx.request.uri
    assert ack.headers.get_all("Via") == [tx.request.headers.get("Via")]
    assert ack.top_via.branch == tx.request.top_via.branch
    assert ack.to.tag == "callee-tag"
    assert ack.headers.get("From") == tx.request.headers.get("From")
    assert ack.call_id == tx.request.call_id
    assert str(ack.cseq) == "7 ACK"
    assert ack.headers.get_all("Route") == [v for _, v in ROUTES]
    assert ack.body == b""
    assert tx.ack is ack


def test_retransmitted_final_in_completed_resends_same_ack_without_delivery() -> None:
    tx = started_invite()
    busy = respond(tx.request, 486)
    tx.receive_response(busy, 1.0)
    again = tx.receive_response(respond(tx.request, 486), 2.0)
    assert tx.ack is not None
    assert again == [SendMessage(tx.ack)]
    # provisional or 2xx stragglers in Completed are ignored
    assert tx.receive_response(respond(tx.request, 180), 2.5) == []
    assert tx.receive_response(respond(tx.request, 200), 2.6) == []


def test_2xx_is_delivered_and_terminates_without_ack() -> None:
    tx = started_invite()
    ringing = respond(tx.request, 180)
    ok = respond(tx.request, 200)
    assert tx.receive_response(ringing, 0.1) == [DeliverResponse(ringing)]
    assert tx.state is TransactionState.PROCEEDING
    assert tx.receive_response(ok, 0.2) == [DeliverResponse(ok), TransactionTerminated(tx.key)]
    assert tx.final_response is ok
    assert tx.ack is None
    # the 2xx retransmission belongs to the dialog layer now
    assert tx.receive_response(ok, 0.3) == []


def test_provisional_stops_timer_a() -> None:
    tx = started_invite()
    tx.receive_response(respond(tx.request, 100, to_tag=None), 0.1)
    assert drive(tx, 60.0) == []


def test_cancel_guard_not_armed_after_final() -> None:
    tx = started_invite()
    tx.receive_response(respond(tx.request, 487), 0.1)
    tx.cancelled(0.2)
    assert set(tx.pending_timers()) == {"D"}


def test_build_cancel_follows_9_1() -> None:
    tx = started_invite()
    cancel = build_cancel(tx.request)
    assert cancel.method == "CANCEL"
    assert cancel.uri == tx.request.uri
    assert cancel.headers.get_all("Via") == [tx.request.headers.get("Via")]
    assert cancel.headers.get("To") == tx.request.headers.get("To")
    assert str(cancel.cseq) == "7 CANCEL"
    assert cancel.headers.get_all("Route") == [v for _, v in ROUTES]
    cancel_tx = NonInviteClientTransaction(cancel, reliable=False, now=0.0, timers=T)
    assert cancel_tx.key.branch == tx.key.branch and cancel_tx.key != tx.key


@pytest.mark.parametrize("cls", [InviteClientTransaction, NonInviteClientTransaction])
def test_start_twice_and_receive_before_start_are_forbidden(
    cls: type[InviteClientTransaction | NonInviteClientTransaction],
) -> None:
    tx = cls(
        make_request("INVITE" if cls is InviteClientTransaction else "OPTIONS"),
        reliable=False,
        now=0.0,
        timers=T,
    )
    with pytest.raises(TransactionError):
        tx.receive_response(respond(tx.request, 200), 0.0)
    tx.start(0.0)
    with pytest.raises(TransactionError, match="start"):
        tx.start(0.1)


@pytest.mark.parametrize("cls", [InviteClientTransaction, NonInviteClientTransaction])
def test_transport_error_terminates_once(
    cls: type[InviteClientTransaction | NonInviteClientTransaction],
) -> None:
    tx = cls(
        make_request("INVITE" if cls is InviteClientTransaction else "OPTIONS"),
        reliable=True,
        now=0.0,
        timers=T,
    )
    tx.start(0.0)
    assert tx.transport_error(0.1) == [TransportFailure(tx.key), TransactionTerminated(tx.key)]
    assert tx.transport_error(0.2) == []
    assert tx.next_deadline() is None


def test_non_invite_final_absorbs_retransmissions() -> None:
    tx = NonInviteClientTransaction(make_request("REGISTER"), reliable=False, now=0.0, timers=T)
    tx.start(0.0)
    trying = respond(tx.request, 100, to_tag=None)
    ok = respond(tx.request, 200)
    assert tx.receive_response(trying, 0.1) == [DeliverResponse(trying)]
    assert tx.receive_response(trying, 0.15) == [DeliverResponse(trying)]
    assert tx.receive_response(ok, 0.2) == [DeliverResponse(ok)]
    assert tx.final_response is ok
    assert tx.receive_response(ok, 0.3) == []
    assert tx.receive_response(respond(tx.request, 500), 0.4) == []
    assert tx.state is TransactionState.COMPLETED


def test_repr_names_kind_and_state() -> None:
    tx = started_invite()
    assert "InviteClientTransaction" in repr(tx) and "Calling" in repr(tx)
