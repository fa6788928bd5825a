"""Alembic environment for sightline.

Normally run through ``sightline.store.migrate(url)``, which opens the connection itself and
passes it in ``config.attributes["connection"]``. From a shell, for writing a new migration::

    SIGHTLINE_DATABASE__URL=sqlite+aiosqlite:///dev.db \\
        alembic -c src/sightline/store/migrations/alembic.ini revision --autogenerate \\
        --rev-id 0002 -m "what changed"

Review the generated file: it must run unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from sightline.store.db import migration_engine
from sightline.store.models import Base, UtcDateTime

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("SIGHTLINE_DATABASE__URL")
    if not url:
        raise RuntimeError("set SIGHTLINE_DATABASE__URL or sqlalchemy.url")
    return url


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import sightline: they are frozen, the models are not.
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
        # The migration engine BEGINs explicitly on SQLite too, so a failed upgrade rolls
        # back completely on both backends.
        transactional_ddl=True,
    )


def run_with_connection(connection: Connection) -> None:
    """Run the pending migrations on an open synchronous connection."""
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = migration_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_with_connection)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (shared := config.attributes.get("connection")) is not None:
    run_with_connection(shared)
else:
    asyncio.run(_run_async())
