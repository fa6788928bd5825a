"""The root of sightline's exception tree.

    SightlineError
    ├── ConfigError                      bad settings, reported at start
    ├── sip.errors.SipError              anything from the SIP stack
    │   ├── SipParseError                malformed message (carries the status to answer)
    │   │   ├── MessageTooLarge          413 / framing limits
    │   │   └── VersionNotSupported      505
    │   ├── TransactionError             misuse of a transaction state machine
    │   └── DigestError                  malformed or unverifiable credentials
    └── store.errors.StoreError          database and migration failures

Each subpackage defines its branch in its own ``errors`` module.
"""

from __future__ import annotations

__all__ = ["ConfigError", "SightlineError"]


class SightlineError(Exception):
    """Base class of every error sightline raises on purpose."""


class ConfigError(SightlineError):
    """The configuration is invalid; the message names the key and the fix."""
