"""Simulator errors.

SightlineError
└── SimError                 the simulator cannot do what it was asked
    └── SimConfigError       a simulator setting is invalid (also a ConfigError)
"""

from __future__ import annotations

from sightline.errors import ConfigError, SightlineError

__all__ = ["SimConfigError", "SimError"]


class SimError(SightlineError):
    """Base class of simulator errors."""


class SimConfigError(SimError, ConfigError):
    """A simulator setting is invalid; the message names it."""
