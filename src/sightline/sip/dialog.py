"""SIP dialogs (RFC 3261 §12, §13.2.2.4, §13.3.1.4; RFC 6665 §4.1.2.4 for SUBSCRIBE), sans-IO.

A dialog is the state two user agents share between an INVITE (or SUBSCRIBE) and its end:
the identifier (Call-ID and both tags), both CSeq spaces, the remote target (the peer's
Contact) and the route set (Record-Route).  :class:`Dialog` builds in-dialog requests and
checks received ones; :class:`DialogTable` finds the dialog a message belongs to.

Vias: in-dialog requests are new transactions, so each needs a top Via with a fresh branch.
The dialog cannot know which transport will carry the request, so the caller passes the Via
with its own sent-by (``Via("UDP", host, port, (("rport", None),))``) and the dialog adds
``branch=z9hG4bK...`` when the Via has none.

The 2xx to an INVITE is reliable end to end, not per hop: the UAS retransmits it until the
ACK comes (:class:`AcceptedInvite`) and the UAC re-sends the same ACK for every 2xx copy
(:meth:`Dialog.ack_for_retransmission`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum

from sightline.sip.errors import SipError
from sightline.sip.fields import NameAddr, Via
from sightline.sip.headers import Headers
from sightline.sip.message import Request, Response
from sightline.sip.timers import TimerConfig
from sightline.sip.transaction_base import (
    Action,
    SendMessage,
    TransactionTimeout,
    new_branch,
    server_key,
)

__all__ = [
    "TARGET_REFRESH_METHODS",
    "AcceptedInvite",
    "Dialog",
    "DialogError",
    "DialogId",
    "DialogState",
    "DialogTable",
]

log = logging.getLogger(__name__)

# Requests whose Contact replaces the remote target (RFC 3261 §12.2, RFC 3311, 3515, 6665).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER"})


class DialogError(SipError):
    """A dialog cannot be built from these messages, or was asked for a forbidden request."""


class DialogState(Enum):
    """Early (after a 1xx with a To tag), confirmed (after a 2xx), terminated."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID plus local and remote tag, as seen from this side."""

    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(eq=False)
