"""Asking devices things: one MESSAGE out, ``<Response>`` MESSAGEs back, matched by SN.

:class:`DeviceQueries` is the asyncio side of :mod:`.correlator`: a future per pending query,
resolved when the answers are complete or when the deadline passes (the device manager's timer
task calls :meth:`DeviceQueries.handle_timeout`). Catalog and RecordInfo answers are gathered
for up to ``catalog_timeout_s``, everything else for ``query_timeout_s``.

Results are checked here: a ``Result`` of ERROR raises :class:`DeviceRejectedError`, no answer
:class:`DeviceTimeoutError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from sightline.config import Gb28181Settings
from sightline.gb28181.commands import Addressing, message_request, send
from sightline.gb28181.correlator import Collect, Correlator, Outcome, QueryKey
from sightline.gb28181.device_messages import to_device_time
from sightline.gb28181.errors import DeviceRejectedError, DeviceTimeoutError
from sightline.gb28181.manscdp import (
    CatalogItem,
    CatalogQuery,
    ConfigDownloadQuery,
    ConfigDownloadResponse,
    DeviceControl,
    DeviceInfoQuery,
    DeviceInfoResponse,
    DeviceStatusQuery,
    DeviceStatusResponse,
    Edition,
    ManscdpMessage,
    Message,
    PresetItem,
    PresetQuery,
    PresetQueryResponse,
    RecordInfoQuery,
    RecordItem,
    Result,
    ResultResponse,
    SnCounter,
)
from sightline.gb28181.ptz import PtzCommand
from sightline.gb28181.registrar import Binding
from sightline.gb28181.subscriptions import Target
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.transport import Peer

__all__ = ["DeviceQueries", "DeviceSession"]

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=Message)


class DeviceSession:
    """A registered device as the manager tracks it (mutable, slotted: one per online device)."""

    __slots__ = (
        "charset",
        "contact",
        "device_id",
        "edition",
        "expires_at",
        "last_seen",
        "peer",
        "registered_at",
        "seen_stored",
    )

    def __init__(self, binding: Binding, charset: str, registered_at: datetime, now: float) -> None:
        self.device_id = binding.device_id
        self.peer: Peer = binding.peer
        self.contact = binding.contact
        self.charset = charset
        self.edition = Edition.from_version(binding.gb_version)
        self.expires_at = binding.expires_at
        self.registered_at = registered_at
        self.last_seen = now
        self.seen_stored = now  # last_seen as last queued for the store (a registration writes it)

    @property
    def target(self) -> Target:
        """Where and how to send to this device."""
        return Target(self.peer, self.charset, self.edition)


class DeviceQueries:
    """Queries and controls for online devices."""

    def __init__(
        self,
        *,
        endpoint: SipEndpoint,
        addressing: Addressing,
        settings: Gb28181Settings,
        sn: SnCounter,
        require: Callable[[str], DeviceSession],
        clock: Callable[[], float],
        wake_for: Callable[[float], None],
    ) -> None:
        self._endpoint = endpoint
        self._addressing = addressing
        self._settings = settings
        self._sn = sn
        self._require = require
        self._clock = clock
        self._wake_for = wake_for
        self.correlator = Correlator()
        self._waiters: dict[QueryKey, asyncio.Future[Outcome]] = {}

    # -- plumbing ------------------------------------------------------------------------

    async def send(self, session: DeviceSession, target_id: str, msg: ManscdpMessage) -> None:
        """A MESSAGE to ``target_id`` (the device or a channel) via the device's address."""
        body = self._addressing.body(msg, session.charset, session.edition)
        request = message_request(self._addressing, target_id, body)
        await send(self._endpoint, request, session.peer, self._settings.query_timeout_s)

    async def ask(
        self,
        device_id: str,
        msg: Message,
        *,
        collect: Collect = Collect.SINGLE,
        count: int = 1,
        timeout_s: float | None = None,
    ) -> Outcome:
        """Send ``msg`` and wait for its answers."""
        session = self._require(device_id)
        key = QueryKey(device_id, msg.command, msg.sn)
        deadline = self._clock() + (timeout_s or self._settings.query_timeout_s)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiters[key] = future
        self.correlator.expect(key, deadline, collect, count)
        self._wake_for(deadline)
        try:
            await self.send(session, msg.device_id, msg)
            outcome = await future
        finally:
            self._waiters.pop(key, None)
            self.correlator.cancel(key)
        if outcome.timed_out:
            raise DeviceTimeoutError(f"device {device_id}: no {msg.command} answer")
        return outcome

    def on_response(self, device_id: str, message: Message) -> bool:
        """An answer arrived; False when no query waits for it (unsolicited or late)."""
        try:
            outcome = self.correlator.feed(device_id, message)
        except KeyError:
            return False
        if outcome is not None:
            self._resolve(outcome)
        return True

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` is next due."""
        return self.correlator.next_deadline()

    def handle_timeout(self, now: float) -> None:
        """Finish queries past their deadline with what they have."""
        for outcome in self.correlator.handle_timeout(now):
            self._resolve(outcome)

    def fail_all(self, error: Exception) -> None:
        """Fail every waiting query (shutdown)."""
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(error)

    def _resolve(self, outcome: Outcome) -> None:
        future = self._waiters.get(outcome.key)
        if future is not None and not future.done():
            future.set_result(outcome)

    # -- queries -------------------------------------------------------------------------

    async def device_info(self, device_id: str) -> DeviceInfoResponse:
        """DeviceInfo: name, manufacturer, model, firmware, channel count."""
        query = DeviceInfoQuery(sn=self._sn.next(), device_id=device_id)
        answer = _expect((await self.ask(device_id, query)).messages[0], DeviceInfoResponse)
        _check_result(device_id, answer.result, "DeviceInfo")
        return answer

    async def device_status(self, device_id: str) -> DeviceStatusResponse:
        """DeviceStatus: working, recording, alarm inputs."""
        query = DeviceStatusQuery(sn=self._sn.next(), device_id=device_id)
        answer = _expect((await self.ask(device_id, query)).messages[0], DeviceStatusResponse)
        _check_result(device_id, answer.result, "DeviceStatus")
        return answer

    async def catalog(self, device_id: str) -> tuple[list[CatalogItem], bool]:
        """The reassembled catalog and whether it is complete."""
        query = CatalogQuery(sn=self._sn.next(), device_id=device_id)
        outcome = await self._list(device_id, query)
        return [i for i in outcome.items if isinstance(i, CatalogItem)], outcome.complete

    async def record_info(
        self, device_id: str, channel_id: str, start: datetime, end: datetime
    ) -> list[RecordItem]:
        """A channel's recordings between ``start`` and ``end``."""
        query = RecordInfoQuery(
            sn=self._sn.next(),
            device_id=channel_id,
            start_time=to_device_time(start),
            end_time=to_device_time(end),
            record_type="all",
        )
        outcome = await self._list(device_id, query)
        return [i for i in outcome.items if isinstance(i, RecordItem)]

    async def _list(self, device_id: str, query: Message) -> Outcome:
        timeout_s = self._settings.catalog_timeout_s
        outcome = await self.ask(device_id, query, collect=Collect.LIST, timeout_s=timeout_s)
        if not outcome.complete:
            log.warning(
                "device %s: %s incomplete after %.0fs, %d items kept",
                device_id,
                query.command,
                timeout_s,
                len(outcome.items),
            )
        return outcome

    async def presets(self, device_id: str, channel_id: str) -> list[PresetItem]:
        """A channel's presets."""
        query = PresetQuery(sn=self._sn.next(), device_id=channel_id)
        answer = _expect((await self.ask(device_id, query)).messages[0], PresetQueryResponse)
        return list(answer.items)

    async def config(self, device_id: str, config_type: str) -> ConfigDownloadResponse:
        """ConfigDownload; several ``/``-separated types are merged into one answer."""
        query = ConfigDownloadQuery(
            sn=self._sn.next(), device_id=device_id, config_type=config_type
        )
        count = len(query.config_types)
        outcome = await self.ask(device_id, query, collect=Collect.COUNT, count=count)
        answers = [_expect(m, ConfigDownloadResponse) for m in outcome.messages]
        merged = answers[0]
        for extra in answers[1:]:
            merged = replace(
                merged,
                basic_param=merged.basic_param or extra.basic_param,
                video_param_opt=merged.video_param_opt or extra.video_param_opt,
            )
        _check_result(device_id, merged.result, "ConfigDownload")
        return merged

    # -- controls ------------------------------------------------------------------------

    async def ptz(self, device_id: str, channel_id: str, command: PtzCommand) -> None:
        """A PTZ command for a channel; only the SIP 200 comes back."""
        control = DeviceControl.for_ptz(self._sn.next(), channel_id, command)
        await self.send(self._require(device_id), channel_id, control)

    async def control(self, device_id: str, control: DeviceControl) -> ResultResponse | None:
        """A DeviceControl (its SN is replaced); waits for the Result when one is due."""
        control = replace(control, sn=self._sn.next())
        if not _has_response(control):
            await self.send(self._require(device_id), control.device_id, control)
            return None
        answer = _expect((await self.ask(device_id, control)).messages[0], ResultResponse)
        _check_result(device_id, answer.result, "DeviceControl")
        return answer


def _has_response(control: DeviceControl) -> bool:
    """PTZ, TeleBoot, IFrame and DragZoom get no Response MESSAGE (§9.3.1)."""
    return bool(
        control.record_cmd
        or control.guard_cmd
        or control.alarm_reset
        or control.home_position is not None
    )


def _expect(message: Message, cls: type[_M]) -> _M:
    if not isinstance(message, cls):
        raise DeviceRejectedError(f"unexpected answer {type(message).__name__}")
    return message


def _check_result(device_id: str, result: Result, what: str) -> None:
    if result is Result.ERROR:
        raise DeviceRejectedError(f"device {device_id} answered {what} with Result ERROR")
