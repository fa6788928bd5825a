"""The SIP endpoint's core: its state, sending, and driving transactions and their timers.

:class:`EndpointCore` is the half of :class:`~sightline.sip.endpoint.SipEndpoint` that turns
transaction actions into bytes on a transport: client requests (:meth:`EndpointCore.request`),
responses, retransmissions, the loop timer and retiring completed UDP server transactions.
Receiving, routing to handlers and the lifecycle are in :mod:`sightline.sip.endpoint`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sightline.sip.errors import SipError, SipTimeoutError, SipTransportError
from sightline.sip.flood import FloodPolicy
from sightline.sip.lite import LiteAnswer, LiteRequest
from sightline.sip.message import Request, Response
from sightline.sip.nat import response_target
from sightline.sip.parser import DEFAULT_LIMITS, Limits, serialize
from sightline.sip.stats import SipStats
from sightline.sip.timers import TimerConfig
from sightline.sip.transaction import (
    Action,
    DeliverResponse,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    SendMessage,
    TransactionState,
    TransactionTable,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailure,
    new_branch,
)
from sightline.sip.transport import Connection, Peer, UdpTransport

__all__ = [
    "ALLOW_BASE",
    "ClientTx",
    "EndpointCore",
    "Handler",
    "IncomingRequest",
    "ServerTx",
    "TxContext",
]

log = logging.getLogger(__name__)

ServerTx = InviteServerTransaction | NonInviteServerTransaction
ClientTx = InviteClientTransaction | NonInviteClientTransaction


@dataclass(frozen=True)
class IncomingRequest:
    """A request as handlers see it: the message and where it came from."""

    request: Request
    peer: Peer
    conn: Connection


Handler = Callable[[IncomingRequest], Response | Awaitable[Response]]
# Answers a simple UDP request from its lite scan, or returns None (changing nothing) to leave
# it to the full path: see SipEndpoint.on_fast.
FastHandler = Callable[[LiteRequest, Peer], LiteAnswer | None]

ALLOW_BASE = ("OPTIONS", "ACK", "CANCEL")


@dataclass
class TxContext:
    """Where a transaction's messages go, and who waits for its answer."""

    peer: Peer
    conn: Connection | None
    future: asyncio.Future[Response] | None = None


