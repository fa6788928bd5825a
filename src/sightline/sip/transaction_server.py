"""Server transactions (RFC 3261 §17.2): the INVITE and the non-INVITE state machines.

A server transaction is created when a request arrives that matches none; construction is
that arrival.  Passing that same request object to ``receive_request`` yields DeliverRequest
once; any other request the table matched to the transaction is a retransmission (or, for
INVITE, the ACK of a non-2xx answer) and is absorbed.

INVITE server (figure 7):

    Proceeding --Trying timer--> Proceeding  (100 Trying when the TU is slower than 200 ms)
    Proceeding --TU 1xx-->     Proceeding    (INVITE retransmissions resend the latest 1xx)
    Proceeding --TU 2xx-->     Terminated    (the TU retransmits its 2xx, §13.3.1.4)
    Proceeding --TU 300-699--> Completed     (Timer G on UDP, Timer H)
    Completed  --INVITE-->     Completed     (resend the final response)
    Completed  --Timer G-->    Completed     (resend, interval doubles up to T2)
    Completed  --Timer H-->    Terminated    (no ACK: timeout)
    Completed  --ACK-->        Confirmed     (Timer I)
    Confirmed  --Timer I-->    Terminated

Non-INVITE server (figure 8):

    Trying     --TU 1xx-->     Proceeding    (retransmissions resend the latest 1xx)
    Trying/Proceeding --TU 200-699--> Completed (Timer J; retransmissions resend the final)
    Completed  --Timer J-->    Terminated
"""

from __future__ import annotations

import logging

from sightline.sip.message import Request, Response, build_response
from sightline.sip.timers import TimerConfig, TimerName
from sightline.sip.transaction_base import (
    Action,
    DeliverRequest,
    SendMessage,
    Transaction,
    TransactionKey,
    TransactionState,
    TransactionTimeout,
    server_key,
)

__all__ = ["InviteServerTransaction", "NonInviteServerTransaction"]

log = logging.getLogger(__name__)

_S = TransactionState


class _ServerTransaction(Transaction):
    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        now: float,
        timers: TimerConfig | None = None,
        key: TransactionKey | None = None,
    ) -> None:
        super().__init__(
            request,
            key=server_key(request) if key is None else key,
            reliable=reliable,
            now=now,
            timers=timers or TimerConfig(),
        )
        self._delivered = False
        self.last_provisional: Response | None = None
        self.final_response: Response | None = None

    @property
    def last_response(self) -> Response | None:
        """The response a retransmitted request gets again."""
        return self.final_response or self.last_provisional

    def _first_delivery(self, request: Request) -> bool:
        if request is self.request and not self._delivered:
            self._delivered = True
            return True
        return False

    def _resend_last(self) -> list[Action]:
        last = self.last_response
        return [] if last is None else [SendMessage(last)]

    def _check_status(self, response: Response) -> None:
        if not 100 <= response.status <= 699:
            raise self._forbid(f"sending status {response.status}")


class InviteServerTransaction(_ServerTransaction):
    """Answers one INVITE; absorbs retransmissions and the ACK of a non-2xx answer."""

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        now: float,
        timers: TimerConfig | None = None,
        key: TransactionKey | None = None,
    ) -> None:
        """``key`` is ``server_key(request)`` when the caller already computed it."""
        super().__init__(request, reliable=reliable, now=now, timers=timers, key=key)
        self.state = _S.PROCEEDING
        self._arm("Trying", now, self.timers.trying_delay_s)

    def receive_request(self, request: Request, now: float) -> list[Action]:
        """Feed the creating INVITE (delivers it), a retransmission, or an ACK."""
        if self._first_delivery(request):
            return self._done([DeliverRequest(request)])
        if request.method == "ACK":
            if self.state is not _S.COMPLETED:
                return self._done([])
            self.state = _S.CONFIRMED
            self._disarm("G", "H")
            wait = self.timers.absorb_s("I", reliable=self.reliable)
            return self._done(self._wait_then_terminate("I", now, wait))
        if self.state in (_S.PROCEEDING, _S.COMPLETED):
            return self._done(self._resend_last())
        return self._done([])

    def send_response(self, response: Response, now: float) -> list[Action]:
        """Send the TU's response; raises TransactionError after a final response."""
        if self.state is not _S.PROCEEDING:
            raise self._forbid(f"sending {response.status}")
        self._check_status(response)
        self._disarm("Trying")
        actions: list[Action] = [SendMessage(response)]
        if response.status < 200:
            self.last_provisional = response
            return self._done(actions)
        self.final_response = response
        if response.status < 300:
            return self._done(actions + self._terminate())
        self.state = _S.COMPLETED
        if not self.reliable:
            self._arm_retransmit("G", now, self.timers.t1_s)
        self._arm("H", now, self.timers.timer_h_s)
        return self._done(actions)

    def _fire(self, name: TimerName, now: float) -> list[Action]:
        if name == "Trying":
            self.last_provisional = build_response(self.request, 100)
            return [SendMessage(self.last_provisional)]
        if name == "G":
            self._arm_retransmit(
                "G", now, self.timers.next_interval(self._intervals["G"], capped=True)
            )
            return self._resend_last()
        if name == "H":
            log.info("no ACK for INVITE transaction %s", self.key.branch or self.key.legacy)
            return [TransactionTimeout(self.key), *self._terminate()]
        return self._terminate()  # Timer I


class NonInviteServerTransaction(_ServerTransaction):
    """Answers one non-INVITE request; absorbs its retransmissions."""

    def __init__(
        self,
        request: Request,
        *,
        reliable: bool,
        now: float,
        timers: TimerConfig | None = None,
        key: TransactionKey | None = None,
    ) -> None:
        """``key`` is ``server_key(request)`` when the caller already computed it."""
        super().__init__(request, reliable=reliable, now=now, timers=timers, key=key)
        self.state = _S.TRYING

    def receive_request(self, request: Request, now: float) -> list[Action]:
        """Feed the creating request (delivers it) or a retransmission."""
        if self._first_delivery(request):
            return self._done([DeliverRequest(request)])
        if self.state in (_S.PROCEEDING, _S.COMPLETED):
            return self._done(self._resend_last())
        return self._done([])

    def send_response(self, response: Response, now: float) -> list[Action]:
        """Send the TU's response; raises TransactionError after a final response."""
        if self.state not in (_S.TRYING, _S.PROCEEDING):
            raise self._forbid(f"sending {response.status}")
        self._check_status(response)
        actions: list[Action] = [SendMessage(response)]
        if response.status < 200:
            self.state = _S.PROCEEDING
            self.last_provisional = response
            return self._done(actions)
        self.state = _S.COMPLETED
        self.final_response = response
        wait = self.timers.absorb_s("J", reliable=self.reliable)
        return self._done(actions + self._wait_then_terminate("J", now, wait))

    def _fire(self, name: TimerName, now: float) -> list[Action]:
        return self._terminate()  # Timer J is the only one
