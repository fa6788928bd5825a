"""What every SIP transaction shares: states, actions, keys and timer bookkeeping.

A transaction is a pure state machine (RFC 3261 §17).  Inputs are method calls carrying the
current time; outputs are lists of *actions* for the caller to carry out in order:

    SendMessage(message)          give the message to the transport (to the transaction's peer)
    DeliverRequest(request)       a server transaction hands its request to the TU
    DeliverResponse(response)     a client transaction hands a response to the TU
    TransactionTimeout(key)       Timer B, F or H (or the §9.1 CANCEL guard) fired: tell the TU
    TransportFailure(key)         the transport reported an error: tell the TU
    TransactionTerminated(key)    the machine is done; forget it

Timers are data: ``{name: deadline}``.  ``next_deadline()`` is the earliest of them and
``handle_timeout(now)`` fires every timer due at ``now`` (doing nothing when called early).
"""

from __future__ import annotations

import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sightline.sip.errors import TransactionError
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response
from sightline.sip.timers import TimerConfig, TimerName

__all__ = [
    "MAGIC_COOKIE",
    "Action",
    "DeliverRequest",
    "DeliverResponse",
    "SendMessage",
    "Transaction",
    "TransactionKey",
    "TransactionState",
    "TransactionTerminated",
    "TransactionTimeout",
    "TransportFailure",
    "client_key",
    "derived_request",
    "new_branch",
    "server_key",
]

log = logging.getLogger(__name__)

# RFC 3261 §8.1.1.7: branches starting with this were built by an RFC 3261 element and are
# unique, so the branch alone (plus sent-by and method) identifies a transaction.
MAGIC_COOKIE = "z9hG4bK"


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie and 64 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(8)


class TransactionState(Enum):
    """States of the four transaction machines (RFC 3261 figures 5-8)."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """What identifies a transaction (RFC 3261 §17.1.3, §17.2.3).

    ``sent_by`` is only used for server transactions; ``legacy`` holds the RFC 2543 matching
    fields (Request-URI, From tag, Call-ID, CSeq number, top Via) when the branch lacks the
    magic cookie, in which case ``branch`` is empty.
    """

    method: str
    branch: str
    sent_by: str = ""
    legacy: tuple[str, ...] = ()


def client_key(message: Request | Response) -> TransactionKey:
    """Key of the client transaction a request creates or a response belongs to."""
    method = message.method if isinstance(message, Request) else message.cseq.method
    return TransactionKey(method, message.top_via.branch or "")


def server_key(request: Request, *, method: str | None = None) -> TransactionKey:
    """Key of the server transaction a request belongs to; ACK maps to its INVITE."""
    if method is None:
        method = "INVITE" if request.method == "ACK" else request.method
    via = request.top_via
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        return TransactionKey(method, branch, f"{via.host.lower()}:{via.port or ''}")
    # RFC 2543 peers: the To tag is checked after lookup because an ACK carries the tag of
    # the response, which the INVITE did not have.
    hop = f"{via.transport} {via.host.lower()}:{via.port or ''} {branch}"
    legacy = (
        request.uri.strip(),
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.number),
        hop,
    )
    return TransactionKey(method, "", legacy=legacy)


@dataclass(frozen=True)
class SendMessage:
    """Pass this request or response to the transport, towards the transaction's peer."""

    message: Request | Response


@dataclass(frozen=True)
class DeliverRequest:
    """A server transaction passes its request up to the TU."""

    request: Request


@dataclass(frozen=True)
class DeliverResponse:
    """A client transaction passes a response up to the TU."""

    response: Response


@dataclass(frozen=True)
class TransactionTimeout:
    """The transaction gave up waiting (Timer B, F, H or the CANCEL guard)."""

    key: TransactionKey


@dataclass(frozen=True)
class TransportFailure:
    """The transport could not deliver a message of this transaction."""

    key: TransactionKey


