"""What an audit record says, and the one seam every part writes audit records through.

Every login, live view start/stop, PTZ command, playback, download/export, grant, approval,
configuration change and permission denial becomes an :class:`AuditEvent` handed to an
:class:`AuditSink`. ``record`` never blocks and never raises: the hot path (media, SIP) must not
wait for the audit store; the sink queues and writes in batches (``sightline.access.audit``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

__all__ = ["AuditAction", "AuditEvent", "AuditOutcome", "AuditSink"]


class AuditAction(StrEnum):
    """What happened."""

    LOGIN = "login"
    LOGOUT = "logout"
    LIVE_TOKEN = "live.token"  # a view was granted: a stream token issued
    LIVE_START = "live.start"  # the stream itself started playing to the viewer
    LIVE_STOP = "live.stop"
    PTZ = "ptz"
    PLAYBACK_OPEN = "playback.open"  # a playback session opened (device or platform)
    PLAYBACK_START = "playback.start"  # its stream started playing to the viewer
    PLAYBACK_STOP = "playback.stop"
    PLAYBACK_CONTROL = "playback.control"
    DOWNLOAD = "download"
    EXPORT = "export"
    RECORDING_DELETE = "recording.delete"
    RECORDING_PLAN = "recording.plan"
    GRANT_CREATE = "grant.create"
    GRANT_REVOKE = "grant.revoke"
    GRANT_EXPIRE = "grant.expire"
    ACCESS_REQUEST = "request.create"
    ACCESS_DECISION = "request.decide"
    REQUEST_EXPIRE = "request.expire"
    USER_CHANGE = "user.change"
    DEPARTMENT_CHANGE = "department.change"
    MASK_CHANGE = "mask.change"
    CONFIG_CHANGE = "config.change"
    CATALOG_REFRESH = "catalog.refresh"
    AUDIT_EXPORT = "audit.export"
    PERMISSION_DENIED = "denied"


class AuditOutcome(StrEnum):
    """Whether the action went through."""

    OK = "ok"
    FAILED = "failed"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One auditable fact: who (user, department), what, on which channel, when, from where."""

    action: AuditAction
    outcome: AuditOutcome = AuditOutcome.OK
    username: str | None = None
    user_id: int | None = None
    department: str | None = None
    channel_id: str | None = None
    address: str | None = None
    purpose: str | None = None
    detail: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class AuditSink(Protocol):
    """Where audit events go; ``record`` returns at once and never raises."""

    def record(self, event: AuditEvent) -> None:
        """Queue ``event`` to be written to the chain."""
        ...
