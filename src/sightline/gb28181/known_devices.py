"""Every device the store knows, online or not: its own HA1 for this realm and its charset.

Loaded once at start (:meth:`KnownDevices.load`), then kept in step by registrations and
password changes, so that the REGISTER and MESSAGE paths never ask the database. Knowing a
device also tells "offline" from "unknown" when the platform is asked to talk to it.
"""

from __future__ import annotations

from collections.abc import Callable

from sightline.store import Database, DeviceRepository

__all__ = ["DEFAULT_CHARSET", "KnownDevices"]

DEFAULT_CHARSET = "GB2312"
_LOAD_PAGE = 5000


class KnownDevices:
    """Device IDs with their per-device HA1 (for ``domain`` only) and non-default charsets."""

    def __init__(self, domain: str) -> None:
        self._domain = domain.lower()
        self._known: set[str] = set()
        self._ha1: dict[str, str] = {}
        self._charsets: dict[str, str] = {}

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._known

    def __len__(self) -> int:
        return len(self._known)

    async def load(self, database: Database, online: Callable[[str], bool]) -> list[str]:
        """Read every stored device; returns those stored as online that ``online`` denies."""
        stale: list[str] = []
        offset = 0
        while True:
            async with database.session() as session:
                page = await DeviceRepository(session).list(limit=_LOAD_PAGE, offset=offset)
            for device in page:
                self.remember(device.id, device.password_ha1, device.realm, device.charset)
                if device.online and not online(device.id):
                    stale.append(device.id)
            if len(page) < _LOAD_PAGE:
                return stale
            offset += _LOAD_PAGE

    def remember(self, device_id: str, ha1: str | None, realm: str | None, charset: str) -> None:
        """A device as stored; an HA1 computed for another realm is useless here."""
        self._known.add(device_id)
        if ha1 and realm and realm.lower() == self._domain:
            self._ha1[device_id] = ha1
        if charset and charset.upper() != DEFAULT_CHARSET:
            self._charsets[device_id] = charset

    def add(self, device_id: str) -> None:
        """A device registered (it may be new to the store)."""
        self._known.add(device_id)

    def charset(self, device_id: str) -> str:
        """The charset the device's MANSCDP bodies use."""
        return self._charsets.get(device_id, DEFAULT_CHARSET)

    def ha1_for(self, device_id: str) -> str | None:
        """The device's own HA1 for this realm, if it has one."""
        return self._ha1.get(device_id)

    def ha1_snapshot(self) -> dict[str, str]:
        """Every device's own HA1 for this realm."""
        return dict(self._ha1)

    def set_ha1(self, device_id: str, ha1: str | None) -> None:
        """The store changed a device's password (None: it has none of its own any more)."""
        if ha1 is None:
            self._ha1.pop(device_id, None)
        else:
            self._ha1[device_id] = ha1
