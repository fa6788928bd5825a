"""DirectoryRepository (regions, groups) and the schema's CHECK constraints, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sightline.store import Database, DirectoryRepository, Group, GroupKind, Region, StoreError

REGIONS = [
    Region(code="34", name="安徽省"),
    Region(code="3402", name="芜湖市", parent_code="34"),
    Region(code="340202", name="镜湖区", parent_code="3402"),
    Region(code="340207", name="鸠江区", parent_code="3402"),
    Region(code="34020201", name="某街道", parent_code="340202"),
]
BG = "34020000002150000001"
GROUPS = [
    Group(id=BG, kind=GroupKind.BUSINESS, name="治安监控", parent_id=None),
    Group(
        id="34020000002160000001",
        kind=GroupKind.VIRTUAL,
        name="城区",
        parent_id=BG,
        business_group_id=BG,
    ),
    Group(
        id="34020000002160000002",
        kind=GroupKind.VIRTUAL,
        name="郊区",
        parent_id=BG,
        business_group_id=BG,
    ),
    Group(id="34020000002150000002", kind=GroupKind.BUSINESS, name="交通", parent_id=None),
]


async def test_regions_save_get_and_children(db: Database) -> None:
    async with db.session() as session:
        await DirectoryRepository(session).save_regions(REGIONS)
        await DirectoryRepository(session).save_regions([Region(code="34", name="安徽")])
    async with db.session() as session:
        repo = DirectoryRepository(session)
        assert await repo.get_region("34") == Region(code="34", name="安徽")
        assert await repo.get_region("35") is None
        assert [r.code for r in await repo.child_regions(None)] == ["34"]
        assert await repo.child_regions("3402") == REGIONS[2:4]
        assert await repo.child_regions("340207") == []


async def test_region_code_length_is_checked_by_the_database(db: Database) -> None:
    with pytest.raises(StoreError, match="ck_regions_code_length"):
        async with db.session() as session:
            await DirectoryRepository(session).save_regions([Region(code="340", name="bad")])


async def test_groups_save_get_children_and_delete(db: Database) -> None:
    async with db.session() as session:
        await DirectoryRepository(session).save_groups(GROUPS)
    async with db.session() as session:
        repo = DirectoryRepository(session)
        assert await repo.get_group(GROUPS[1].id) == GROUPS[1]
        assert [g.id for g in await repo.child_groups(None)] == [BG, GROUPS[3].id]
        assert await repo.child_groups(BG) == GROUPS[1:3]
        assert await repo.child_groups(BG, kind=GroupKind.BUSINESS) == []
        assert await repo.child_groups(None, kind=GroupKind.BUSINESS) == [GROUPS[0], GROUPS[3]]
        assert await repo.delete_group(GROUPS[2].id) is True
        assert await repo.delete_group(GROUPS[2].id) is False
        assert await repo.get_group(GROUPS[2].id) is None


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("INSERT INTO groups (id, kind, name) VALUES ('1', 'team', 'x')", "ck_groups_kind"),
        (
            "INSERT INTO channels (id, device_id, name, status, extra, updated_at) "
            "VALUES ('1', '1', 'x', 'MAYBE', '{}', CURRENT_TIMESTAMP)",
            "ck_channels_status",
        ),
    ],
)
async def test_enum_columns_are_checked_by_the_database(
    db: Database, statement: str, constraint: str
) -> None:
    # Raw SQL bypasses SQLAlchemy's own validation: the migration must have made the CHECKs.
    with pytest.raises(StoreError, match=constraint):
        async with db.session() as session:
            await session.execute(text(statement))
