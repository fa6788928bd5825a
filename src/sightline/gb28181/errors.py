"""GB/T 28181 errors.

SightlineError
└── Gb28181Error                 anything the GB/T 28181 layer rejects
    ├── InvalidGbId              not a 20-digit unified code (统一编码)
    ├── InvalidCivilCode         not a 2/4/6/8-digit administrative-division code
    ├── InvalidPtzCommand        a PTZCmd that is malformed, has a bad checksum or an unknown code
    └── manscdp.errors.ManscdpError   a MANSCDP XML body that cannot be decoded or encoded
        ├── UnsafeXml            DTDs, entity declarations, external references
        └── LimitExceeded        body size, element count or nesting depth over the limit
"""

from __future__ import annotations

from sightline.errors import SightlineError

__all__ = ["Gb28181Error", "InvalidCivilCode", "InvalidGbId", "InvalidPtzCommand"]


class Gb28181Error(SightlineError):
    """Base class of GB/T 28181 errors."""


class InvalidGbId(Gb28181Error, ValueError):
    """A string is not a valid 20-digit GB/T 28181 ID."""


class InvalidCivilCode(Gb28181Error, ValueError):
    """A string is not a valid administrative-division code."""


class InvalidPtzCommand(Gb28181Error, ValueError):
    """A PTZCmd string or field value is invalid."""
