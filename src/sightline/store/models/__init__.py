"""ORM rows; import this package to have every table registered on ``Base.metadata``."""

from __future__ import annotations

from sightline.store.models.access import (
    AccessRequestRow,
    ApprovalRow,
    ChannelOwnershipRow,
    DepartmentRow,
    GrantRow,
    MembershipRow,
    NotificationRow,
    UserRoleRow,
)
from sightline.store.models.alarm import AlarmRow
from sightline.store.models.audit import AuditAnchorRow, AuditRecordRow
from sightline.store.models.base import NAMING_CONVENTION, Base, UtcDateTime
from sightline.store.models.device import ChannelRow, DeviceRow, DeviceStatusEventRow
from sightline.store.models.directory import GroupRow, RegionRow
from sightline.store.models.masks import ChannelMaskRow
from sightline.store.models.preferences import UserPreferencesRow
from sightline.store.models.recording import (
    RecordingGroupRetentionRow,
    RecordingPlanRow,
    RecordingSegmentRow,
)
from sightline.store.models.user import UserRow

__all__ = [
    "NAMING_CONVENTION",
    "AccessRequestRow",
    "AlarmRow",
    "ApprovalRow",
    "AuditAnchorRow",
    "AuditRecordRow",
    "Base",
    "ChannelMaskRow",
    "ChannelOwnershipRow",
    "ChannelRow",
    "DepartmentRow",
    "DeviceRow",
    "DeviceStatusEventRow",
    "GrantRow",
    "GroupRow",
    "MembershipRow",
    "NotificationRow",
    "RecordingGroupRetentionRow",
    "RecordingPlanRow",
    "RecordingSegmentRow",
    "RegionRow",
    "UserPreferencesRow",
    "UserRoleRow",
    "UserRow",
    "UtcDateTime",
]
