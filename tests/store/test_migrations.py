"""Migrations: fresh upgrade, idempotence, atomicity, agreement with the models, downgrade."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from sightline.store import (
    Database,
    MigrationError,
    current_revision,
    head_revision,
    migrate,
)
from sightline.store.db import MIGRATIONS_DIR, alembic_config
from sightline.store.models import Base
from tests.store.conftest import add_devices, make_device, sqlite_url

TABLES = {
    "access_approvals",
    "access_requests",
    "alarms",
    "audit_anchors",
    "audit_records",
    "channel_masks",
    "channel_ownership",
    "departments",
    "grants",
    "memberships",
    "notifications",
    "user_roles",
    "channels",
    "device_status_events",
    "devices",
    "groups",
    "recording_group_retention",
    "recording_plans",
    "recording_segments",
    "regions",
    "user_preferences",
    "users",
}


async def _run_sync(url: str, fn: Any) -> Any:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            result = await conn.run_sync(fn)
            await conn.commit()
            return result
    finally:
        await engine.dispose()


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _diffs(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def test_migrations_are_packaged_next_to_the_code() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    newest = max(
        f.name[:4] for f in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    )
    assert head_revision() == newest


async def test_fresh_database_upgrades_to_head(empty_url: str) -> None:
    assert await current_revision(empty_url) is None
    await migrate(empty_url)
    assert await current_revision(empty_url) == head_revision()
    assert await _run_sync(empty_url, _tables) == TABLES


async def test_migrate_again_is_a_no_op_and_keeps_data(empty_url: str) -> None:
    await migrate(empty_url)
    db = await Database.connect(empty_url)
    try:
        await add_devices(db, make_device())
        await migrate(empty_url)
        await migrate(empty_url)
        async with db.session() as session:
            count = await session.scalar(text("SELECT count(*) FROM devices"))
    finally:
        await db.close()
    assert count == 1
    assert await current_revision(empty_url) == head_revision()


async def test_models_and_migrations_agree(empty_url: str) -> None:
    await migrate(empty_url)
    assert await _run_sync(empty_url, _diffs) == []


async def test_comparison_does_see_a_drift(empty_url: str) -> None:
    # Guards the test above: on a database lacking one index the comparison must report it.
    await migrate(empty_url)
    await _run_sync(empty_url, lambda conn: conn.execute(text("DROP INDEX ix_channels_status")))
    diffs = await _run_sync(empty_url, _diffs)
    assert [d[0] for d in diffs] == ["add_index"]
    assert diffs[0][1].name == "ix_channels_status"


async def test_downgrade_to_base_and_upgrade_again(empty_url: str) -> None:
    await migrate(empty_url)

    def downgrade(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")

    await _run_sync(empty_url, downgrade)
    assert await _run_sync(empty_url, _tables) == set()
    await migrate(empty_url)
    assert await _run_sync(empty_url, _tables) == TABLES


async def test_failed_migration_leaves_nothing_behind(empty_url: str) -> None:
    # "groups" is created last, so everything before it must be rolled back.
    await _run_sync(empty_url, lambda conn: conn.execute(text("CREATE TABLE groups (x INTEGER)")))
    with pytest.raises(MigrationError, match="groups"):
        await migrate(empty_url)
    assert await _run_sync(empty_url, _tables) == {"groups"}
    assert await current_revision(empty_url) is None


async def test_concurrent_migrations_both_succeed(empty_url: str) -> None:
    await asyncio.gather(migrate(empty_url), migrate(empty_url))
    assert await current_revision(empty_url) == head_revision()


async def test_missing_sqlite_directory_is_named(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "absent" / "sightline.db")
    with pytest.raises(MigrationError, match="absent"):
        await migrate(url)


async def test_unreachable_postgres_is_a_migration_error() -> None:
    # Port 9 (discard) on loopback: nothing listens there on a test machine.
    with pytest.raises(MigrationError, match=r"127\.0\.0\.1:9"):
        await migrate("postgresql+asyncpg://postgres@127.0.0.1:9/none")


def test_alembic_command_line_environment_upgrades_and_checks(tmp_path: Path) -> None:
    # The path developers use (`alembic upgrade`, `alembic check`): env.py opens its own engine.
    cfg = alembic_config(sqlite_url(tmp_path / "dev.db"))
    command.upgrade(cfg, "head")
    command.check(cfg)  # raises if the models need a new migration
    assert asyncio.run(current_revision(sqlite_url(tmp_path / "dev.db"))) == head_revision()
