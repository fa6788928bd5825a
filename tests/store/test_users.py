"""UserRepository on both backends."""

from __future__ import annotations

import pytest

from sightline.store import AlreadyExistsError, Database, NotFoundError, UserRepository
from tests.store.conftest import T0

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


async def test_create_then_get_by_id_and_username(db: Database) -> None:
    async with db.session() as session:
        created = await UserRepository(session).create(
            "admin", HASH, T0, display_name="管理员", is_admin=True
        )
    async with db.session() as session:
        repo = UserRepository(session)
        by_id = await repo.get(created.id)
        by_name = await repo.get_by_username("admin")
    assert by_id == by_name == created
    assert (created.display_name, created.is_admin, created.disabled) == ("管理员", True, False)


async def test_unknown_users_are_none(db: Database) -> None:
    async with db.session() as session:
        repo = UserRepository(session)
        assert await repo.get(42) is None
        assert await repo.get_by_username("Admin") is None


async def test_duplicate_username_is_already_exists(db: Database) -> None:
    async with db.session() as session:
        await UserRepository(session).create("operator", HASH, T0)
    with pytest.raises(AlreadyExistsError, match="user 'operator' already exists") as caught:
        async with db.session() as session:
            await UserRepository(session).create("auditor", HASH, T0)
            await UserRepository(session).create("operator", "other", T0)
    assert (caught.value.what, caught.value.key) == ("user", "operator")
    async with db.session() as session:  # "auditor" went with the failed transaction
        assert [u.username for u in await UserRepository(session).list()] == ["operator"]


async def test_list_orders_by_username_and_count(db: Database) -> None:
    async with db.session() as session:
        repo = UserRepository(session)
        for name in ("carol", "alice", "bob"):
            await repo.create(name, HASH, T0)
    async with db.session() as session:
        repo = UserRepository(session)
        assert [u.username for u in await repo.list()] == ["alice", "bob", "carol"]
        assert [u.username for u in await repo.list(limit=1, offset=1)] == ["bob"]
        assert await repo.count() == 3


async def test_password_hash_and_disabled_can_change(db: Database) -> None:
    async with db.session() as session:
        user = await UserRepository(session).create("alice", HASH, T0)
    async with db.session() as session:
        repo = UserRepository(session)
        await repo.set_password_hash(user.id, "$argon2id$new")
        await repo.set_disabled(user.id, True)
    async with db.session() as session:
        loaded = await UserRepository(session).get(user.id)
    assert loaded is not None
    assert (loaded.password_hash, loaded.disabled) == ("$argon2id$new", True)


async def test_changing_an_unknown_user_raises(db: Database) -> None:
    with pytest.raises(NotFoundError):
        async with db.session() as session:
            await UserRepository(session).set_password_hash(7, HASH)
    with pytest.raises(NotFoundError):
        async with db.session() as session:
            await UserRepository(session).set_disabled(7, True)
