"""GB/T 28181 errors.

SightlineError
└── Gb28181Error                 anything the GB/T 28181 layer rejects
    ├── InvalidGbId              not a 20-digit unified code (统一编码)
    ├── InvalidCivilCode         not a 2/4/6/8-digit administrative-division code
    ├── InvalidPtzCommand        a PTZCmd that is malformed, has a bad checksum or an unknown code
    ├── UnknownDeviceError       no such device is known to the platform
    ├── DeviceOfflineError       the device is not registered (or missed its keepalives)
    ├── DeviceTimeoutError       the device did not answer in time
    ├── DeviceRejectedError      the device answered 4xx/5xx/6xx or Result ERROR
    └── manscdp.errors.ManscdpError   a MANSCDP XML body that cannot be decoded or encoded
        ├── UnsafeXml            DTDs, entity declarations, external references
        └── LimitExceeded        body size, element count or nesting depth over the limit
"""

from __future__ import annotations

from sightline.errors import SightlineError

__all__ = [
    "DeviceOfflineError",
    "DeviceRejectedError",
    "DeviceTimeoutError",
    "Gb28181Error",
    "InvalidCivilCode",
    "InvalidGbId",
    "InvalidPtzCommand",
    "UnknownDeviceError",
]


class Gb28181Error(SightlineError):
    """Base class of GB/T 28181 errors."""


class InvalidGbId(Gb28181Error, ValueError):
    """A string is not a valid 20-digit GB/T 28181 ID."""


class InvalidCivilCode(Gb28181Error, ValueError):
    """A string is not a valid administrative-division code."""


class InvalidPtzCommand(Gb28181Error, ValueError):
    """A PTZCmd string or field value is invalid."""


class UnknownDeviceError(Gb28181Error, LookupError):
    """No device with this ID is known."""


class DeviceOfflineError(Gb28181Error):
    """The device is not online, so nothing can be sent to it."""


class DeviceTimeoutError(Gb28181Error):
    """The device did not answer (SIP transaction or MANSCDP response) in time."""


class DeviceRejectedError(Gb28181Error):
    """The device refused a request: a SIP error status or a MANSCDP ``Result`` of ERROR."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
