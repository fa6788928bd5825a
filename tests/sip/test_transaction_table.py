"""The transaction table: matching rules of §17.1.3/§17.2.3, RFC 2543 fallback, the timer heap."""

from __future__ import annotations

import functools
import time

import pytest

from sightline.sip.errors import TransactionError
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response
from sightline.sip.transaction import (
    MAGIC_COOKIE,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    SendMessage,
    TransactionTable,
    TransactionTerminated,
    build_cancel,
    new_branch,
)
from tests.sip.test_transaction_timers import T, make_request, respond


def test_new_branch_has_magic_cookie_and_is_random() -> None:
    branches = {new_branch() for _ in range(1000)}
    assert len(branches) == 1000
    assert all(b.startswith(MAGIC_COOKIE) and len(b) > len(MAGIC_COOKIE) + 8 for b in branches)


# -- responses to client transactions -------------------------------------------------------


def test_response_matches_by_branch_and_cseq_method() -> None:
    table = TransactionTable()
    invite = InviteClientTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    cancel = NonInviteClientTransaction(
        build_cancel(invite.request), reliable=False, now=0.0, timers=T
    )
    table.add_client(invite)
    table.add_client(cancel)
    assert len(table) == 2
    assert table.match_response(respond(invite.request, 487)) is invite
    assert table.match_response(respond(cancel.request, 200)) is cancel
    other = make_request("INVITE", branch="z9hG4bKother")
    assert table.match_response(respond(other, 200)) is None


def test_unmatchable_responses() -> None:
    table = TransactionTable()
    no_branch = make_request("OPTIONS", branch="")
    no_branch.headers.set("Via", "SIP/2.0/UDP 192.0.2.1:5060")
    tx = NonInviteClientTransaction(no_branch, reliable=False, now=0.0, timers=T)
    table.add_client(tx)
    assert table.match_response(respond(no_branch, 200)) is None
    assert table.match_response(Response(200, headers=Headers([("CSeq", "1 OPTIONS")]))) is None


def test_duplicate_keys_are_refused() -> None:
    table = TransactionTable()
    table.add_client(NonInviteClientTransaction(make_request(), reliable=False, now=0.0))
    with pytest.raises(TransactionError):
        table.add_client(NonInviteClientTransaction(make_request(), reliable=False, now=0.0))
    table.add_server(NonInviteServerTransaction(make_request(), reliable=False, now=0.0))
    with pytest.raises(TransactionError):
        table.add_server(NonInviteServerTransaction(make_request(), reliable=False, now=0.0))


# -- requests to server transactions --------------------------------------------------------


def test_request_matches_on_branch_sent_by_and_method() -> None:
    table = TransactionTable()
    tx = NonInviteServerTransaction(make_request("MESSAGE"), reliable=False, now=0.0, timers=T)
    table.add_server(tx)
    assert table.match_request(make_request("MESSAGE")) is tx
    assert table.match_request(make_request("MESSAGE", host="192.0.2.9")) is None
    assert table.match_request(make_request("MESSAGE", port=5070)) is None
    assert table.match_request(make_request("MESSAGE", branch="z9hG4bKx")) is None
    assert table.match_request(make_request("INFO")) is None
    assert table.match_request(Request("MESSAGE", "sip:x", Headers())) is None  # no Via


def test_ack_matches_invite_and_cancel_is_its_own_transaction() -> None:
    table = TransactionTable()
    invite = InviteServerTransaction(make_request("INVITE"), reliable=False, now=0.0, timers=T)
    table.add_server(invite)
    invite.send_response(respond(invite.request, 486), 0.1)
    assert table.match_request(make_request("ACK", to_tag="tt1")) is invite

    cancel = build_cancel(make_request("INVITE"))
    assert table.match_request(cancel) is None
    assert table.find_invite_for_cancel(cancel) is invite
    cancel_tx = NonInviteServerTransaction(cancel, reliable=False, now=0.0, timers=T)
    table.add_server(cancel_tx)
    assert table.match_request(build_cancel(make_request("INVITE"))) is cancel_tx
    assert (
        table.find_invite_for_cancel(build_cancel(make_request("INVITE", branch="z9hG4bKn")))
        is None
    )


def test_cancel_does_not_find_a_non_invite() -> None:
    table = TransactionTable()
    table.add_server(NonInviteServerTransaction(make_request("INVITE"), reliable=False, now=0.0))
    assert table.find_invite_for_cancel(build_cancel(make_request("INVITE"))) is None
    assert table.find_invite_for_cancel(Request("CANCEL", "sip:x", Headers())) is None


# -- RFC 2543 fallback ----------------------------------------------------------------------


# a request from an RFC 2543 peer: its branch has no magic cookie
legacy = functools.partial(make_request, branch="1a2b3c")


def test_2543_invite_retransmission_and_ack_match() -> None:
    table = TransactionTable()
    tx = InviteServerTransaction(legacy("INVITE"), reliable=False, now=0.0, timers=T)
    table.add_server(tx)
    assert tx.key.branch == "" and tx.key.legacy
    assert table.match_request(legacy("INVITE")) is tx
    assert table.match_request(legacy("INVITE", to_tag="zz")) is None
    assert table.match_request(legacy("INVITE", cseq=2)) is None
    assert table.match_request(legacy("INVITE", call_id="other")) is None
    assert table.match_request(legacy("INVITE", from_tag="other")) is None
    assert table.match_request(legacy("INVITE", uri="sip:else@192.0.2.2")) is None
    assert table.match_request(legacy("INVITE", host="192.0.2.7")) is None
    # no final response yet: nothing an ACK could acknowledge
    assert table.match_request(legacy("ACK", to_tag="tt1")) is None
    tx.send_response(respond(tx.request, 486, to_tag="tt1"), 0.1)
    assert table.match_request(legacy("ACK", to_tag="tt1")) is tx
    assert table.match_request(legacy("ACK", to_tag="wrong")) is None