@dataclass(frozen=True)
class TransactionTerminated:
    """The transaction reached Terminated; its owner can forget it."""

    key: TransactionKey


Action = (
    SendMessage
    | DeliverRequest
    | DeliverResponse
    | TransactionTimeout
    | TransportFailure
    | TransactionTerminated
)

Watcher = Callable[["Transaction"], None]


class Transaction(ABC):
    """Timer bookkeeping and termination shared by the four machines."""

    state: TransactionState

    def __init__(
        self,
        request: Request,
        *,
        key: TransactionKey,
        reliable: bool,
        now: float,
        timers: TimerConfig,
    ) -> None:
        self.request = request
        self.key = key
        self.reliable = reliable
        self.timers = timers
        self.created_s = now
        self._deadlines: dict[TimerName, float] = {}
        self._intervals: dict[TimerName, float] = {}
        self._watcher: Watcher | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key.method} {self.key.branch} {self.state.value}>"

    @property
    def is_terminated(self) -> bool:
        """True once the machine reached Terminated."""
        return self.state is TransactionState.TERMINATED

    def set_watcher(self, watcher: Watcher | None) -> None:
        """Call ``watcher(self)`` after every input (used by TransactionTable to reschedule)."""
        self._watcher = watcher

    def next_deadline(self) -> float | None:
        """The earliest armed timer, or None."""
        return min(self._deadlines.values(), default=None)

    def pending_timers(self) -> dict[TimerName, float]:
        """A copy of the armed timers and their deadlines."""
        return dict(self._deadlines)

    def handle_timeout(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``, earliest first."""
        actions: list[Action] = []
        while not self.is_terminated:
            due = [
                (deadline, name) for name, deadline in self._deadlines.items() if deadline <= now
            ]
            if not due:
                break
            _, name = min(due)
            del self._deadlines[name]
            actions.extend(self._fire(name, now))
        return self._done(actions)

    def transport_error(self, now: float) -> list[Action]:
        """The transport failed to send for this transaction: inform the TU and terminate."""
        if self.is_terminated:
            return []
        log.info("transport error in %r", self)
        return self._done([TransportFailure(self.key), *self._terminate()])

    # -- for subclasses ------------------------------------------------------------------

    @abstractmethod
    def _fire(self, name: TimerName, now: float) -> list[Action]:
        """Handle timer ``name`` (already disarmed) firing at ``now``."""

    def _arm(self, name: TimerName, now: float, delay_s: float) -> None:
        self._deadlines[name] = now + delay_s

    def _arm_retransmit(self, name: TimerName, now: float, interval_s: float) -> None:
        self._intervals[name] = interval_s
        self._arm(name, now, interval_s)

    def _disarm(self, *names: TimerName) -> None:
        for name in names:
            self._deadlines.pop(name, None)

    def _terminate(self) -> list[Action]:
        self.state = TransactionState.TERMINATED
        self._deadlines.clear()
        return [TransactionTerminated(self.key)]

    def _wait_then_terminate(self, name: TimerName, now: float, wait_s: float) -> list[Action]:
        # a zero wait (reliable transports) ends the transaction at once, not at the next tick
        if wait_s <= 0:
            return self._terminate()
        self._arm(name, now, wait_s)
        return []

    def _done(self, actions: list[Action]) -> list[Action]:
        if self._watcher is not None:
            self._watcher(self)
        return actions

    def _forbid(self, what: str) -> TransactionError:
        return TransactionError(f"{what} not allowed in state {self.state.value} of {self!r}")


def derived_request(request: Request, method: str, to_value: str) -> Request:
    """An ACK or CANCEL built from ``request``: same top Via, Route set and dialog fields."""
    headers = Headers()
    headers.add("Via", request.headers.get_list("Via")[0])
    headers.add("Max-Forwards", request.headers.get("Max-Forwards") or "70")
    for route in request.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", to_value)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.number} {method}")
    return Request(method, request.uri, headers)
