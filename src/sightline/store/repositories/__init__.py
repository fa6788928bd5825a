"""Repositories: one small async class per aggregate, each wrapping an ``AsyncSession``.

They take and return frozen records (``sightline.store.records``), never ORM rows, and do not
commit: the caller's ``Database.session()`` block is the transaction.
"""

from __future__ import annotations

from sightline.store.repositories.audit import AuditRepository
from sightline.store.repositories.channels import ChannelRepository
from sightline.store.repositories.devices import DeviceRepository
from sightline.store.repositories.directory import DirectoryRepository
from sightline.store.repositories.events import EventRepository
from sightline.store.repositories.masks import ChannelMasks, MaskRepository
from sightline.store.repositories.preferences import PreferencesRepository
from sightline.store.repositories.recording import RecordingRepository, RecordingStore
from sightline.store.repositories.users import UserRepository

__all__ = [
    "AuditRepository",
    "ChannelMasks",
    "ChannelRepository",
    "DeviceRepository",
    "DirectoryRepository",
    "EventRepository",
    "MaskRepository",
    "PreferencesRepository",
    "RecordingRepository",
    "RecordingStore",
    "UserRepository",
]