def test_2543_cancel_finds_invite() -> None:
    table = TransactionTable()
    tx = InviteServerTransaction(legacy("INVITE"), reliable=False, now=0.0, timers=T)
    table.add_server(tx)
    assert table.find_invite_for_cancel(build_cancel(legacy("INVITE"))) is tx
    assert table.find_invite_for_cancel(build_cancel(legacy("INVITE", to_tag="x"))) is None


def test_2543_non_invite_checks_to_tag() -> None:
    table = TransactionTable()
    tx = NonInviteServerTransaction(legacy("BYE", to_tag="a"), reliable=False, now=0.0)
    table.add_server(tx)
    assert table.match_request(legacy("BYE", to_tag="a")) is tx
    assert table.match_request(legacy("BYE", to_tag="b")) is None


# -- timers and removal ---------------------------------------------------------------------


def test_terminated_transactions_leave_the_table() -> None:
    table = TransactionTable()
    tcp = NonInviteServerTransaction(make_request(), reliable=True, now=0.0, timers=T)
    udp = NonInviteServerTransaction(make_request(branch="z9hG4bKu"), reliable=False, now=0.0)
    table.add_server(tcp)
    table.add_server(udp)
    tcp.send_response(respond(tcp.request, 200), 0.0)  # Timer J is 0: gone at once
    assert len(table) == 1
    udp.send_response(respond(udp.request, 200), 0.0)
    assert table.next_deadline() == T.timer_j_s
    assert table.handle_timeout(T.timer_j_s) == [(udp, TransactionTerminated(udp.key))]
    assert len(table) == 0
    assert table.next_deadline() is None


def test_deadline_moving_earlier_is_honoured() -> None:
    # F (32 s) is scheduled first; the 200 replaces it with K (5 s): K must not wait for F
    table = TransactionTable()
    tx = NonInviteClientTransaction(make_request(), reliable=True, now=0.0, timers=T)
    table.add_client(tx)
    tx.start(0.0)
    assert table.next_deadline() == 32.0
    tx.receive_response(respond(tx.request, 200), 1.0)
    assert table.next_deadline() is None  # reliable: K is 0 and the transaction is gone
    udp = NonInviteClientTransaction(make_request(branch="z9hG4bKu"), reliable=False, now=0.0)
    table.add_client(udp)
    udp.start(0.0)
    udp.receive_response(respond(udp.request, 200), 0.2)
    assert table.next_deadline() == pytest.approx(5.2)
    assert table.handle_timeout(5.2) == [(udp, TransactionTerminated(udp.key))]


def test_early_and_repeated_handle_timeout_are_harmless() -> None:
    table = TransactionTable()
    tx = NonInviteClientTransaction(make_request(), reliable=False, now=0.0, timers=T)
    table.add_client(tx)
    tx.start(0.0)
    assert table.handle_timeout(0.49) == []
    assert table.handle_timeout(0.5) == [(tx, SendMessage(tx.request))]
    assert table.handle_timeout(0.5) == []
    assert table.next_deadline() == 1.5


def test_removed_transaction_no_longer_fires() -> None:
    table = TransactionTable()
    tx = NonInviteClientTransaction(make_request(), reliable=False, now=0.0, timers=T)
    table.add_client(tx)
    tx.start(0.0)
    table.remove(tx)
    assert len(table) == 0 and list(table) == []
    assert table.handle_timeout(100.0) == []
    assert tx.handle_timeout(0.5) == [SendMessage(tx.request)]  # no longer reports to the table


def test_stale_heap_entries_are_compacted_and_live_ones_survive() -> None:
    table = TransactionTable()
    keeper = NonInviteClientTransaction(
        make_request(branch="z9hG4bKkeep"), reliable=True, now=0.0, timers=T
    )
    table.add_client(keeper)
    keeper.start(0.0)
    for i in range(3000):
        tx = InviteServerTransaction(
            make_request("INVITE", branch=f"z9hG4bK{i}"), reliable=False, now=0.0, timers=T
        )
        table.add_server(tx)
        tx.send_response(respond(tx.request, 180), 0.0)  # disarms the Trying timer: stale entry
    assert len(table) == 3001
    assert table.next_deadline() == 32.0
    assert [type(a).__name__ for _, a in table.handle_timeout(32.0)] == [
        "TransactionTimeout",
        "TransactionTerminated",
    ]


def test_ten_thousand_non_invite_server_transactions() -> None:
    table = TransactionTable()
    started = time.perf_counter()
    for i in range(10_000):
        tx = NonInviteServerTransaction(
            make_request("MESSAGE", branch=f"z9hG4bK{i}"), reliable=False, now=i * 0.001, timers=T
        )
        table.add_server(tx)
        tx.send_response(respond(tx.request, 200), i * 0.001)
    assert len(table) == 10_000
    assert table.match_request(make_request("MESSAGE", branch="z9hG4bK4242")) is not None
    fired = 0
    while (deadline := table.next_deadline()) is not None:
        fired += len(table.handle_timeout(deadline + 1.0))
    assert fired == 10_000
    assert len(table) == 0
    assert time.perf_counter() - started < 30  # generous: catches quadratic behaviour only
