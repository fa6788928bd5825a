"""MaskService and MaskRepository on SQLite and PostgreSQL: validate, store, cache, announce."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sightline.analytics.masking import MaskError, PrivacyMask
from sightline.analytics.masks import MaskService
from sightline.store import Database
from sightline.store.repositories.masks import MaskRepository

CHANNEL = "34020000001310000001"
OTHER = "34020000001310000002"
QUARTER = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


async def test_masks_are_stored_and_read_back(db: Database) -> None:
    service = MaskService(db, wall_clock=lambda: T0)
    assert await service.get(CHANNEL) is None
    assert not await service.mask(CHANNEL)
    saved = await service.replace(
        CHANNEL, [QUARTER, [[0.6, 0.6], [0.9, 0.6], [0.75, 0.9]]], by="admin"
    )
    assert saved.polygons[0] == ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5))
    stored = await MaskService(db).get(CHANNEL)  # a fresh service reads the database
    assert stored == saved and stored.updated_at == T0 and stored.updated_by == "admin"
    assert (await service.mask(CHANNEL)).polygons == saved.polygons
    async with db.session() as session:
        assert await MaskRepository(session).masked_channels() == [CHANNEL]
    await service.replace(CHANNEL, [], by="admin")  # cleared: kept as an empty row
    async with db.session() as session:
        assert await MaskRepository(session).masked_channels() == []
    assert not await service.mask(CHANNEL)
    assert not await MaskService(db).mask(CHANNEL)


async def test_invalid_masks_are_refused_before_anything_is_stored(db: Database) -> None:
    service = MaskService(db, max_polygons=2)
    with pytest.raises(MaskError, match="outside the picture"):
        await service.replace(CHANNEL, [[[0, 0], [2, 0], [1, 1]]])
    with pytest.raises(MaskError, match="at most 2"):
        await service.replace(CHANNEL, [QUARTER] * 3)
    assert await service.get(CHANNEL) is None


async def test_listeners_hear_every_change_and_a_failing_one_stops_nobody(db: Database) -> None:
    service = MaskService(db)
    heard: list[tuple[str, PrivacyMask]] = []

    def broken(channel_id: str, mask: PrivacyMask) -> None:
        raise RuntimeError("listener bug")

    service.subscribe(broken)
    service.subscribe(lambda channel_id, mask: heard.append((channel_id, mask)))
    await service.replace(OTHER, [QUARTER])
    assert [(c, len(m.polygons)) for c, m in heard] == [(OTHER, 1)]
    assert heard[0][1] is await service.mask(OTHER)  # the cache holds what listeners got
