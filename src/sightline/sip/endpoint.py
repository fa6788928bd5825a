"""The SIP endpoint: transports + codec + transaction layer + request handlers, on asyncio.

It owns no protocol rules of its own beyond routing: parsing is :mod:`parser`, transaction
behaviour is :mod:`transaction`, NAT handling is :mod:`nat`.  Services register one handler
per method (``endpoint.on("REGISTER", registrar.handle)``) and send requests with
:meth:`SipEndpoint.request`.

A handler returns a :class:`Response` directly (fast path: no task is created) or an awaitable
of one.  Any exception escaping a handler is logged with the Call-ID and answered with 500;
nothing a peer sends can end the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sightline.sip.errors import SipError, SipParseError, SipTimeoutError, SipTransportError
from sightline.sip.flood import FloodPolicy, FloodVerdict
from sightline.sip.framing import FramedParseError
from sightline.sip.message import Request, Response, build_response
from sightline.sip.nat import response_target, stamp_received
from sightline.sip.parser import (
    DEFAULT_LIMITS,
    Limits,
    error_response,
    is_keepalive,
    parse_message,
    serialize,
)
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
    TransactionKey,
    TransactionState,
    TransactionTable,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailure,
    new_branch,
    server_key,
)
from sightline.sip.transport import (
    Connection,
    Peer,
    StreamConnection,
    UdpTransport,
    open_udp_socket,
)
from sightline.sip.uas import precheck

__all__ = ["Handler", "IncomingRequest", "SipEndpoint"]

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

_ALLOW_BASE = ("OPTIONS", "ACK", "CANCEL")


@dataclass
class _TxContext:
    peer: Peer
    conn: Connection | None
    future: asyncio.Future[Response] | None = None


class SipEndpoint:
    """One SIP node: listens, answers, and sends requests."""

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
        self._allowed: tuple[str, ...] = tuple(sorted(_ALLOW_BASE))
        self._table = TransactionTable()
        self._ctx: dict[int, _TxContext] = {}
        self._udp: UdpTransport | None = None
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

    # -- configuration -------------------------------------------------------------------

    def on(self, method: str, handler: Handler) -> None:
        """Route requests of ``method`` to ``handler``."""
        self._handlers[method.upper()] = handler
        self._allowed = tuple(sorted({*_ALLOW_BASE, *self._handlers}))

    @property
    def allowed_methods(self) -> list[str]:
        """Methods this endpoint answers (for Allow headers)."""
        return list(self._allowed)

    # -- lifecycle -----------------------------------------------------------------------

    async def start_udp(self, host: str, port: int, *, reuse_port: bool = False) -> tuple[str, int]:
        """Listen on UDP; returns the bound address (``reuse_port``: see open_udp_socket)."""
        loop = asyncio.get_running_loop()
        sock = open_udp_socket(host, port, self._udp_buffer_bytes, reuse_port=reuse_port)
        _, proto = await loop.create_datagram_endpoint(lambda: UdpTransport(self), sock=sock)
        self._udp = proto
        self.local_addresses["UDP"] = proto.local
        self._bind_loop()
        return proto.local

    async def start_stream(
        self, host: str, port: int, ssl_context: ssl.SSLContext | None = None
    ) -> tuple[str, int]:
        """Listen on TCP, or TLS when a context is given; returns the bound address."""
        name = "TLS" if ssl_context else "TCP"
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: StreamConnection(self, name, self._stream_limits(), self._tcp_idle_timeout_s),
            host,
            port,
            ssl=ssl_context,
            reuse_address=True,
            backlog=1024,
        )
        self._servers.append(server)
        sock = server.sockets[0].getsockname()
        self.local_addresses[name] = (str(sock[0]), int(sock[1]))
        self._bind_loop()
        return self.local_addresses[name]

    def _stream_limits(self) -> Limits:
        return self._limits

    async def connect(
        self, host: str, port: int, ssl_context: ssl.SSLContext | None = None
    ) -> Peer:
        """Open a TCP (or TLS) connection to a peer; requests to that Peer then use it."""
        name = "TLS" if ssl_context else "TCP"
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(
            lambda: StreamConnection(self, name, self._stream_limits(), self._tcp_idle_timeout_s),
            host,
            port,
            ssl=ssl_context,
        )
        self._bind_loop()
        return proto.peer

    async def close(self) -> None:
        """Stop listening, close connections, fail pending requests."""
        for server in self._servers:
            server.close()
        for conn in list(self._connections.values()):
            conn.close()
        for server in self._servers:
            await server.wait_closed()
        if self._udp is not None:
            self._udp.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None
        for ctx in self._ctx.values():
            if ctx.future is not None and not ctx.future.done():
                ctx.future.set_exception(SipTransportError("endpoint closed"))
        for task in list(self._pending):
            task.cancel()

    # -- receiving (SipReceiver) ---------------------------------------------------------

    def allow_source(self, peer: Peer) -> bool:
        """Apply the flood policy before parsing anything."""
        if self.flood is None:
            return True
        verdict = self.flood.check(peer.host, self._clock())
        if verdict is FloodVerdict.ALLOW:
            return True
        if verdict is FloodVerdict.BANNED:
            self.stats.dropped_banned += 1
        else:
            self.stats.dropped_rate_limited += 1
        return False

    def datagram_received(self, data: bytes, peer: Peer, conn: Connection) -> None:
        """Parse a datagram and dispatch it; malformed ones get 400 or are dropped."""
        if self.divert is not None and self.divert(data, peer):
            return
        if is_keepalive(data):
            return  # RFC 5626 keep-alive
        try:
            message = parse_message(data, self._limits)
        except SipParseError as exc:
            self._reject(data, exc, peer, conn)
            return
        self._dispatch(message, peer, conn)

    def receive_forwarded(self, data: bytes, host: str, port: int) -> None:
        """A UDP datagram that another process took off this endpoint's port, already
        flood-checked there: handled as if it had arrived here, answered from this socket."""
        if self._udp is None:
            raise SipTransportError("UDP is not started")
        self._udp.forwarded(data, (host, port))

    def stream_message(
        self, item: Request | Response | SipParseError, peer: Peer, conn: Connection
    ) -> None:
        """Dispatch a framed message from a stream connection."""
        if isinstance(item, FramedParseError):
            self._reject(item.raw, item.cause, peer, conn)
            return
        if isinstance(item, SipParseError):
            self.stats.parse_errors[peer.transport] += 1
            log.info("malformed SIP from %s %s:%d: %s", peer.transport, peer.host, peer.port, item)
            return
        self._dispatch(item, peer, conn)

    def connection_made(self, peer: Peer, conn: Connection) -> None:
        """Remember the connection so requests to that peer can reuse it."""
        self._connections[(peer.transport, peer.host, peer.port)] = conn
        self.stats.tcp_connections = len(self._connections)

    def connection_lost(self, peer: Peer, conn: Connection) -> None:
        """Forget a closed connection."""
        key = (peer.transport, peer.host, peer.port)
        if self._connections.get(key) is conn:
            del self._connections[key]
        self.stats.tcp_connections = len(self._connections)

    def _reject(self, data: bytes, exc: SipParseError, peer: Peer, conn: Connection) -> None:
        self.stats.parse_errors[peer.transport] += 1
        response = error_response(data, exc)
        if response is not None:
            try:
                stamp_received(response, peer.host, peer.port)
            except SipError:
                response = None
        if response is None:
            log.info("dropped malformed SIP from %s:%d: %s", peer.host, peer.port, exc)
            return
        log.info(
            "answered malformed SIP from %s:%d with %d: %s",
            peer.host,
            peer.port,
            response.status,
            exc,
        )
        self._send_response(response, peer, conn)

    def _dispatch(self, message: Request | Response, peer: Peer, conn: Connection) -> None:
        try:
            if isinstance(message, Request):
                self._on_request(message, peer, conn)
            else:
                self._on_response(message)
        except SipError as exc:
            # a header the parser accepted lazily turned out malformed (e.g. a bad Via)
            self.stats.parse_errors[peer.transport] += 1
            log.info("rejected SIP from %s:%d: %s", peer.host, peer.port, exc)

    def _on_request(self, request: Request, peer: Peer, conn: Connection) -> None:
        self.stats.count_request(request.method)
        stamp_received(request, peer.host, peer.port)
        now = self._clock()
        key = self._server_key(request)
        tx = self._table.match_request(request, key=key)
        if tx is not None:
            self._run(tx, tx.receive_request(request, now))
            return
        if key is not None and self._resend_retired(key, now):
            return
        if request.method == "ACK":
            return  # ACK for a 2xx: belongs to a dialog, which handlers track themselves
        if request.method == "CANCEL":
            self._on_cancel(request, peer, conn, now)
            return
        if key is None or key.legacy or peer.reliable or request.method == "INVITE":
            tx = self._new_server_tx(request, peer, conn, now, key)
            rejection = precheck(request, self._allowed, self.supported_extensions)
            if rejection is not None:
                self._respond(tx, rejection)
                return
            handler = self._handlers.get(request.method)
            if handler is None:  # OPTIONS: answered by the endpoint itself
                self._respond(tx, self._options_response(request))
                return
            self._invoke(handler, IncomingRequest(request, peer, conn), tx)
            return
        self._on_udp_request(request, peer, conn, now, key)

    def _on_udp_request(
        self, request: Request, peer: Peer, conn: Connection, now: float, key: TransactionKey
    ) -> None:
        """A new non-INVITE request over UDP: no transaction is built when it is answered at once.

        A handler that returns its final response directly (REGISTER, MESSAGE, OPTIONS...)
        leaves nothing for a Trying transaction to do: the response is sent and kept as a
        retired transaction (``TransactionTable.retire_answered``), exactly what the machine
        would have become. Otherwise (an awaitable, or a provisional answer) the transaction
        is built before anything else can arrive, and takes over as usual.
        """
        response = precheck(request, self._allowed, self.supported_extensions)
        if response is None:
            handler = self._handlers.get(request.method)
            if handler is None:  # OPTIONS: answered by the endpoint itself
                response = self._options_response(request)
            else:
                incoming = IncomingRequest(request, peer, conn)
                result = self._call(handler, incoming)
                if not isinstance(result, Response):
                    tx = self._new_server_tx(request, peer, conn, now, key)
                    self._await(result, incoming, tx)
                    return
                response = result
        if not 200 <= response.status <= 699:
            self._respond(self._new_server_tx(request, peer, conn, now, key), response)
            return
        if "Server" not in response.headers and "User-Agent" not in response.headers:
            response.headers.add("Server", self._user_agent)
        wire, host, port = self._send_udp_response(response, peer)
        now = self._clock()
        deadline = now + self._timers.absorb_s("J", reliable=False)
        self._table.retire_answered(key, wire, host, port, deadline=deadline, now=now)

    @staticmethod
    def _server_key(request: Request) -> TransactionKey | None:
        try:
            return server_key(request)
        except SipError:
            return None  # the machine's constructor raises it again, where it is handled

    def _resend_retired(self, key: TransactionKey, now: float) -> bool:
        """Answer a retransmission of a retired transaction's request; False if none."""
        retired = self._table.retired_response(key, now)
        if retired is None:
            return False
        wire, host, port = retired
        self.stats.count_response(int(wire[8:11]), sent=True)
        if self._udp is not None:
            self._udp.sendto(wire, host, port)
        return True

    def _new_server_tx(
        self,
        request: Request,
        peer: Peer,
        conn: Connection,
        now: float,
        key: TransactionKey | None = None,
    ) -> ServerTx:
        cls = InviteServerTransaction if request.method == "INVITE" else NonInviteServerTransaction
        tx = cls(request, reliable=peer.reliable, now=now, timers=self._timers, key=key)
        self._table.add_server(tx)
        self._ctx[id(tx)] = _TxContext(peer, conn)
        self._run(tx, tx.receive_request(request, now) if request.method == "INVITE" else [])
        return tx

    def _options_response(self, request: Request) -> Response:
        return build_response(
            request,
            200,
            to_tag=new_branch()[7:17],
            headers=[
                ("Allow", ", ".join(self.allowed_methods)),
                ("Accept", "application/sdp, application/MANSCDP+xml"),
                ("Supported", ", ".join(self.supported_extensions)),
                ("Server", self._user_agent),
            ],
        )

    def _on_cancel(self, request: Request, peer: Peer, conn: Connection, now: float) -> None:
        tx = self._new_server_tx(request, peer, conn, now)
        invite = self._table.find_invite_for_cancel(request)
        if invite is None:
            self._respond(tx, build_response(request, 481))
            return
        self._respond(tx, build_response(request, 200))
        if invite.final_response is None:
            self._respond(invite, build_response(invite.request, 487, to_tag=new_branch()[7:17]))

    def _invoke(self, handler: Handler, incoming: IncomingRequest, tx: ServerTx) -> None:
        result = self._call(handler, incoming)
        if isinstance(result, Response):
            self._respond(tx, result)
            return
        self._await(result, incoming, tx)

    @staticmethod
    def _call(handler: Handler, incoming: IncomingRequest) -> Response | Awaitable[Response]:
        """Run a handler; an exception escaping it is logged and becomes a 500."""
        try:
            return handler(incoming)
        except Exception:
            log.exception(
                "handler for %s failed (Call-ID %s)",
                incoming.request.method,
                incoming.request.headers.get("Call-ID"),
            )
            return build_response(incoming.request, 500)

    def _await(self, result: Awaitable[Response], incoming: IncomingRequest, tx: ServerTx) -> None:
        task = asyncio.ensure_future(self._await_handler(result, incoming, tx))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _await_handler(
        self, result: Awaitable[Response], incoming: IncomingRequest, tx: ServerTx
    ) -> None:
        try:
            response = await result
        except Exception:
            log.exception(
                "handler for %s failed (Call-ID %s)",
                incoming.request.method,
                incoming.request.headers.get("Call-ID"),
            )
            response = build_response(incoming.request, 500)
        self._respond(tx, response)

    def _respond(self, tx: ServerTx, response: Response) -> None:
        if tx.final_response is not None:
            return  # e.g. a CANCEL already answered the INVITE
        if "Server" not in response.headers and "User-Agent" not in response.headers:
            response.headers.add("Server", self._user_agent)
        self._run(tx, tx.send_response(response, self._clock()))

    def _on_response(self, response: Response) -> None:
        self.stats.count_response(response.status, sent=False)
        tx = self._table.match_response(response)
        if tx is None:
            log.debug("stray response %d (Call-ID %s)", response.status, response.call_id)
            if self.on_stray_response is not None:
                self.on_stray_response(response)
            return
        self._run(tx, tx.receive_response(response, self._clock()))

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
        self._ctx[id(tx)] = _TxContext(peer, conn, future)
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
        self._send_request(request, _TxContext(peer, conn))

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

    def _send_request(self, request: Request, ctx: _TxContext) -> None:
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

    def _apply(self, tx: ServerTx | ClientTx, ctx: _TxContext, action: Action) -> None:
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
