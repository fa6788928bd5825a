"""MANSCDP codec errors (see :mod:`sightline.gb28181.errors` for the whole tree).

Gb28181Error
└── ManscdpError          the body cannot be decoded (or a model cannot be encoded)
    ├── UnsafeXml         DTD, entity declaration or external reference: refused, never expanded
    └── LimitExceeded     body size, element count or nesting depth over the configured limit

``field`` names the offending element as a path (``DeviceList/Item[2]/Port``) when there is one.
"""

from __future__ import annotations

from sightline.gb28181.errors import Gb28181Error

__all__ = ["LimitExceeded", "ManscdpError", "UnsafeXml"]


class ManscdpError(Gb28181Error):
    """A MANSCDP body could not be decoded or a model could not be encoded."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class UnsafeXml(ManscdpError):
    """The body declares a DTD or entities, or references external resources."""


class LimitExceeded(ManscdpError):
    """The body is larger, wider or deeper than the decoder accepts."""
