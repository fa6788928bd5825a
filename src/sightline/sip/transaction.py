"""The SIP transaction layer (RFC 3261 §17), sans-IO.

This module is the public face; the machines live in :mod:`transaction_client` and
:mod:`transaction_server`, the shared parts in :mod:`transaction_base` and the index in
:mod:`transaction_table`.  Typical use by a transport adapter::

    tx = NonInviteClientTransaction(request, reliable=False, now=now, timers=timers)
    table.add_client(tx)
    run(tx.start(now))                       # actions: SendMessage, DeliverResponse, ...
    ...
    tx = table.match_response(response)      # on every received response
    run(tx.receive_response(response, now))
    ...
    sleep until table.next_deadline(); then run each of table.handle_timeout(now)

Responses to INVITE that arrive after the client transaction ended (2xx retransmissions) match
nothing and belong to the dialog layer, as do ACKs for 2xx (:mod:`sightline.sip.dialog`).
"""

from __future__ import annotations

from sightline.sip.timers import TimerConfig
from sightline.sip.transaction_base import (
    MAGIC_COOKIE,
    Action,
    DeliverRequest,
    DeliverResponse,
    SendMessage,
    Transaction,
    TransactionKey,
    TransactionState,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailure,
    client_key,
    new_branch,
    server_key,
)
from sightline.sip.transaction_client import (
    InviteClientTransaction,
    NonInviteClientTransaction,
    build_cancel,
)
from sightline.sip.transaction_server import InviteServerTransaction, NonInviteServerTransaction
from sightline.sip.transaction_table import ClientTransaction, ServerTransaction, TransactionTable

__all__ = [
    "MAGIC_COOKIE",
    "Action",
    "ClientTransaction",
    "DeliverRequest",
    "DeliverResponse",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "SendMessage",
    "ServerTransaction",
    "TimerConfig",
    "Transaction",
    "TransactionKey",
    "TransactionState",
    "TransactionTable",
    "TransactionTerminated",
    "TransactionTimeout",
    "TransportFailure",
    "build_cancel",
    "client_key",
    "new_branch",
    "server_key",
]
