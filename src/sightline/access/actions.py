"""What the access policy reasons about: actions, resources, principals, and its refusals.

``sightline.access.service`` re-exports these names (the seam other parts import from).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sightline.access.tokens import TokenClaims
from sightline.errors import SightlineError

__all__ = [
    "AccessConflict",
    "AccessError",
    "Action",
    "Forbidden",
    "InvalidAccessChange",
    "Principal",
    "Resource",
    "ResourceKind",
]


class AccessError(SightlineError):
    """The access layer refuses a request."""


class Forbidden(AccessError):
    """The principal may not do this; the message says why."""


class Action(StrEnum):
    """What a principal wants to do."""

    READ = "read"
    LIVE = "live"
    PLAYBACK = "playback"
    EXPORT = "export"
    UNMASKED = "unmasked"  # see a channel without its privacy masks
    PTZ = "ptz"
    CATALOG_REFRESH = "catalog_refresh"
    RECORDING_MANAGE = "recording_manage"
    MANAGE = "manage"  # administer a department, user or channel (ownership, grants)
    APPROVE = "approve"  # decide access requests addressed to a department
    AUDIT = "audit"  # read the audit log


class ResourceKind(StrEnum):
    """What kind of thing an action is on."""

    SYSTEM = "system"
    DEVICE = "device"
    CHANNEL = "channel"
    REGION = "region"
    GROUP = "group"
    DEPARTMENT = "department"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Resource:
    """The target of an action; ``id`` is ``None`` for collections (e.g. the device list)."""

    kind: ResourceKind
    id: str | None = None

    @classmethod
    def device(cls, device_id: str | None = None) -> Resource:
        """A device, or all devices."""
        return cls(ResourceKind.DEVICE, device_id)

    @classmethod
    def channel(cls, channel_id: str | None = None) -> Resource:
        """A channel, or all channels."""
        return cls(ResourceKind.CHANNEL, channel_id)

    @classmethod
    def department(cls, department_id: int | None = None) -> Resource:
        """A department, or all departments."""
        return cls(ResourceKind.DEPARTMENT, None if department_id is None else str(department_id))

    @classmethod
    def user(cls, user_id: int | None = None) -> Resource:
        """A user, or all users."""
        return cls(ResourceKind.USER, None if user_id is None else str(user_id))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a logged-in user, from ``address``, holding the token ``claims``."""

    user_id: int
    username: str
    is_admin: bool
    address: str | None = None
    claims: TokenClaims | None = None


class InvalidAccessChange(AccessError):
    """An administration request that cannot be carried out as asked (answered 422)."""


class AccessConflict(AccessError):
    """The request conflicts with the current state (answered 409)."""
