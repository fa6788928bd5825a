"""The SIP endpoint: transports + codec + transaction layer + request handlers, on asyncio.

It owns no protocol rules of its own beyond routing: parsing is :mod:`parser`, transaction
behaviour is :mod:`transaction`, NAT handling is :mod:`nat`.  Services register one handler
per method (``endpoint.on("REGISTER", registrar.handle)``) and send requests with
:meth:`SipEndpoint.request`.

The endpoint's state, sending and transaction driving are in :mod:`endpoint_core`.

A handler returns a :class:`Response` directly (fast path: no task is created) or an awaitable
of one.  Any exception escaping a handler is logged with the Call-ID and answered with 500;
nothing a peer sends can end the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import Awaitable

from sightline.sip.endpoint_core import (
    ALLOW_BASE,
    EndpointCore,
    FastHandler,
    Handler,
    IncomingRequest,
    ServerTx,
    TxContext,
)
from sightline.sip.errors import SipError, SipParseError, SipTransportError
from sightline.sip.flood import FloodVerdict
from sightline.sip.framing import FramedParseError
from sightline.sip.lite import lite_response, response_port, scan_request
from sightline.sip.lite_response import scan_response
from sightline.sip.message import Request, Response, build_response
from sightline.sip.nat import stamp_received
from sightline.sip.parser import Limits, error_response, is_keepalive, parse_message
from sightline.sip.transaction import (
    InviteServerTransaction,
    NonInviteServerTransaction,
    TransactionKey,
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

__all__ = ["FastHandler", "Handler", "IncomingRequest", "SipEndpoint"]

log = logging.getLogger(__name__)


class SipEndpoint(EndpointCore):
    """One SIP node: listens, answers, and sends requests."""

    # -- configuration -------------------------------------------------------------------

    def on(self, method: str, handler: Handler) -> None:
        """Route requests of ``method`` to ``handler``."""
        self._handlers[method.upper()] = handler
        self._allowed = tuple(sorted({*ALLOW_BASE, *self._handlers}))

    def on_fast(self, method: str, handler: FastHandler, *, marker: bytes = b"") -> None:
        """Answer simple UDP requests of ``method`` from their lite scan (:mod:`.lite`).

        ``handler`` gets each request the scan can read and returns the final answer, or None
        having changed nothing, to leave the request to the full path (the handler given to
        :meth:`on`, which must be set too). Retransmissions are absorbed as for any request.
        With ``marker``, only datagrams that contain those bytes are scanned: the scan costs
        about what a full parse does, so requests the handler would decline anyway (a
        catalog MESSAGE for a keepalive handler) skip it.
        """
        self._fast[method.upper().encode() + b" "] = (handler, marker)

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

    async def add_udp_socket(self, host: str, port: int) -> None:
        """Receive on one more SO_REUSEPORT socket on a port ``start_udp`` bound with it.

        The kernel spreads a port's sources evenly over its sockets, so this raises this
        process's share of them; answers still leave from the first socket (same address).
        """
        if self._udp is None:
            raise SipTransportError("UDP is not started")
        loop = asyncio.get_running_loop()
        sock = open_udp_socket(host, port, self._udp_buffer_bytes, reuse_port=True)
        _, proto = await loop.create_datagram_endpoint(lambda: UdpTransport(self), sock=sock)
        self._more_udp.append(proto)

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
        for extra in self._more_udp:
            extra.close()
        self._more_udp.clear()
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
        if self.on_datagram is not None:
            self.on_datagram()
        if self.shedding:
            self.stats.dropped_overload += 1  # the sender retransmits (SIP over UDP)
            return
        if self._fast and self._answer_fast(data, peer):
            return
        if self.divert is not None and self.divert(data, peer):
            return
        if is_keepalive(data):
            return  # RFC 5626 keep-alive
        lite = scan_response(data, self._limits)
        if lite is not None:
            try:
                self._on_response(lite.response, lite.key)
            except SipError as exc:  # as _dispatch does for a fully parsed response
                self.stats.parse_errors[peer.transport] += 1
                log.info("rejected SIP from %s:%d: %s", peer.host, peer.port, exc)
            return
        try:
            message = parse_message(data, self._limits)
        except SipParseError as exc:
            self._reject(data, exc, peer, conn)
            return
        self._dispatch(message, peer, conn)

    def _answer_fast(self, data: bytes, peer: Peer) -> bool:
        """Answer a datagram through a fast handler (see ``on_fast``); False if not done."""
        entry = self._fast.get(data[: data.find(b" ") + 1])
        if entry is None or self._udp is None or ":" in peer.host:
            return False  # IPv6 sources take the full path
        handler, marker = entry
        if marker not in data:
            return False
        request = scan_request(data, self._limits)
        if request is None:
            return False
        key = TransactionKey(request.method, request.branch, request.sent_by)
        if self._table.has_server(key):
            return False  # its transaction absorbs the retransmission
        now = self._clock()
        retired = self._table.retired_response(key, now)
        if retired is not None:
            self.stats.count_request(request.method)
            return self._resend_retired(key, now)
        try:
            answer = handler(request, peer)
        except Exception:
            log.exception(
                "fast handler for %s failed (Call-ID %s)", request.method, request.call_id
            )
            return False  # the full path answers (500 if it fails the same way)
        if answer is None:
            return False
        self.stats.count_request(request.method)
        self.stats.count_response(answer.status, sent=True)
        host, port = peer.host, response_port(request, peer.port)
        wire = lite_response(
            request, answer, (host, peer.port), to_tag=secrets.token_hex(4), server=self._user_agent
        )
        self._udp.sendto(wire, host, port)
        deadline = now + self._timers.absorb_s("J", reliable=False)
        self._table.retire_answered(key, wire, host, port, deadline=deadline, now=now)
        return True

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
        self._ctx[id(tx)] = TxContext(peer, conn)
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

    def _on_response(self, response: Response, key: TransactionKey | None = None) -> None:
        self.stats.count_response(response.status, sent=False)
        tx = self._table.match_response(response, key)
        if tx is None:
            log.debug("stray response %d (Call-ID %s)", response.status, response.call_id)
            if self.on_stray_response is not None:
                self.on_stray_response(response)
            return
        self._run(tx, tx.receive_response(response, self._clock()))
