"""ORM rows; import this package to have every table registered on ``Base.metadata``."""

from __future__ import annotations

from sightline.store.models.alarm import AlarmRow
from sightline.store.models.base import NAMING_CONVENTION, Base, UtcDateTime
from sightline.store.models.device import ChannelRow, DeviceRow, DeviceStatusEventRow
from sightline.store.models.directory import GroupRow, RegionRow
from sightline.store.models.user import UserRow

__all__ = [
    "NAMING_CONVENTION",
    "AlarmRow",
    "Base",
    "ChannelRow",
    "DeviceRow",
    "DeviceStatusEventRow",
    "GroupRow",
    "RegionRow",
    "UserRow",
    "UtcDateTime",
]
