"""Dialogs (RFC 3261 §12, §13; RFC 6665) and whole INVITE/BYE and SUBSCRIBE/NOTIFY flows.

The flows run two user agents built only from the sans-IO pieces — TransactionTable,
DialogTable, AcceptedInvite — joined by an in-memory channel that loses messages, on a
simulated clock.  They must still complete, with every request reaching each TU once.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable

import pytest

from sightline.sip.dialog import (
    AcceptedInvite,
    Dialog,
    DialogError,
    DialogId,
    DialogState,
    DialogTable,
)
from sightline.sip.fields import Via
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response, build_response
from sightline.sip.timers import TimerConfig
from sightline.sip.transaction import (
    Action,
    DeliverRequest,
    DeliverResponse,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    SendMessage,
    Transaction,
    TransactionTable,
    TransactionTimeout,
    TransportFailure,
    new_branch,
)

T = TimerConfig()
ALICE_VIA = Via("UDP", "192.0.2.1", 5060, (("rport", None),))
ALICE_CONTACT = "<sip:alice@192.0.2.1:5060>"
BOB_CONTACT = "<sip:bob@192.0.2.2:5070>"


def invite(
    method: str = "INVITE", *, cseq: int = 1, extra: tuple[tuple[str, str], ...] = ()
) -> Request:
    headers = Headers()
    headers.add("Via", f"{ALICE_VIA};branch={new_branch()}")
    headers.add("Max-Forwards", "70")
    headers.add("From", '"Alice" <sip:alice@example.com>;tag=a1')
    headers.add("To", "<sip:bob@example.com>")
    headers.add("Call-ID", "c1@192.0.2.1")
    headers.add("CSeq", f"{cseq} {method}")
    headers.add("Contact", ALICE_CONTACT)
    for name, value in extra:
        headers.add(name, value)
    return Request(method, "sip:bob@example.com", headers)


def answer(request: Request, status: int, *, tag: str | None = "b1", **kw: str) -> Response:
    headers = [("Contact", BOB_CONTACT)] + [(k.replace("_", "-"), v) for k, v in kw.items()]
    return build_response(request, status, to_tag=tag, headers=headers)


def state_of(dialog: Dialog) -> DialogState:
    """The state, read through a call so mypy does not keep an earlier narrowing."""
    return dialog.state


RR = (("Record-Route", "<sip:p1.example.com;lr>"), ("Record-Route", "<sip:p2.example.com;lr>"))


# -- creation -------------------------------------------------------------------------------


def test_uac_dialog_from_2xx() -> None:
    req = invite(cseq=5, extra=RR)
    resp = answer(req, 200)
    for name, value in RR:
        resp.headers.add(name, value)
    dialog = Dialog.from_uac(req, resp)
    assert dialog.id == DialogId("c1@192.0.2.1", "a1", "b1")
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.remote_target == "sip:bob@192.0.2.2:5070"
    assert dialog.route_set == ("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")
    assert (dialog.local_seq, dialog.remote_seq) == (5, None)
    assert dialog.local_uri.tag is None and dialog.local_uri.display_name == '"Alice"'
    assert dialog.remote_uri.uri == "sip:bob@example.com" and dialog.remote_uri.tag is None
    assert not dialog.secure


def test_uac_early_dialog_and_its_confirmation() -> None:
    req = invite()
    early = Dialog.from_uac(req, answer(req, 180))
    assert early.state is DialogState.EARLY
    ok = answer(req, 200)
    for name, value in RR:
        ok.headers.add(name, value)
    early.receive_response(ok)
    assert state_of(early) is DialogState.CONFIRMED
    assert early.route_set == ("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")


@pytest.mark.parametrize(
    ("method", "status", "tag"),
    [
        ("INVITE", 100, "b1"),
        ("INVITE", 180, None),
        ("INVITE", 486, "b1"),
        ("SUBSCRIBE", 180, "b1"),
        ("OPTIONS", 200, "b1"),
    ],
)
def test_responses_that_create_no_uac_dialog(method: str, status: int, tag: str | None) -> None:
    req = invite(method)
    with pytest.raises(DialogError):
        Dialog.from_uac(req, answer(req, status, tag=tag))


def test_subscribe_2xx_and_sips_and_missing_contact() -> None:
    req = invite("SUBSCRIBE")
    req.uri = "sips:bob@example.com"
    resp = build_response(req, 200, to_tag="b1")
    dialog = Dialog.from_uac(req, resp)
    assert dialog.secure
    assert dialog.remote_target == "sips:bob@example.com"  # no Contact: fall back to the URI


def test_dialog_from_notify_rfc_6665() -> None:
    subscribe = invite("SUBSCRIBE", cseq=3)
    notify = notify_for(subscribe, cseq=9)
    dialog = Dialog.from_notify(subscribe, notify)
    assert dialog.id == DialogId("c1@192.0.2.1", "a1", "n1")
    assert (dialog.local_seq, dialog.remote_seq) == (3, 9)
    assert dialog.remote_target == "sip:bob@192.0.2.2:5070"
    assert dialog.route_set == ("<sip:p1.example.com;lr>",)
    other = notify_for(subscribe, cseq=9)
    other.headers.set("Call-ID", "different")
    with pytest.raises(DialogError):
        Dialog.from_notify(subscribe, other)
    stranger = notify_for(subscribe, cseq=9)
    stranger.headers.set("To", "<sip:alice@example.com>;tag=zz")
    with pytest.raises(DialogError):
        Dialog.from_notify(subscribe, stranger)


def notify_for(subscribe: Request, *, cseq: int) -> Request:
    headers = Headers()
    headers.add("Via", f"SIP/2.0/UDP 192.0.2.2:5070;branch={new_branch()}")
    headers.add("From", "<sip:bob@example.com>;tag=n1")
    headers.add("To", subscribe.headers.get("From") or "")
    headers.add("Call-ID", subscribe.call_id)
    headers.add("CSeq", f"{cseq} NOTIFY")
    headers.add("Contact", BOB_CONTACT)
    headers.add("Record-Route", "<sip:p1.example.com;lr>")
    return Request("NOTIFY", "sip:alice@192.0.2.1:5060", headers)


def test_uas_dialog() -> None:
    req = invite(cseq=4, extra=RR)
    dialog = Dialog.from_uas(req, answer(req, 200))
    assert dialog.id == DialogId("c1@192.0.2.1", "b1", "a1")
    assert dialog.route_set == ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")
    assert dialog.remote_target == "sip:alice@192.0.2.1:5060"
    assert (dialog.local_seq, dialog.remote_seq) == (None, 4)
    assert dialog.local_contact == BOB_CONTACT
    bye = dialog.create_request("BYE", via=Via("UDP", "192.0.2.2", 5070))
    assert str(bye.cseq) == "1 BYE"
    assert bye.to.tag == "a1" and bye.from_.tag == "b1"
    assert Dialog.from_uas(req, answer(req, 183)).state is DialogState.EARLY
    with pytest.raises(DialogError):
        Dialog.from_uas(req, answer(req, 404))
    with pytest.raises(DialogError):
        Dialog.from_uas(req, answer(req, 200, tag=None))


# -- requests inside the dialog ---------------------------------------------------------------


def confirmed(route_set: tuple[str, ...] = ()) -> Dialog:
    req = invite(cseq=10)
    dialog = Dialog.from_uac(req, answer(req, 200))
    dialog.route_set = route_set
    return dialog


def test_create_request_fields() -> None:
    dialog = confirmed()
    bye = dialog.create_request("BYE", via=ALICE_VIA, headers=[("Reason", "SIP;cause=200")])
    info = dialog.create_request("INFO", via=ALICE_VIA, body=b"x")
    assert (bye.method, bye.uri) == ("BYE", "sip:bob@192.0.2.2:5070")
    assert str(bye.cseq) == "11 BYE" and str(info.cseq) == "12 INFO"
    assert bye.from_.tag == "a1" and bye.to.tag == "b1" and bye.call_id == "c1@192.0.2.1"
    assert bye.top_via.host == "192.0.2.1" and bye.top_via.param("rport") == ""
    assert bye.top_via.branch and bye.top_via.branch != info.top_via.branch
    assert bye.headers.get("Reason") == "SIP;cause=200"
    assert "Route" not in bye.headers and "Contact" not in bye.headers
    assert info.body == b"x"
    reinvite = dialog.create_request("INVITE", via=ALICE_VIA.with_param("branch", "z9hG4bKfixed"))
    assert reinvite.headers.get("Contact") == ALICE_CONTACT
    assert reinvite.top_via.branch == "z9hG4bKfixed"


def test_loose_routing() -> None:
    routes = ("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")
    req = confirmed(routes).create_request("BYE", via=ALICE_VIA)
    assert req.uri == "sip:bob@192.0.2.2:5070"
    assert req.headers.get_all("Route") == list(routes)


def test_strict_routing() -> None:
    routes = ("<sip:strict.example.com;transport=udp>", "<sip:p1.example.com;lr>")
    req = confirmed(routes).create_request("BYE", via=ALICE_VIA)
    assert req.uri == "sip:strict.example.com;transport=udp"
    assert req.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:bob@192.0.2.2:5070>"]


def test_forbidden_requests() -> None:
    dialog = confirmed()
    for method in ("ACK", "CANCEL"):
        with pytest.raises(DialogError):
            dialog.create_request(method, via=ALICE_VIA)
    dialog.state = DialogState.TERMINATED
    with pytest.raises(DialogError):
        dialog.create_request("BYE", via=ALICE_VIA)


def test_ack_for_2xx_uses_invite_cseq_and_a_new_branch() -> None:
    req = invite(cseq=42)
    ok = answer(req, 200)
    dialog = Dialog.from_uac(req, ok)
    ack = dialog.create_ack(ok, via=ALICE_VIA)
    assert str(ack.cseq) == "42 ACK"
    assert ack.uri == "sip:bob@192.0.2.2:5070"
    assert ack.top_via.branch != req.top_via.branch
    assert dialog.local_seq == 42  # an ACK does not use a new sequence number
    assert dialog.ack_for_retransmission(ok) is ack
    assert dialog.ack_for_retransmission(answer(invite(cseq=43), 200)) is None
    assert dialog.ack_for_retransmission(answer(req, 180)) is None
    with pytest.raises(DialogError):
        dialog.create_ack(answer(req, 486), via=ALICE_VIA)
    assert confirmed().ack_for_retransmission(ok) is None


def test_receive_request_checks_cseq_and_refreshes_target() -> None:
    req = invite(cseq=4)
    dialog = Dialog.from_uas(req, answer(req, 200))
    info = invite("INFO", cseq=5)
    assert dialog.receive_request(info) is None and dialog.remote_seq == 5
    assert dialog.remote_target == "sip:alice@192.0.2.1:5060"  # INFO is no target refresh
    assert dialog.receive_request(invite("INFO", cseq=3)) == 500
    reinvite = invite(cseq=6)
    reinvite.headers.set("Contact", "<sip:alice@198.51.100.9:5062>")
    assert dialog.receive_request(reinvite) is None
    assert dialog.remote_target == "sip:alice@198.51.100.9:5062"
    assert dialog.receive_request(invite("ACK", cseq=4)) is None  # ACK keeps its INVITE's CSeq
    assert dialog.receive_request(invite("BYE", cseq=7)) is None
    assert dialog.state is DialogState.TERMINATED


def test_receive_response_updates_dialog() -> None:
    dialog = confirmed()
    dialog.receive_response(answer(invite("INFO", cseq=11), 200))  # no target refresh
    assert dialog.remote_target == "sip:bob@192.0.2.2:5070"
    garbled = answer(invite(cseq=11), 200)
    garbled.headers.set("Contact", "<>")
    dialog.receive_response(garbled)  # an unusable Contact keeps the old target
    assert dialog.remote_target == "sip:bob@192.0.2.2:5070"
    refresh = answer(invite(cseq=11), 200)
    refresh.headers.set("Contact", "<sip:bob@203.0.113.5>")
    dialog.receive_response(refresh)
    assert dialog.remote_target == "sip:bob@203.0.113.5"
    dialog.receive_response(answer(invite("INFO", cseq=12), 415))
    assert dialog.state is DialogState.CONFIRMED
    dialog.receive_response(answer(invite("INFO", cseq=13), 481))
    assert state_of(dialog) is DialogState.TERMINATED
    req = invite()
    early = Dialog.from_uac(req, answer(req, 183))
    early.receive_response(answer(req, 486))
    assert early.state is DialogState.TERMINATED


def test_dialog_table_matches_requests_and_responses() -> None:
    table = DialogTable()
    req = invite()
    uac = Dialog.from_uac(req, answer(req, 200))
    table.add(uac)
    assert len(table) == 1 and list(table) == [uac]
    bye_from_bob = invite("BYE", cseq=1)
    bye_from_bob.headers.set("From", "<sip:bob@example.com>;tag=b1")
    bye_from_bob.headers.set("To", "<sip:alice@example.com>;tag=a1")
    assert table.match(bye_from_bob) is uac
    assert table.match(answer(req, 200)) is uac
    assert table.match(answer(req, 200, tag="other")) is None
    assert table.match(req) is None  # no To tag: not in a dialog
    assert table.match(Request("BYE", "sip:x", Headers())) is None
    assert table.get(uac.id) is uac
    table.remove(uac.id)
    assert table.get(uac.id) is None


def test_accepted_invite_retransmits_2xx_until_ack() -> None:
    req = invite()
    ok = answer(req, 200)
    accepted = AcceptedInvite(req, ok, now=0.0, timers=T)
    sent: list[float] = []
    now = 0.0
    while (deadline := accepted.next_deadline()) is not None and deadline < 8.0:
        now = deadline
        sent += [now for a in accepted.handle_timeout(now) if isinstance(a, SendMessage)]
    assert sent == [0.5, 1.5, 3.5, 7.5]
    assert accepted.handle_timeout(now) == []
    retransmitted_invite = Request(req.method, req.uri, req.headers.copy())
    assert accepted.matches(retransmitted_invite)
    assert accepted.receive_request(retransmitted_invite, 8.0) == [SendMessage(ok)]
    ack = Dialog.from_uac(req, ok).create_ack(ok, via=ALICE_VIA)
    assert accepted.matches(ack) and not accepted.matches(invite("BYE"))
    assert not accepted.matches(Request("ACK", "sip:x", Headers()))
    assert accepted.receive_request(ack, 8.0) == []
    assert accepted.done and accepted.acked and accepted.next_deadline() is None
    assert accepted.receive_request(retransmitted_invite, 9.0) == []


def test_accepted_invite_gives_up_after_64_t1() -> None:
    req = invite()
    accepted = AcceptedInvite(req, answer(req, 200), now=0.0, timers=T)
    actions: list[Action] = []
    while (deadline := accepted.next_deadline()) is not None:
        actions += accepted.handle_timeout(deadline)
    assert actions[-1] == TransactionTimeout(accepted.key)
    assert accepted.done and not accepted.acked


# -- whole flows over a lossy channel ---------------------------------------------------------

Message = Request | Response
DropPolicy = Callable[[Message], bool]


def copy_message(message: Message) -> Message:
    if isinstance(message, Request):
        return Request(message.method, message.uri, message.headers.copy(), message.body)
    return Response(message.status, message.reason, message.headers.copy(), message.body)


def drop_first_copy() -> DropPolicy:
    """Lose the first transmission of every distinct message; later copies pass."""
    seen: set[tuple[str, str, str]] = set()

    def drop(message: Message) -> bool:
        first = message.method if isinstance(message, Request) else str(message.status)
        key = (first, str(message.cseq), message.top_via.branch or "")
        if key in seen:
            return False
        seen.add(key)
        return True

    return drop


def drop_random(seed: int, rate: float) -> DropPolicy:
    rng = random.Random(seed)
    return lambda _message: rng.random() < rate


class Channel:
    """Carries messages between two UAs after a fixed latency, losing what ``drop`` says."""

    def __init__(self, drop: DropPolicy, latency_s: float = 0.02) -> None:
        self.drop = drop
        self.latency_s = latency_s
        self.queue: list[tuple[float, int, UserAgent, Message]] = []
        self.seq = itertools.count()
        self.sent = self.dropped = 0
        self.trace: list[Message] = []

    def send(self, message: Message, dest: UserAgent, now: float) -> None:
        self.sent += 1
        self.trace.append(message)
        if self.drop(message):
            self.dropped += 1
            return
        heapq.heappush(
            self.queue, (now + self.latency_s, next(self.seq), dest, copy_message(message))
        )

    def next_deadline(self) -> float | None:
        return self.queue[0][0] if self.queue else None

    def deliver_due(self, now: float) -> None:
        while self.queue and self.queue[0][0] <= now:
            _, _, dest, message = heapq.heappop(self.queue)
            dest.receive(message, now)


class UserAgent:
    """A test UA: transaction and dialog tables plus a scripted TU."""

    def __init__(self, name: str, host: str, port: int, channel: Channel) -> None:
        self.name = name
        self.via = Via("UDP", host, port, (("rport", None),))
        self.contact = f"<sip:{name}@{host}:{port}>"
        self.channel = channel
        self.peer: UserAgent = self
        self.transactions = TransactionTable()
        self.dialogs = DialogTable()
        self.accepted: list[AcceptedInvite] = []
        self.tasks: list[tuple[float, Callable[[float], None]]] = []
        self.log: list[str] = []
        self.subscription: Request | None = None

    # -- plumbing ------------------------------------------------------------------------

    def send(self, message: Message, now: float) -> None:
        self.channel.send(message, self.peer, now)

    def send_request(self, request: Request, now: float) -> None:
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        tx = cls(request, reliable=False, now=now, timers=T)
        self.transactions.add_client(tx)
        self.run(tx, tx.start(now), now)

    def later(self, at: float, work: Callable[[float], None]) -> None:
        self.tasks.append((at, work))

    def run(self, tx: Transaction | None, actions: list[Action], now: float) -> None:
        for action in actions:
            if isinstance(action, SendMessage):
                self.send(action.message, now)
            elif isinstance(action, DeliverResponse) and tx is not None:
                self.on_response(tx, action.response, now)
            elif isinstance(action, DeliverRequest) and tx is not None:
                self.on_request(tx, action.request, now)
            elif isinstance(action, TransactionTimeout | TransportFailure):
                self.log.append(f"failed {action.key.method}")

    def receive(self, message: Message, now: float) -> None:
        if isinstance(message, Response):
            client = self.transactions.match_response(message)
            if client is not None:
                self.run(client, client.receive_response(message, now), now)
                return
            dialog = self.dialogs.match(message)  # a 2xx whose ACK got lost
            ack = dialog.ack_for_retransmission(message) if dialog else None
            if ack is not None:
                self.send(ack, now)
            return
        server = self.transactions.match_request(message)
        if server is not None:
            self.run(server, server.receive_request(message, now), now)
            return
        for accepted in self.accepted:
            if accepted.matches(message):
                if message.method == "ACK" and not accepted.acked:
                    self.log.append("ACK")
                self.run(None, accepted.receive_request(message, now), now)
                return
        if message.method == "ACK":
            return
        cls = InviteServerTransaction if message.method == "INVITE" else NonInviteServerTransaction
        new = cls(message, reliable=False, now=now, timers=T)
        self.transactions.add_server(new)
        self.run(new, new.receive_request(message, now), now)

    def next_deadline(self) -> float | None:
        times = [self.transactions.next_deadline(), *(a.next_deadline() for a in self.accepted)]
        times += [at for at, _ in self.tasks]
        return min((t for t in times if t is not None), default=None)

    def handle_timeout(self, now: float) -> None:
        for tx, action in self.transactions.handle_timeout(now):
            self.run(tx, [action], now)
        for accepted in self.accepted:
            self.run(None, accepted.handle_timeout(now), now)
        due = [work for at, work in self.tasks if at <= now]
        self.tasks = [(at, work) for at, work in self.tasks if at > now]
        for work in due:
            work(now)

    def respond(self, tx: Transaction, response: Response, now: float) -> None:
        assert isinstance(tx, InviteServerTransaction | NonInviteServerTransaction)
        self.run(tx, tx.send_response(response, now), now)

    # -- the scripted TU ---------------------------------------------------------------

    def new_request(self, method: str, *, extra: tuple[tuple[str, str], ...] = ()) -> Request:
        headers = Headers()
        headers.add("Via", str(self.via.with_param("branch", new_branch())))
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<sip:{self.name}@example.com>;tag={self.name}-tag")
        headers.add("To", f"<sip:{self.peer.name}@example.com>")
        headers.add("Call-ID", f"{method.lower()}-call@example.com")
        headers.add("CSeq", f"1 {method}")
        headers.add("Contact", self.contact)
        for name, value in extra:
            headers.add(name, value)
        return Request(method, f"sip:{self.peer.name}@example.com", headers)

    def on_request(self, tx: Transaction, request: Request, now: float) -> None:
        self.log.append(
            request.method if request.method != "NOTIFY" else f"NOTIFY {request.cseq.number}"
        )
        if request.method in ("INVITE", "SUBSCRIBE"):
            ok = build_response(
                request, 200, to_tag=f"{self.name}-tag", headers=[("Contact", self.contact)]
            )
            dialog = Dialog.from_uas(request, ok)
            self.dialogs.add(dialog)
            if request.method == "INVITE":
                # the TU thinks for 0.5 s, so the 100 Trying timer has to answer first
                def accept(at: float) -> None:
                    self.respond(tx, ok, at)
                    self.accepted.append(AcceptedInvite(request, ok, now=at, timers=T))

                self.later(now + 0.5, accept)
            else:
                self.respond(tx, ok, now)
                self.notify(dialog, "active", now)
            return
        found = self.dialogs.match(request)
        if found is None and request.method == "NOTIFY" and self.subscription is not None:
            found = Dialog.from_notify(self.subscription, request)
            self.dialogs.add(found)
        assert found is not None
        status = found.receive_request(request) or 200
        if request.method == "BYE":
            self.dialogs.remove(found.id)
            self.accepted = [a for a in self.accepted if a.invite.call_id != request.call_id]
        self.respond(tx, build_response(request, status), now)

    def notify(self, dialog: Dialog, state: str, now: float) -> None:
        self.send_request(
            dialog.create_request(
                "NOTIFY",
                via=self.via,
                headers=[("Event", "Catalog"), ("Subscription-State", state)],
            ),
            now,
        )

    def on_response(self, tx: Transaction, response: Response, now: float) -> None:
        method = response.cseq.method
        if response.status < 200:
            return
        self.log.append(f"{method} {response.status}")
        dialog = self.dialogs.match(response)
        if method in ("INVITE", "SUBSCRIBE") and dialog is None:
            dialog = Dialog.from_uac(tx.request, response)
            self.dialogs.add(dialog)
        assert dialog is not None
        if method == "INVITE":
            self.send(dialog.create_ack(response, via=self.via), now)
            bye_dialog = dialog
            # hang up after 64*T1, when bob has either had the ACK or given up on it
            self.later(
                now + T.timer_h_s + 1.0,
                lambda at: self.send_request(bye_dialog.create_request("BYE", via=self.via), at),
            )
        elif method == "BYE":
            self.dialogs.remove(dialog.id)
        elif method == "NOTIFY" and dialog.local_seq == 1:
            self.notify(dialog, "terminated;reason=noresource", now)


def simulate(
    drop: DropPolicy, start: Callable[[UserAgent], None]
) -> tuple[UserAgent, UserAgent, Channel]:
    channel = Channel(drop)
    alice = UserAgent("alice", "192.0.2.1", 5060, channel)
    bob = UserAgent("bob", "192.0.2.2", 5070, channel)
    alice.peer, bob.peer = bob, alice
    start(alice)
    limit = 300.0
    while True:
        times = [channel.next_deadline(), alice.next_deadline(), bob.next_deadline()]
        now = min((t for t in times if t is not None), default=None)
        if now is None or now > limit:
            break
        channel.deliver_due(now)
        alice.handle_timeout(now)
        bob.handle_timeout(now)
    return alice, bob, channel


def start_call(alice: UserAgent) -> None:
    alice.send_request(alice.new_request("INVITE"), 0.0)


def start_subscription(alice: UserAgent) -> None:
    alice.subscription = alice.new_request(
        "SUBSCRIBE", extra=(("Event", "Catalog"), ("Expires", "3600"))
    )
    alice.send_request(alice.subscription, 0.0)


def check_call(alice: UserAgent, bob: UserAgent) -> None:
    assert alice.log == ["INVITE 200", "BYE 200"]
    assert bob.log == ["INVITE", "ACK", "BYE"]
    for ua in (alice, bob):
        assert len(ua.transactions) == 0 and len(ua.dialogs) == 0
        assert all(a.done for a in ua.accepted)


def check_subscription(alice: UserAgent, bob: UserAgent) -> None:
    assert Counter(alice.log) == Counter(["SUBSCRIBE 200", "NOTIFY 1", "NOTIFY 2"])
    assert alice.log.index("NOTIFY 1") < alice.log.index("NOTIFY 2")
    assert bob.log == ["SUBSCRIBE", "NOTIFY 200", "NOTIFY 200"]
    (alice_dialog,) = list(alice.dialogs)
    (bob_dialog,) = list(bob.dialogs)
    assert alice_dialog.id == DialogId(bob_dialog.id.call_id, "alice-tag", "bob-tag")
    assert alice_dialog.remote_seq == bob_dialog.local_seq == 2
    assert alice_dialog.remote_target == "sip:bob@192.0.2.2:5070"
    assert len(alice.transactions) == 0 and len(bob.transactions) == 0


def test_call_without_loss_sends_100_trying() -> None:
    alice, bob, channel = simulate(lambda _m: False, start_call)
    check_call(alice, bob)
    assert channel.dropped == 0
    statuses = [m.status for m in channel.trace if isinstance(m, Response)]
    assert statuses == [100, 200, 200]  # Trying timer, then 2xx to INVITE and to BYE


@pytest.mark.parametrize("start", [start_call, start_subscription])
def test_every_first_copy_lost(start: Callable[[UserAgent], None]) -> None:
    alice, bob, channel = simulate(drop_first_copy(), start)
    if start is start_call:
        check_call(alice, bob)
    else:
        check_subscription(alice, bob)
    assert channel.dropped >= 5


@pytest.mark.parametrize("seed", range(25))
def test_call_over_lossy_channel(seed: int) -> None:
    alice, bob, _ = simulate(drop_random(seed, 0.3), start_call)
    check_call(alice, bob)


@pytest.mark.parametrize("seed", range(25))
def test_subscription_over_lossy_channel(seed: int) -> None:
    alice, bob, _ = simulate(drop_random(seed, 0.3), start_subscription)
    check_subscription(alice, bob)
