"""Retired transactions: Completed non-INVITE UDP server transactions kept as response bytes."""

from __future__ import annotations

import gc
import weakref

import pytest

from sightline.sip.parser import serialize
from sightline.sip.transaction import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    TransactionTable,
    server_key,
)
from tests.sip.test_transaction_timers import T, make_request, respond


def _completed(
    table: TransactionTable, branch: str = "z9hG4bKret1", now: float = 0.0
) -> NonInviteServerTransaction:
    tx = NonInviteServerTransaction(
        make_request("REGISTER", branch=branch), reliable=False, now=now, timers=T
    )
    table.add_server(tx)
    tx.receive_request(tx.request, now)
    tx.send_response(respond(tx.request, 401), now)
    return tx


def test_retired_transaction_answers_retransmissions_until_timer_j() -> None:
    table = TransactionTable()
    tx = _completed(table, now=10.0)
    wire = serialize(tx.last_response or respond(tx.request, 500))
    assert table.retire(tx, wire, "192.0.2.1", 5060, 10.0)
    assert table.match_request(make_request("REGISTER", branch="z9hG4bKret1")) is None
    assert len(table) == 1 and table.retired_count == 1 and list(table) == []
    key = server_key(make_request("REGISTER", branch="z9hG4bKret1"))
    deadline = 10.0 + T.timer_j_s
    assert table.retired_response(key, deadline - 0.001) == (wire, "192.0.2.1", 5060)
    # the same branch with another method or sent-by is another transaction (§17.2.3)
    assert (
        table.retired_response(server_key(make_request("OPTIONS", branch="z9hG4bKret1")), 11)
        is None
    )
    other_host = make_request("REGISTER", branch="z9hG4bKret1", host="192.0.2.9")
    assert table.retired_response(server_key(other_host), 11.0) is None
    # once Timer J has fired the request is a new one
    assert table.retired_response(key, deadline) is None
    assert table.handle_timeout(deadline) == []
    assert len(table) == 0 and table.retired_count == 0


def test_retire_refuses_what_a_retired_entry_could_not_do() -> None:
    table = TransactionTable()
    trying = NonInviteServerTransaction(make_request(branch="z9hG4bKa"), reliable=False, now=0.0)
    table.add_server(trying)
    assert not table.retire(trying, b"x", "h", 1, 0.0)  # no final response yet: still Trying
    tcp = NonInviteServerTransaction(make_request(branch="z9hG4bKb"), reliable=True, now=0.0)
    table.add_server(tcp)
    tcp.send_response(respond(tcp.request, 200), 0.0)  # Timer J is 0: already terminated
    assert not table.retire(tcp, b"x", "h", 1, 0.0)
    invite = InviteServerTransaction(
        make_request("INVITE", branch="z9hG4bKc"), reliable=False, now=0.0, timers=T
    )
    table.add_server(invite)
    invite.send_response(respond(invite.request, 486), 0.0)  # Completed, but waits for an ACK
    assert not table.retire(invite, b"x", "h", 1, 0.0)
    legacy = NonInviteServerTransaction(
        make_request(branch="1234"), reliable=False, now=0.0, timers=T
    )
    table.add_server(legacy)
    legacy.send_response(respond(legacy.request, 200), 0.0)
    assert not table.retire(legacy, b"x", "h", 1, 0.0)  # RFC 2543 matching needs the To tag
    assert table.retired_count == 0
    assert table.match_request(make_request(branch="1234")) is legacy


def test_retired_transaction_is_released() -> None:
    table = TransactionTable()
    tx = _completed(table)
    alive = weakref.ref(tx)
    request = weakref.ref(tx.request)
    assert table.retire(tx, b"SIP/2.0 401 Unauthorized\r\n\r\n", "192.0.2.1", 5060, 0.0)
    del tx
    gc.collect()
    assert alive() is None and request() is None
    assert table.next_deadline() is None  # nothing to wake up for: expiry needs no action


def test_removed_transaction_is_released_although_its_heap_entry_remains() -> None:
    table = TransactionTable()
    tx = _completed(table)
    assert table.next_deadline() == T.timer_j_s
    alive = weakref.ref(tx)
    table.remove(tx)
    del tx
    assert alive() is None  # released by reference counting, without waiting for Timer J
    assert table.next_deadline() is None


@pytest.mark.parametrize("count", [1, 5_000])
def test_expired_retired_entries_are_dropped_as_time_passes(count: int) -> None:
    table = TransactionTable()
    for i in range(count):
        tx = _completed(table, branch=f"z9hG4bKmany{i}", now=i * 0.001)
        assert table.retire(tx, b"x", "h", 1, i * 0.001)
    assert table.retired_count == count
    # retiring later transactions drops the expired ones, without any timer
    last = count * 0.001 + T.timer_j_s
    tx = _completed(table, branch="z9hG4bKlast", now=last)
    assert table.retire(tx, b"x", "h", 1, last)
    assert table.retired_count == 1
