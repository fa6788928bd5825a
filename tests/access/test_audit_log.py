"""The audit log's writer on SQLite and PostgreSQL: batches, anchors, spill, retries, shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from sightline.access.audit import AuditLog
from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.access.audit_verify import verify_chain
from sightline.config import AuditSettings
from sightline.store import Database
from sightline.store.repositories.audit import AuditAnchor, AuditRecord, AuditRepository
from tests.store.conftest import backend, db, db_url, migrated, pg_migrated, server_url

__all__ = ["backend", "db", "db_url", "migrated", "pg_migrated", "server_url"]

SERVER_KEY = b"audit-log-test-server-key-000000"


class FakeMonotonic:
    """Monotonic seconds that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_log(
    database: Database, tmp_path: Path, clock: FakeMonotonic | None = None, **settings: object
) -> AuditLog:
    """An audit log with test-sized settings (``settings`` override them)."""
    values: dict[str, object] = {"flush_interval_s": 0.01, "anchor_every": 1000}
    values.update(settings)
    return AuditLog(
        database,
        SERVER_KEY,
        AuditSettings.model_validate(values),
        spill_path=tmp_path / "audit-spill.jsonl",
        monotonic=clock or FakeMonotonic(),
    )


def numbered(i: int) -> AuditEvent:
    """An event that says its own number, to check order."""
    return AuditEvent(AuditAction.PTZ, username="op", detail={"i": i})


async def stored(database: Database) -> tuple[list[AuditRecord], list[AuditAnchor]]:
    """Every record and anchor in the database."""
    async with database.session() as session:
        repo = AuditRepository(session)
        return await repo.page(0, 100_000), await repo.anchors(0, 100_000)


async def test_records_are_written_in_order_and_the_chain_verifies(
    db: Database, tmp_path: Path
) -> None:
    log = make_log(db, tmp_path, batch_max=7, anchor_every=10)
    await log.start()
    for i in range(30):
        log.record(numbered(i))
    await log.flush()
    records, anchors = await stored(db)
    assert [r.detail["i"] for r in records] == list(range(30))
    assert [r.seq for r in records] == list(range(1, 31))
    # batches of 7 end at 7, 14, 21, 28, 30: anchors once 10 records passed since the last one
    assert [a.seq for a in anchors] == [14, 28]
    report = await verify_chain(db, log.anchor_key)
    assert report.ok
    assert (report.records, report.anchors, report.unanchored) == (30, 2, 2)
    await log.close()
    _, anchors = await stored(db)
    assert anchors[-1].seq == 30  # the final anchor at shutdown
    assert log.stats().written == 30


async def test_an_anchor_is_signed_once_the_interval_passed(db: Database, tmp_path: Path) -> None:
    clock = FakeMonotonic()
    log = make_log(db, tmp_path, clock, anchor_interval_s=60.0)
    await log.start()
    log.record(numbered(0))
    await log.flush()
    assert (await stored(db))[1] == []
    clock.now += 61
    log.record(numbered(1))
    await log.flush()
    assert [a.seq for a in (await stored(db))[1]] == [2]
    await log.close()


async def test_a_restarted_log_continues_the_chain(db: Database, tmp_path: Path) -> None:
    first = make_log(db, tmp_path)
    await first.start()
    first.record(numbered(0))
    await first.close()
    second = make_log(db, tmp_path)
    await second.start()
    second.record(numbered(1))
    await second.close()
    records, anchors = await stored(db)
    assert [r.seq for r in records] == [1, 2]
    assert records[1].prev_hash == records[0].hash
    assert [a.seq for a in anchors] == [1, 2]
    assert (await verify_chain(db, first.anchor_key)).ok


