"""Engine, sessions and schema migrations.

``Database`` owns one ``AsyncEngine``; ``session()`` is the unit of work: it commits when the
block ends normally, rolls back otherwise, and turns SQLAlchemy/driver errors into
``StoreError``. ``migrate(url)`` runs Alembic ``upgrade head`` in code (no alembic.ini needed),
so ``sightline serve`` calls it at start; it is idempotent.

SQLite notes: every connection gets WAL (readers never block the writer), foreign keys ON
(SQLite ignores them otherwise) and a busy timeout (a second writer waits instead of failing).
The app engine keeps the sqlite3 driver's default transaction mode, which BEGINs only before
the first write, so read-then-write sessions cannot deadlock on lock upgrade; the migration
engine instead issues ``BEGIN IMMEDIATE`` itself so DDL is all-or-nothing.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from sightline.store.errors import MigrationError, StoreError

__all__ = [
    "MIGRATIONS_DIR",
    "Database",
    "alembic_config",
    "current_revision",
    "default_sqlite_url",
    "head_revision",
    "migrate",
    "migration_engine",
]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
_WAL_ATTEMPTS = 100
# Arbitrary constant: serialises concurrent `migrate` calls from several nodes on PostgreSQL.
_PG_MIGRATION_LOCK = 0x5167_4C69_6E65


def default_sqlite_url(data_dir: Path) -> str:
    """The SQLite URL used when ``database.url`` is not set: ``<data_dir>/sightline.db``."""
    return f"sqlite+aiosqlite:///{(data_dir.absolute() / 'sightline.db').as_posix()}"


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL, retrying the race of two connections creating it at once.

    That switch needs an exclusive lock and SQLite answers "database is locked" at once
    instead of calling the busy handler; measured, a handful of retries always succeed.
    """
    for _ in range(_WAL_ATTEMPTS - 1):
        try:
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0] == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            continue
    cursor.execute("PRAGMA journal_mode=WAL")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _enable_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _check_sqlite_dir(url: str, error: type[StoreError] = StoreError) -> None:
    """Fail early, naming the directory, instead of SQLite's "unable to open database file"."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        parent = Path(database).absolute().parent
        if not parent.is_dir():
            raise error(f"directory {parent} for the SQLite database does not exist; create it")


def translate(exc: SQLAlchemyError) -> StoreError:
    """Wrap a SQLAlchemy error in a ``StoreError`` that keeps its first line as the message."""
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoreError(f"database error: {first_line}")


class Database:
    """An async engine plus a session factory; create with ``await Database.connect(url)``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # SQLite has one writer: background batch writers take turns (see write_session).
        self._write_turn = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    async def connect(cls, url: str, *, echo: bool = False) -> Database:
        """Create the engine for ``url`` and check that the database answers."""
        is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if is_sqlite:
            _check_sqlite_dir(url)
        # hide_parameters: error messages must not carry password hashes into logs.
        engine = create_async_engine(
            url, echo=echo, hide_parameters=True, pool_pre_ping=not is_sqlite
        )
        if is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            raise StoreError(f"cannot connect to {_safe_url(url)}: {exc}") from exc
        logger.info("database connected: %s", _safe_url(url))
        return cls(engine)

    @property
    def engine(self) -> AsyncEngine:
        """The underlying engine, for code that needs a raw connection."""
        return self._engine

    @property
    def dialect_name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session committed on normal exit and rolled back on any exception."""
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except SQLAlchemyError as exc:
                await session.rollback()
                raise translate(exc) from exc
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """A session for a background writer's batch; on SQLite, one such batch at a time.

        SQLite lets one transaction write at a time; another writer waits at most
        ``busy_timeout`` and then fails with "database is locked". A large batch on a starved
        host can hold the lock longer than that, so the batch writers (device states, catalogs,
        audit) wait for their turn here instead, without a time limit; PostgreSQL runs them
        side by side.
        """
        if self._write_turn is None:
            async with self.session() as session:
                yield session
            return
        async with self._write_turn, self.session() as session:
            yield session

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations, built without an ini file."""
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS_DIR.as_posix())
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolation would eat a '%' in a URL-encoded password.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this version of sightline."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MigrationError("no migrations found in " + MIGRATIONS_DIR.as_posix())
    return head


def migration_engine(url: str) -> AsyncEngine:
    """An engine for schema changes: one connection, and on SQLite, DDL inside transactions."""
    engine = create_async_engine(url, poolclass=NullPool, hide_parameters=True)
    if engine.dialect.name == "sqlite":

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the driver so DDL joins the transaction.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            _enable_wal(cursor)
            # Batch migrations copy and drop tables; with foreign keys on, dropping a parent
            # table would cascade-delete the children. Integrity is checked after the upgrade.
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.close()

        def on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        event.listen(engine.sync_engine, "connect", on_connect)
        event.listen(engine.sync_engine, "begin", on_begin)
    return engine


def _upgrade(connection: Connection, cfg: Config) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def migrate(url: str) -> None:
    """Upgrade the database at ``url`` to the head revision; a no-op when already there."""
    if make_url(url).get_backend_name() == "sqlite":
        _check_sqlite_dir(url, MigrationError)
    engine = migration_engine(url)
    try:
        async with engine.connect() as conn:
            # Take the writer lock before Alembic runs, so a concurrent `migrate` waits here
            # and then finds the schema at head (BEGIN IMMEDIATE on SQLite, see on_begin).
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            else:
                await conn.begin()
            await conn.run_sync(_upgrade, alembic_config(url))
            if conn.dialect.name == "sqlite":
                violations = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if violations:
                    raise MigrationError(f"foreign key violations after upgrade: {violations}")
            await conn.commit()
    except (SQLAlchemyError, CommandError, OSError) as exc:
        raise MigrationError(f"migrating {_safe_url(url)} failed: {exc}") from exc
    finally:
        await engine.dispose()
    logger.info("database %s is at revision %s", _safe_url(url), head_revision())


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, or ``None`` if it was never migrated."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    except SQLAlchemyError as exc:
        raise StoreError(f"reading the revision of {_safe_url(url)} failed: {exc}") from exc
    finally:
        await engine.dispose()