class Dialog:
    """One side's view of a dialog; mutated by the requests it sends and receives."""

    id: DialogId
    state: DialogState
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: str
    local_seq: int | None = None
    remote_seq: int | None = None
    route_set: tuple[str, ...] = ()
    secure: bool = False
    local_contact: str | None = None
    last_ack: Request | None = field(default=None, repr=False)

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """The dialog a response to our INVITE/SUBSCRIBE creates (§12.1.2)."""
        method = request.method
        status = response.status
        if method not in _DIALOG_CREATING:
            raise DialogError(f"{method} does not create dialogs")
        early = method == "INVITE" and 100 < status < 200
        if not early and status // 100 != 2:
            raise DialogError(f"a {status} to {method} does not create a dialog")
        return cls(
            id=DialogId(request.call_id, _tag(request.from_, "From"), _tag(response.to, "To")),
            state=DialogState.EARLY if early else DialogState.CONFIRMED,
            local_uri=_untagged(request.from_),
            remote_uri=_untagged(response.to),
            remote_target=_contact_uri(response) or request.uri,
            local_seq=request.cseq.number,
            route_set=tuple(reversed(response.headers.get_list("Record-Route"))),
            secure=_is_sips(request.uri),
            local_contact=request.headers.get("Contact"),
        )

    @classmethod
    def from_notify(cls, subscribe: Request, notify: Request) -> Dialog:
        """The dialog a NOTIFY creates for our SUBSCRIBE before (or without) its 2xx."""
        if notify.method != "NOTIFY" or notify.call_id != subscribe.call_id:
            raise DialogError("NOTIFY does not belong to this SUBSCRIBE")
        local_tag = _tag(subscribe.from_, "From")
        if notify.to.tag != local_tag:
            raise DialogError("NOTIFY To tag differs from the SUBSCRIBE From tag")
        return cls(
            id=DialogId(subscribe.call_id, local_tag, _tag(notify.from_, "From")),
            state=DialogState.CONFIRMED,
            local_uri=_untagged(subscribe.from_),
            remote_uri=_untagged(notify.from_),
            remote_target=_contact_uri(notify) or subscribe.uri,
            local_seq=subscribe.cseq.number,
            remote_seq=notify.cseq.number,
            # the route set of a received request is taken in order, as a UAS does
            route_set=tuple(notify.headers.get_list("Record-Route")),
            secure=_is_sips(subscribe.uri),
            local_contact=subscribe.headers.get("Contact"),
        )

    @classmethod
    def from_uas(cls, request: Request, response: Response) -> Dialog:
        """The dialog our response (1xx with To tag or 2xx) to a request creates (§12.1.1)."""
        status = response.status
        early = request.method == "INVITE" and 100 < status < 200
        if request.method not in _DIALOG_CREATING or (not early and status // 100 != 2):
            raise DialogError(f"a {status} to {request.method} does not create a dialog")
        return cls(
            id=DialogId(request.call_id, _tag(response.to, "To"), _tag(request.from_, "From")),
            state=DialogState.EARLY if early else DialogState.CONFIRMED,
            local_uri=_untagged(request.to),
            remote_uri=_untagged(request.from_),
            remote_target=_contact_uri(request) or request.from_.uri,
            remote_seq=request.cseq.number,
            route_set=tuple(request.headers.get_list("Record-Route")),
            secure=_is_sips(request.uri),
            local_contact=response.headers.get("Contact"),
        )

    # -- sending -------------------------------------------------------------------------

    def create_request(
        self,
        method: str,
        *,
        via: Via,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
    ) -> Request:
        """A new in-dialog request with the next local CSeq (§12.2.1.1)."""
        if method in ("ACK", "CANCEL"):
            raise DialogError(f"use create_ack / build_cancel for {method}")
        if self.state is DialogState.TERMINATED:
            raise DialogError(f"dialog {self.id} is terminated")
        # an empty local sequence (UAS side) may start anywhere; 1 keeps traces readable
        self.local_seq = (self.local_seq or 0) + 1
        return self._build(method, self.local_seq, via, body, headers)

    def create_ack(
        self,
        response: Response,
        *,
        via: Via,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
    ) -> Request:
        """The ACK for a 2xx to INVITE: the INVITE's CSeq number, a new branch (§13.2.2.4)."""
        cseq = response.cseq
        if cseq.method != "INVITE" or response.status // 100 != 2:
            raise DialogError("only a 2xx to INVITE is acknowledged by the dialog")
        self.last_ack = self._build("ACK", cseq.number, via, body, headers)
        return self.last_ack

    def ack_for_retransmission(self, response: Response) -> Request | None:
        """The ACK to send again for a retransmitted 2xx, or None if it was not ACKed yet."""
        ack = self.last_ack
        if ack is None or response.status // 100 != 2 or response.cseq.method != "INVITE":
            return None
        return ack if ack.cseq.number == response.cseq.number else None

    def _build(
        self,
        method: str,
        seq: int,
        via: Via,
        body: bytes,
        extra: Sequence[tuple[str, str]],
    ) -> Request:
        uri, routes = self._request_target()
        headers = Headers()
        headers.add("Via", str(via if via.branch else via.with_param("branch", new_branch())))
        headers.add("Max-Forwards", "70")
        for route in routes:
            headers.add("Route", route)
        headers.add("From", str(self.local_uri.with_param("tag", self.id.local_tag)))
        headers.add("To", str(self.remote_uri.with_param("tag", self.id.remote_tag)))
        headers.add("Call-ID", self.id.call_id)
        headers.add("CSeq", f"{seq} {method}")
        if method in TARGET_REFRESH_METHODS and self.local_contact:
            headers.add("Contact", self.local_contact)
        for name, value in extra:
            headers.add(name, value)
        return Request(method, uri, headers, body)

    def _request_target(self) -> tuple[str, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = NameAddr.parse(self.route_set[0])
        if _is_loose_router(first.uri):
            return self.remote_target, list(self.route_set)
        # strict router (RFC 2543): it gets the Request-URI, the target goes last in Route
        return first.uri, [*self.route_set[1:], f"<{self.remote_target}>"]

    # -- receiving -----------------------------------------------------------------------

    def receive_request(self, request: Request) -> int | None:
        """Check and apply a request received in this dialog; a status means reject with it."""
        if request.method in ("ACK", "CANCEL"):
            return None  # they carry the CSeq number of the request they refer to
        number = request.cseq.number
        if self.remote_seq is not None and number < self.remote_seq:
            log.info(
                "out-of-order %s in dialog %s: CSeq %d < %d",
                request.method,
                self.id.call_id,
                number,
                self.remote_seq,
            )
            return 500
        self.remote_seq = number
        if request.method in TARGET_REFRESH_METHODS:
            self.remote_target = _contact_uri(request) or self.remote_target
        if request.method == "BYE":
            self.state = DialogState.TERMINATED
        return None

    def receive_response(self, response: Response) -> None:
        """Apply a response to a request this side sent in the dialog (§12.2.1.2, §13.2.2.4)."""
        method = response.cseq.method
        status = response.status
        if status in (408, 481) or (
            method == "INVITE" and status >= 300 and self.state is DialogState.EARLY
        ):
            self.state = DialogState.TERMINATED
            return
        if status // 100 != 2:
            return
        if method == "INVITE" and self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED
            self.route_set = tuple(reversed(response.headers.get_list("Record-Route")))
        if method in TARGET_REFRESH_METHODS:
            self.remote_target = _contact_uri(response) or self.remote_target


class DialogTable:
    """Dialogs by identifier; finds the dialog a received message belongs to."""

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def add(self, dialog: Dialog) -> None:
        """Register a dialog (replacing one with the same identifier)."""
        self._dialogs[dialog.id] = dialog

    def remove(self, dialog_id: DialogId) -> None:
        """Forget a dialog."""
        self._dialogs.pop(dialog_id, None)

    def get(self, dialog_id: DialogId) -> Dialog | None:
        """The dialog with this identifier."""
        return self._dialogs.get(dialog_id)

    def match(self, message: Request | Response) -> Dialog | None:
        """The dialog of a *received* request (we are To) or response (we are From)."""
        try:
            call_id, from_tag, to_tag = message.call_id, message.from_.tag, message.to.tag
        except SipError:
            return None
        if not from_tag or not to_tag:
            return None
        if isinstance(message, Request):
            return self._dialogs.get(DialogId(call_id, to_tag, from_tag))
        return self._dialogs.get(DialogId(call_id, from_tag, to_tag))


class AcceptedInvite:
    """UAS side of an accepted INVITE: retransmit the 2xx until its ACK (§13.3.1.4).

    The 2xx itself went out through the server transaction; this keeps re-sending it (over
    every transport: the guarantee is end to end) with T1 doubling up to T2, answers INVITE
    retransmissions with it, and reports TransactionTimeout after 64*T1 without an ACK, when
    the TU should end the dialog with BYE.
    """

    def __init__(
        self, invite: Request, response: Response, *, now: float, timers: TimerConfig | None = None
    ) -> None:
        self.invite = invite
        self.response = response
        self.timers = timers or TimerConfig()
        self.key = server_key(invite)
        self.acked = False
        self._interval_s = self.timers.t1_s
        self._retransmit_at: float | None = now + self._interval_s
        self._give_up_at: float | None = now + self.timers.timer_h_s

    @property
    def done(self) -> bool:
        """True once ACKed or given up."""
        return self._give_up_at is None

    def matches(self, request: Request) -> bool:
        """True for the ACK of this 2xx or a retransmission of the INVITE."""
        try:
            if request.method == "ACK":
                return (
                    request.call_id == self.invite.call_id
                    and request.cseq.number == self.invite.cseq.number
                    and request.from_.tag == self.invite.from_.tag
                )
            return request.method == "INVITE" and server_key(request) == self.key
        except SipError:
            return False

    def receive_request(self, request: Request, now: float) -> list[Action]:
        """Absorb the ACK (stops retransmitting) or answer an INVITE retransmission."""
        if request.method == "ACK":
            self.acked = True
            self._retransmit_at = self._give_up_at = None
            return []
        return [] if self.done else [SendMessage(self.response)]

    def next_deadline(self) -> float | None:
        """When the next retransmission or the give-up is due."""
        times = [t for t in (self._retransmit_at, self._give_up_at) if t is not None]
        return min(times, default=None)

    def handle_timeout(self, now: float) -> list[Action]:
        """Retransmit the 2xx if due; give up after 64*T1."""
        if self._give_up_at is not None and now >= self._give_up_at:
            self._retransmit_at = self._give_up_at = None
            log.info("no ACK for 2xx to INVITE (Call-ID %s)", self.invite.call_id)
            return [TransactionTimeout(self.key)]
        if self._retransmit_at is None or now < self._retransmit_at:
            return []
        self._interval_s = self.timers.next_interval(self._interval_s, capped=True)
        self._retransmit_at = now + self._interval_s
        return [SendMessage(self.response)]


def _tag(addr: NameAddr, name: str) -> str:
    if not addr.tag:
        raise DialogError(f"{name} has no tag")
    return addr.tag


def _untagged(addr: NameAddr) -> NameAddr:
    return NameAddr(
        addr.uri, addr.display_name, tuple(p for p in addr.params if p[0].lower() != "tag")
    )


def _contact_uri(message: Request | Response) -> str | None:
    contacts = message.headers.get_list("Contact")
    if not contacts:
        return None
    try:
        return NameAddr.parse(contacts[0]).uri
    except SipError:
        return None


def _is_sips(uri: str) -> bool:
    return uri.strip().lower().startswith("sips:")


def _is_loose_router(uri: str) -> bool:
    params = uri.split("?", 1)[0].split(";")[1:]
    return any(p.split("=", 1)[0].strip().lower() == "lr" for p in params)