class EndpointCore:
    """State, sending and transaction driving shared by every SIP endpoint."""

    def __init__(
        self,
        *,
        stats: SipStats | None = None,
        flood: FloodPolicy | None = None,
        limits: Limits = DEFAULT_LIMITS,
        timers: TimerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        user_agent: str = "sightline",
        tcp_idle_timeout_s: float = 600.0,
        udp_buffer_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.stats = stats or SipStats()
        self.flood = flood
        self._limits = limits
        self._timers = timers or TimerConfig()
        self._clock = clock
        self._user_agent = user_agent
        self._tcp_idle_timeout_s = tcp_idle_timeout_s
        self._udp_buffer_bytes = udp_buffer_bytes
        self._handlers: dict[str, Handler] = {}
        self._fast: dict[bytes, tuple[FastHandler, bytes]] = {}  # with its marker
        self._allowed: tuple[str, ...] = tuple(sorted(ALLOW_BASE))
        self._table = TransactionTable()
        self._ctx: dict[int, TxContext] = {}
        self._udp: UdpTransport | None = None
        self._more_udp: list[UdpTransport] = []  # more receiving sockets on the same port
        self._servers: list[asyncio.Server] = []
        self._connections: dict[tuple[str, str, int], Connection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._pending: set[asyncio.Task[None]] = set()
        self.local_addresses: dict[str, tuple[str, int]] = {}
        self.supported_extensions: tuple[str, ...] = ()
        # Responses matching no transaction: retransmitted 2xx to an INVITE whose client
        # transaction ended (RFC 3261 §13.2.2.4), which the dialog's owner must ACK again.
        self.on_stray_response: Callable[[Response], None] | None = None
        # Datagrams for which this returns True were taken elsewhere (a REGISTER worker
        # process hands everything but REGISTER to the main process) and are not parsed here.
        self.divert: Callable[[bytes, Peer], bool] | None = None
        # Called as each UDP datagram arrives, before it is handled (a REGISTER worker uses
        # it to report at the end of the loop turn what the turn's datagrams did).
        self.on_datagram: Callable[[], None] | None = None
        # While True, UDP datagrams are dropped as they arrive (counted in dropped_overload):
        # a REGISTER worker sheds load this way while the main process cannot keep up with
        # what it hands over; devices retransmit, as they do for any datagram lost on UDP.
        self.shedding = False

    # -- sending -------------------------------------------------------------------------

    async def request(
        self, request: Request, peer: Peer, timeout_s: float | None = None
    ) -> Response:
        """Send a request in a new client transaction; return its final response.

        A Via with a fresh branch is added on top.  Raises SipTimeoutError (Timer B/F or
        ``timeout_s``) or SipTransportError.
        """
        conn = self._route(peer)
        host, port = self._sent_by(peer)
        request.headers.prepend(
            "Via", f"SIP/2.0/{peer.transport} {host}:{port};rport;branch={new_branch()}"
        )
        if "Max-Forwards" not in request.headers:
            request.headers.add("Max-Forwards", "70")
        now = self._clock()
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        tx = cls(request, reliable=peer.reliable, now=now, timers=self._timers)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._ctx[id(tx)] = TxContext(peer, conn, future)
        self._table.add_client(tx)
        self._run(tx, tx.start(now))
        if timeout_s is None:
            return await future
        # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that arrives
        # together with the answer (e.g. close() failing every request while a task is
        # cancelled), leaving the cancelled task running forever.
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise SipTimeoutError(
                f"no final response to {request.method} in {timeout_s}s"
            ) from None

    def send_stateless(self, request: Request, peer: Peer) -> None:
        """Send a request outside any transaction, as it is (the ACK for a 2xx, §13.2.2.4).

        The caller gives the request its Via; raises SipTransportError if ``peer`` cannot
        be reached.
        """
        conn = self._route(peer)
        self._send_request(request, TxContext(peer, conn))

    def via_for(self, peer: Peer) -> tuple[str, int]:
        """The sent-by address this endpoint writes in Vias towards ``peer``."""
        return self._sent_by(peer)

    def _route(self, peer: Peer) -> Connection | None:
        if peer.transport == "UDP":
            if self._udp is None:
                raise SipTransportError("UDP is not started")
            return None
        conn = self._connections.get((peer.transport, peer.host, peer.port))
        if conn is None or conn.is_closing:
            raise SipTransportError(
                f"no open {peer.transport} connection to {peer.host}:{peer.port}"
            )
        return conn

    def _sent_by(self, peer: Peer) -> tuple[str, int]:
        host, port = self.local_addresses.get(peer.transport, ("127.0.0.1", 5060))
        return host, port

    def _send_response(
        self, response: Response, peer: Peer, conn: Connection | None
    ) -> tuple[bytes, str, int] | None:
        """Send a response; returns the bytes and UDP destination (None on a stream)."""
        if peer.reliable:
            self.stats.count_response(response.status, sent=True)
            data = serialize(response)
            if conn is not None and not conn.is_closing:
                conn.send(data)
            return None
        return self._send_udp_response(response, peer)

    def _send_udp_response(self, response: Response, peer: Peer) -> tuple[bytes, str, int]:
        """Send a response over UDP (RFC 3581 target); returns the bytes and destination."""
        self.stats.count_response(response.status, sent=True)
        data = serialize(response)
        try:
            host, port = response_target(response, (peer.host, peer.port))
        except SipError:
            host, port = peer.host, peer.port
        if self._udp is not None:
            self._udp.sendto(data, host, port)
        return data, host, port

    def _send_request(self, request: Request, ctx: TxContext) -> None:
        data = serialize(request)
        if ctx.peer.reliable:
            if ctx.conn is None or ctx.conn.is_closing:
                raise SipTransportError("connection closed")
            ctx.conn.send(data)
        elif self._udp is not None:
            self._udp.sendto(data, ctx.peer.host, ctx.peer.port)

    # -- transaction actions and timers --------------------------------------------------

    def _run(self, tx: ServerTx | ClientTx, actions: list[Action]) -> None:
        ctx = self._ctx.get(id(tx))
        if ctx is None:
            return
        for action in actions:
            self._apply(tx, ctx, action)
        self._schedule_timer()

    def _apply(self, tx: ServerTx | ClientTx, ctx: TxContext, action: Action) -> None:
        if isinstance(action, SendMessage):
            message = action.message
            if isinstance(message, Response):
                sent = self._send_response(message, ctx.peer, ctx.conn)
                if sent is not None and isinstance(tx, NonInviteServerTransaction):
                    self._retire(tx, message, sent)
            else:
                try:
                    self._send_request(message, ctx)
                except SipTransportError:
                    self._run(tx, tx.transport_error(self._clock()))
        elif isinstance(action, DeliverResponse):
            if action.response.status >= 200 and ctx.future is not None and not ctx.future.done():
                ctx.future.set_result(action.response)
        elif isinstance(action, TransportFailure):
            if ctx.future is not None and not ctx.future.done():
                ctx.future.set_exception(SipTransportError(f"cannot reach {ctx.peer}"))
        elif isinstance(action, TransactionTimeout):
            self.stats.transaction_timeouts += 1
            if ctx.future is not None and not ctx.future.done():
                ctx.future.set_exception(SipTimeoutError("transaction timed out"))
        elif isinstance(action, TransactionTerminated):
            self._ctx.pop(id(tx), None)

    def _retire(
        self, tx: NonInviteServerTransaction, sent: Response, wire: tuple[bytes, str, int]
    ) -> None:
        """Keep a Completed non-INVITE UDP server transaction as the bytes it answered with."""
        if (
            sent is tx.final_response
            and tx.state is TransactionState.COMPLETED
            and self._table.retire(tx, *wire, self._clock())
        ):
            self._ctx.pop(id(tx), None)

    def _bind_loop(self) -> None:
        """Bind the timers to the running loop (called when a transport starts)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._schedule_timer()

    def _schedule_timer(self) -> None:
        """Arm one loop timer for the table's earliest deadline, if it moved earlier.

        One TimerHandle, re-armed only when a transaction needs an earlier wake-up: a request
        answered at once (no timer but the retired Timer J, which needs no wake-up) costs none.
        """
        if self._loop is None:
            return
        deadline = self._table.next_deadline()
        if deadline is None:
            return  # a timer still armed for an earlier deadline just finds nothing to do
        if self._timer is not None:
            if self._timer_at <= deadline:
                return
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_later(max(0.0, deadline - self._clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            for tx, action in self._table.handle_timeout(self._clock()):
                ctx = self._ctx.get(id(tx))
                if ctx is None:
                    continue
                if isinstance(action, SendMessage) and _is_retransmission(action):
                    self.stats.retransmissions += 1
                self._apply(tx, ctx, action)
        except Exception:
            log.exception("SIP timer processing failed")
        self._schedule_timer()


def _is_retransmission(action: SendMessage) -> bool:
    """Timer-driven sends are retransmissions, except the delayed 100 Trying."""
    message = action.message
    return not (isinstance(message, Response) and message.status == 100)
