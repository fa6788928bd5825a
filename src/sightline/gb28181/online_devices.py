"""Who is online: a :class:`DeviceSession` per registered device and its keepalive deadline.

:class:`OnlineDevices` keeps the sessions and the :class:`KeepaliveTracker`, and tells the store
(write-behind, :mod:`.device_writer`) and the bus when a device comes, moves or goes. What
follows from that (onboarding, subscriptions, the registrar's binding) is the device manager's
business. :meth:`OnlineDevices.require` tells an offline device from an unknown one (queries
use it). Hearing from a device (:meth:`OnlineDevices.touch`) is the hot path: every keepalive
of the fleet goes through it, so it costs a few attribute and dict stores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container
from datetime import datetime, timedelta

from sightline.events import DeviceOffline, DeviceOnline, EventBus
from sightline.gb28181.device_queries import DeviceSession
from sightline.gb28181.device_writer import DeviceWriter, Registration
from sightline.gb28181.errors import DeviceOfflineError, UnknownDeviceError
from sightline.gb28181.keepalive import KeepaliveTracker
from sightline.gb28181.manscdp import Edition
from sightline.gb28181.registrar import Binding
from sightline.sip.transport import Peer
from sightline.store import GbVersion

__all__ = ["OnlineDevices"]

log = logging.getLogger(__name__)


class OnlineDevices:
    """Sessions of online devices, their keepalive deadlines, and the records of both."""

    def __init__(
        self,
        *,
        known: Container[str],
        writer: DeviceWriter,
        bus: EventBus,
        keepalive_timeout_s: float,
        last_seen_store_s: float,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
        wake_for: Callable[[float], None],
    ) -> None:
        # read directly by the MESSAGE path (one dict lookup per keepalive); never rebound
        self.sessions: dict[str, DeviceSession] = {}
        self._keepalive = KeepaliveTracker(keepalive_timeout_s)
        self._known = known
        self._writer = writer
        self._bus = bus
        self._last_seen_store_s = last_seen_store_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._wake_for = wake_for

    def __contains__(self, device_id: object) -> bool:
        return device_id in self.sessions

    def __len__(self) -> int:
        return len(self.sessions)

    def require(self, device_id: str) -> DeviceSession:
        """The session of an online device; raises if the device is offline or unknown."""
        session = self.sessions.get(device_id)
        if session is not None:
            return session
        if device_id in self._known:
            raise DeviceOfflineError(f"device {device_id} is offline")
        raise UnknownDeviceError(f"unknown device {device_id}")

    def registered(self, binding: Binding, charset: str) -> None:
        """A device registered anew: a session, a stored registration, ``DeviceOnline``."""
        now = self._clock()
        wall = self._wall_clock()
        session = DeviceSession(binding, charset, wall, now)
        self.sessions[binding.device_id] = session
        self.touch(session, now)
        self._writer.registered(
            Registration(
                device_id=binding.device_id,
                transport=binding.peer.transport,
                gb_version=_gb_version(session.edition),
                remote_host=binding.peer.host,
                remote_port=binding.peer.port,
                contact=binding.contact,
                expires_s=max(0, round(binding.expires_at - now)),
                at=wall,
            )
        )
        remote = f"{binding.peer.host}:{binding.peer.port}"
        self._bus.publish(DeviceOnline(binding.device_id, wall, binding.peer.transport, remote))

    def refreshed(self, was: Binding, binding: Binding) -> bool:
        """An online device registered again; True if it restarted meanwhile (a new Call-ID)."""
        session = self.sessions.get(binding.device_id)
        if session is None:
            return False
        self.touch(session, self._clock())
        session.expires_at = binding.expires_at
        session.contact = binding.contact
        if binding.peer != session.peer:
            self.moved(session, binding.peer)
        if binding.call_id == was.call_id:
            return False
        log.debug("device %s registered with a new Call-ID: restarted", binding.device_id)
        return True

    def touch(self, session: DeviceSession, now: float) -> None:
        """The device was heard from at ``now``: its keepalive deadline moves."""
        session.last_seen = now
        is_new = session.device_id not in self._keepalive
        self._keepalive.touch(session.device_id, now)
        if now - session.seen_stored >= self._last_seen_store_s:
            # the stored time lags by up to last_seen_store_s: one row write per device per
            # interval instead of per keepalive (the API shows session.last_seen while online)
            session.seen_stored = now
            self._writer.touch(session.device_id, now)
        if is_new:
            self._wake_for(now + self._keepalive.timeout_s)

    def moved(self, session: DeviceSession, peer: Peer) -> None:
        """Requests follow the device to ``peer`` (a new registration or a NAT rebinding)."""
        log.info("device %s moved from %s to %s", session.device_id, session.peer, peer)
        session.peer = peer
        self._writer.moved(session.device_id, peer.host, peer.port)

    def remove(self, device_id: str, reason: str) -> bool:
        """The device went offline for ``reason``; False if it was not online."""
        session = self.sessions.pop(device_id, None)
        self._keepalive.remove(device_id)
        if session is None:
            return False
        self._writer.touch(device_id, session.last_seen)  # the store's last_seen may lag
        at = self._wall_clock()
        self._writer.online_state(device_id, False, reason, at)
        self._bus.publish(DeviceOffline(device_id, at, reason))
        log.info("device %s offline (%s)", device_id, reason)
        return True

    def last_seen(self, device_id: str) -> datetime | None:
        """When an online device was last heard from (None when it is offline)."""
        session = self.sessions.get(device_id)
        if session is None:
            return None
        return self._wall_clock() - timedelta(seconds=self._clock() - session.last_seen)

    def next_deadline(self) -> float | None:
        """When :meth:`expired` should next be called (possibly early, never late)."""
        return self._keepalive.next_deadline()

    def expired(self, now: float) -> list[str]:
        """Devices whose keepalives stopped (still online here until :meth:`remove`)."""
        return self._keepalive.expired(now)

    def store_last_seen(self) -> None:
        """Queue the exact last-seen times the stored ones lag behind (before stopping)."""
        for session in self.sessions.values():
            if session.last_seen > session.seen_stored:
                self._writer.touch(session.device_id, session.last_seen)


def _gb_version(edition: Edition) -> GbVersion:
    return GbVersion.V2022 if edition is Edition.V2022 else GbVersion.V2016