async def test_overflow_spills_to_a_file_and_nothing_is_lost(db: Database, tmp_path: Path) -> None:
    log = make_log(db, tmp_path, queue_max=100, batch_max=40)
    for i in range(250):  # the writer is not running yet: the queue fills up
        log.record(numbered(i))
    stats = log.stats()
    assert (stats.queued, stats.spilled, stats.lost) == (100, 150, 0)
    spill = tmp_path / "audit-spill.jsonl"
    assert len(spill.read_text(encoding="utf-8").splitlines()) == 150
    await log.start()
    await log.flush()
    log.record(numbered(250))  # back to the in-memory queue once the spill is ingested
    await log.flush()
    records, _ = await stored(db)
    assert [r.detail["i"] for r in records] == list(range(251))
    assert spill.stat().st_size == 0
    assert log.stats().spilled == 150
    await log.close()
    assert (await verify_chain(db, log.anchor_key)).ok


async def test_a_failing_database_is_retried_without_loss(db: Database, tmp_path: Path) -> None:
    log = make_log(db, tmp_path)
    await log.start()
    async with db.session() as session:
        await session.execute(text("ALTER TABLE audit_records RENAME TO audit_records_away"))
    for i in range(5):
        log.record(numbered(i))
    async with asyncio.timeout(10):
        while log.stats().failed_batches == 0:  # noqa: ASYNC110 - polling the writer's counter
            await asyncio.sleep(0.01)
    async with db.session() as session:
        await session.execute(text("ALTER TABLE audit_records_away RENAME TO audit_records"))
    async with asyncio.timeout(10):
        await log.flush()
    records, _ = await stored(db)
    assert [r.detail["i"] for r in records] == list(range(5))
    await log.close()


async def test_shutdown_out_of_time_spills_and_the_next_start_writes_them(
    db: Database, tmp_path: Path
) -> None:
    log = make_log(db, tmp_path)
    await log.start()
    async with db.session() as session:
        await session.execute(text("ALTER TABLE audit_records RENAME TO audit_records_away"))
    for i in range(3):
        log.record(numbered(i))
    await log.close(timeout_s=0.2)
    log.record(numbered(3))  # after close: kept for the next start too
    assert log.stats().lost == 0
    assert len((tmp_path / "audit-spill.jsonl").read_text(encoding="utf-8").splitlines()) == 4
    async with db.session() as session:
        await session.execute(text("ALTER TABLE audit_records_away RENAME TO audit_records"))
    again = make_log(db, tmp_path)
    await again.start()
    again.record(numbered(4))
    await again.flush()
    await again.close()
    records, _ = await stored(db)
    assert [r.detail["i"] for r in records] == [0, 1, 2, 3, 4]


async def test_two_writers_on_one_database_keep_one_chain(db: Database, tmp_path: Path) -> None:
    # Two nodes sharing the database: the chain must stay one line, without gaps or forks.
    one = make_log(db, tmp_path / "one", batch_max=5)
    two = make_log(db, tmp_path / "two", batch_max=5)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    await one.start()
    await two.start()
    for i in range(40):
        (one if i % 2 else two).record(numbered(i))
    async with asyncio.timeout(30):
        await asyncio.gather(one.flush(), two.flush())
    await one.close()
    await two.close()
    records, _ = await stored(db)
    assert sorted(int(str(r.detail["i"])) for r in records) == list(range(40))
    assert (await verify_chain(db, one.anchor_key)).ok


async def test_record_never_raises_even_for_garbage(db: Database, tmp_path: Path) -> None:
    log = make_log(db, tmp_path)
    await log.start()
    log.record("not an event")  # type: ignore[arg-type]
    log.record(AuditEvent(AuditAction.LOGIN, at="yesterday"))  # type: ignore[arg-type]
    log.record(numbered(1))
    await log.flush()
    records, _ = await stored(db)
    assert log.stats().lost == 1
    assert [r.action for r in records] == ["login", "ptz"]
    assert records[0].outcome == "failed"
    assert "unstorable" in str(records[0].detail["error"])
    await log.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_record_costs_the_caller_microseconds(db: Database, tmp_path: Path) -> None:
    # The hot-path promise, loosely (the benchmark measures it): 10,000 calls well under 50 ms.
    log = make_log(db, tmp_path, queue_max=20_000)
    events = [numbered(i) for i in range(10_000)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    for event in events:
        log.record(event)
    assert loop.time() - started < 0.05
    await log.start()
    await log.close()
    assert log.stats().written == 10_000
