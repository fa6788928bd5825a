"""SIP errors.

SightlineError
└── SipError
    ├── SipParseError          malformed input; ``status`` is what to answer (400 by default)
    │   ├── MessageTooLarge    a size limit was passed (413 for bodies, 400 otherwise)
    │   └── VersionNotSupported  SIP version other than 2.0 (505)
    ├── TransactionError       a transaction was driven in a way RFC 3261 §17 forbids
    ├── SipTimeoutError        no final response before Timer B/F
    ├── SipTransportError      a request could not be sent
    └── DigestError            credentials could not be parsed or checked
"""

from __future__ import annotations

from sightline.errors import SightlineError

__all__ = [
    "DigestError",
    "MessageTooLarge",
    "SipError",
    "SipParseError",
    "SipTimeoutError",
    "SipTransportError",
    "TransactionError",
    "VersionNotSupported",
]


class SipError(SightlineError):
    """Base class of SIP stack errors."""


class SipParseError(SipError):
    """A message could not be parsed.

    ``status``/``reason`` are what a server answers with when it can still build a response
    (it needs Via, From, To, Call-ID and CSeq); otherwise the message is dropped and logged.
    """

    def __init__(self, message: str, *, status: int = 400, reason: str = "Bad Request") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class MessageTooLarge(SipParseError):
    """A configured limit (message, body, header count, line length) was exceeded."""

    def __init__(self, message: str, *, status: int = 400, reason: str = "Bad Request") -> None:
        super().__init__(message, status=status, reason=reason)


class VersionNotSupported(SipParseError):
    """The start line carries a SIP version other than SIP/2.0."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=505, reason="Version Not Supported")


class TransactionError(SipError):
    """A transaction state machine was asked to do something its state forbids."""


class DigestError(SipError):
    """Digest credentials or challenges were malformed or could not be verified."""


class SipTimeoutError(SipError):
    """A client transaction got no final response in time (Timer B or F)."""


class SipTransportError(SipError):
    """A request could not be sent: no route, connection refused or closed."""
