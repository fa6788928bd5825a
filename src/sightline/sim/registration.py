"""Registration and keepalive of simulated devices (RFC 3261 §10 with GB/T 28181 §9.1, §9.6).

* REGISTER without credentials, answer the 401 with digest credentials (DigestClient); a 403, or
  a second non-stale 401, means a wrong password. The Call-ID stays the same for a device's
  registrations and CSeq grows, as RFC 3261 §10.2.4 asks of refreshes; a restarted device
  (a new process, or TeleBoot) uses a new Call-ID (``SimHost.register_call_id``).
* After success: refresh at ``refresh_ratio`` of the granted Expires; keepalive in the device's
  slot every ``keepalive_s``.
* After a failure: try again no sooner than ``retry_s`` (+ a random delay, as 2022 adds).
* A keepalive answered with an error (the platform forgot the device: 404) or
  ``keepalive_max_failures`` unanswered in a row, or a TCP connection gone: register again now.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sightline.sim.device import DeviceState, SimDevice
from sightline.sim.requests import register_request
from sightline.sip.digest import DigestChallenge, DigestClient
from sightline.sip.errors import SipError, SipTransportError
from sightline.sip.message import Response

if TYPE_CHECKING:
    from sightline.sim.host import SimHost

__all__ = ["Registration", "SimStats"]

log = logging.getLogger(__name__)

_AUTH_ROUNDS = 3  # a stale nonce may cost one extra round
_UNREGISTER_WORKERS = 256


@dataclass
class SimStats:
    """Fleet counters since start."""

    registered: int = 0  # registered now
    registrations: int = 0  # successful REGISTER exchanges, refreshes included
    register_failures: int = 0
    auth_rejections: int = 0  # 403 or a repeated 401: wrong password
    keepalives_sent: int = 0
    keepalive_failures: int = 0
    reregistrations: int = 0  # lost registrations found by keepalive
    reboots: int = 0
    alarms_sent: int = 0


class Registration:
    """The REGISTER and keepalive exchanges of a host's devices."""

    def __init__(self, host: SimHost) -> None:
        self._host = host

    # -- REGISTER -----------------------------------------------------------------------

    async def register(self, device: SimDevice) -> None:
        """Register (or refresh) ``device`` and schedule what follows."""
        host = self._host
        try:
            response = await self.exchange(device, host.config.expires_s)
        except (SipError, OSError) as exc:
            self._failed(device, f"{type(exc).__name__}: {exc}")
            if isinstance(exc, SipTransportError):
                await host.drop_link(device)
            return
        if device.state is not DeviceState.REGISTERING:
            return  # stopped or rebooted meanwhile
        if response.status == 200:
            self._succeeded(device, _granted_expires(response, host.config.expires_s))
            return
        if response.status in (401, 403):
            host.stats.auth_rejections += 1
        self._failed(device, f"{response.status} {response.reason}")

    async def exchange(self, device: SimDevice, expires: int) -> Response:
        """One REGISTER transaction, with the digest round; the final response."""
        host = self._host
        config = host.config
        endpoint, peer = await host.route(device, connect=True)
        client: DigestClient | None = None
        authorization: str | None = None
        response: Response | None = None
        for _ in range(_AUTH_ROUNDS):
            device.register_cseq += 1
            request = register_request(
                device_id=device.device_id,
                server_id=config.server_id,
                domain=config.realm,
                contact=host.contact(device),
                call_id=host.register_call_id(device),
                from_tag=f"{device.serial:x}r{device.register_cseq}",
                cseq=device.register_cseq,
                expires=expires,
                x_gb_ver=config.x_gb_ver,
                authorization=authorization,
            )
            response = await endpoint.request(request, peer)
            challenge = response.headers.get("WWW-Authenticate")
            if response.status != 401 or challenge is None:
                return response
            if client is not None and not DigestChallenge.parse(challenge).stale:
                return response  # our credentials were refused
            client = client or DigestClient(device.device_id, config.password)
            authorization = client.authorize("REGISTER", request.uri, challenge)
        assert response is not None
        return response

    def _succeeded(self, device: SimDevice, expires: int) -> None:
        host = self._host
        now = host.now()
        host.stats.registrations += 1
        device.state = DeviceState.REGISTERED
        device.misses = 0
        device.refresh_at = now + expires * host.config.refresh_ratio
        if not device.registered:
            device.registered = True
            host.stats.registered += 1
            host.registered_changed()
        host.schedule(device, min(host.keepalive_slot(device, now), device.refresh_at))

    def _failed(self, device: SimDevice, reason: str) -> None:
        host = self._host
        host.stats.register_failures += 1
        if device.state is DeviceState.STOPPED:
            return
        log.info("device %s: registration failed (%s)", device.device_id, reason)
        self.mark_unregistered(device)
        device.state = DeviceState.OFFLINE
        host.schedule(device, host.now() + host.retry_delay())

    def mark_unregistered(self, device: SimDevice) -> None:
        """Count the device as no longer registered."""
        if device.registered:
            device.registered = False
            self._host.stats.registered -= 1

    # -- keepalive ----------------------------------------------------------------------

    async def keepalive(self, device: SimDevice) -> None:
        """Send one keepalive; re-register when the platform has lost the device."""
        host = self._host
        body = host.messages.encode(device.keepalive(host.messages.next_sn()))
        host.stats.keepalives_sent += 1
        status: int | None
        try:
            status = (await host.messages.send_body(device, body)).status
        except SipTransportError:
            status = -1  # the TCP connection is gone: the platform counts us offline
        except SipError:
            status = None
        if device.state is not DeviceState.REGISTERED:
            return
        if status == 200:
            device.misses = 0
            return
        host.stats.keepalive_failures += 1
        device.misses += 1
        if status is not None or device.misses >= host.config.keepalive_max_failures:
            log.info(
                "device %s: keepalive answered %s, registering again", device.device_id, status
            )
            host.stats.reregistrations += 1
            self.mark_unregistered(device)
            if status == -1:
                await host.drop_link(device)
            device.state = DeviceState.OFFLINE
            host.enqueue(device)

    # -- shutdown -----------------------------------------------------------------------

    async def unregister_all(self) -> None:
        """Send Expires 0 for every registered device, a bounded number at a time."""
        pending = [d for d in self._host.devices.values() if d.registered]
        queue = iter(pending)

        async def worker() -> None:
            for device in queue:
                device.state = DeviceState.STOPPED
                try:
                    response = await self.exchange(device, 0)
                except (SipError, OSError):
                    continue
                if response.status == 200:
                    self.mark_unregistered(device)

        workers = min(_UNREGISTER_WORKERS, len(pending))
        await asyncio.gather(*(worker() for _ in range(workers)))


def _granted_expires(response: Response, asked: int) -> int:
    value = response.headers.get("Expires")
    if value is not None and value.strip().isdigit() and int(value) > 0:
        return int(value)
    return asked
