"""Client transactions (RFC 3261 §17.1): the INVITE and the non-INVITE state machines.

INVITE client (figure 5):

    Calling    --1xx-->      Proceeding   (stop Timer A; Timer B only acts in Calling)
    Calling    --Timer A-->  Calling      (retransmit, interval doubles; UDP only)
    Calling    --Timer B-->  Terminated   (timeout)
    Calling/Proceeding --2xx-->      Terminated  (the TU acknowledges 2xx itself, §13.2.2.4)
    Calling/Proceeding --300-699-->  Completed   (send ACK, start Timer D)
    Completed  --300-699-->  Completed    (resend ACK)
    Completed  --Timer D-->  Terminated

Non-INVITE client (figure 6):

    Trying     --Timer E-->  Trying       (retransmit, interval doubles up to T2; UDP only)
    Trying     --1xx-->      Proceeding   (Timer E keeps going with interval T2)
    Trying/Proceeding --200-699--> Completed (start Timer K)
    Trying/Proceeding --Timer F--> Terminated (timeout)
    Completed  --Timer K-->  Terminated

A transport error in any live state terminates with TransportFailure.
"""

from __future__ import annotations

import logging

from sightline.sip.message import Request, Response
from sightline.sip.timers import TimerConfig, TimerName
from sightline.sip.transaction_base import (
    Action,
    DeliverResponse,
    SendMessage,
    Transaction,
    TransactionState,
    TransactionTimeout,
    client_key,
    derived_request,
)

__all__ = ["InviteClientTransaction", "NonInviteClientTransaction", "build_cancel"]

log = logging.getLogger(__name__)

_S = TransactionState


def build_cancel(invite: Request) -> Request:
    """The CANCEL for a pending INVITE (RFC 3261 §9.1): same branch, To, Route and CSeq number."""
    return derived_request(invite, "CANCEL", invite.headers.get("To") or "")


class _ClientTransaction(Transaction):
    def __init__(
        self, request: Request, *, reliable: bool, now: float, timers: TimerConfig | None = None
    ) -> None:
        super().__init__(
            request,
            key=client_key(request),
            reliable=reliable,
            now=now,
            timers=timers or TimerConfig(),
        )
        self._started = False
        self.final_response: Response | None = None

    @property
    def started(self) -> bool:
        """True once ``start`` sent the request."""
        return self._started

    def _begin(self) -> None:
        if self._started or self.is_terminated:
            raise self._forbid("start()")
        self._started = True

    def _check_started(self) -> None:
        if not self._started:
            raise self._forbid("receive_response() before start()")

    def _resend(self) -> list[Action]:
        return [SendMessage(self.request)]


class InviteClientTransaction(_ClientTransaction):
    """Sends an INVITE and collects its responses; ACKs non-2xx finals itself."""

    def __init__(
        self, request: Request, *, reliable: bool, now: float, timers: TimerConfig | None = None
    ) -> None:
        super().__init__(request, reliable=reliable, now=now, timers=timers)
        self.state = _S.CALLING
        self.ack: Request | None = None

    def start(self, now: float) -> list[Action]:
        """Send the INVITE; arm Timer A (UDP) and Timer B."""
        self._begin()
        if not self.reliable:
            self._arm_retransmit("A", now, self.timers.t1_s)
        self._arm("B", now, self.timers.timer_b_s)
        return self._done(self._resend())

    def cancelled(self, now: float) -> list[Action]:
        """The TU sent a CANCEL: give up 64*T1 from now if no final response came (§9.1)."""
        if self.state in (_S.CALLING, _S.PROCEEDING) and "Cancel" not in self._deadlines:
            self._arm("Cancel", now, self.timers.timer_b_s)
        return self._done([])

    def receive_response(self, response: Response, now: float) -> list[Action]:
        """Feed a response that matched this transaction."""
        self._check_started()
        status = response.status
        if self.state in (_S.CALLING, _S.PROCEEDING):
            if status < 200:
                self.state = _S.PROCEEDING
                self._disarm("A", "B")
                return self._done([DeliverResponse(response)])
            self.final_response = response
            if status < 300:
                return self._done([DeliverResponse(response), *self._terminate()])
            return self._done(self._complete(response, now))
        if self.state is _S.COMPLETED and status >= 300 and self.ack is not None:
            return self._done([SendMessage(self.ack)])
        return self._done([])

    def _complete(self, response: Response, now: float) -> list[Action]:
        self.state = _S.COMPLETED
        self._disarm("A", "B", "Cancel")
        self.ack = derived_request(self.request, "ACK", response.headers.get("To") or "")
        actions: list[Action] = [DeliverResponse(response), SendMessage(self.ack)]
        wait = self.timers.absorb_s("D", reliable=self.reliable)
        return actions + self._wait_then_terminate("D", now, wait)

    def _fire(self, name: TimerName, now: float) -> list[Action]:
        if name == "A" and self.state is _S.CALLING:
            self._arm_retransmit(
                "A", now, self.timers.next_interval(self._intervals["A"], capped=False)
            )
            return self._resend()
        if name in ("B", "Cancel") and self.state in (_S.CALLING, _S.PROCEEDING):
            log.info("INVITE transaction %s timed out (timer %s)", self.key.branch, name)
            return [TransactionTimeout(self.key), *self._terminate()]
        if name == "D":
            return self._terminate()
        return []  # pragma: no cover - timers are disarmed on every state change


class NonInviteClientTransaction(_ClientTransaction):
    """Sends a non-INVITE request (not ACK) and collects its responses."""

    def __init__(
        self, request: Request, *, reliable: bool, now: float, timers: TimerConfig | None = None
    ) -> None:
        super().__init__(request, reliable=reliable, now=now, timers=timers)
        self.state = _S.TRYING

    def start(self, now: float) -> list[Action]:
        """Send the request; arm Timer E (UDP) and Timer F."""
        self._begin()
        if not self.reliable:
            self._arm_retransmit("E", now, self.timers.t1_s)
        self._arm("F", now, self.timers.timer_f_s)
        return self._done(self._resend())

    def receive_response(self, response: Response, now: float) -> list[Action]:
        """Feed a response that matched this transaction."""
        self._check_started()
        if self.state not in (_S.TRYING, _S.PROCEEDING):
            return self._done([])  # retransmitted final responses are absorbed in Completed
        if response.status < 200:
            self.state = _S.PROCEEDING
            return self._done([DeliverResponse(response)])
        self.state = _S.COMPLETED
        self.final_response = response
        self._disarm("E", "F")
        wait = self.timers.absorb_s("K", reliable=self.reliable)
        return self._done([DeliverResponse(response), *self._wait_then_terminate("K", now, wait)])

    def _fire(self, name: TimerName, now: float) -> list[Action]:
        if name == "E":
            if self.state is _S.TRYING:
                interval = self.timers.next_interval(self._intervals["E"], capped=True)
            else:
                interval = self.timers.t2_s
            self._arm_retransmit("E", now, interval)
            return self._resend()
        if name == "F":
            log.info("%s transaction %s timed out", self.key.method, self.key.branch)
            return [TransactionTimeout(self.key), *self._terminate()]
        return self._terminate()  # Timer K
