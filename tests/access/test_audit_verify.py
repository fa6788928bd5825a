"""Tampering with stored audit rows by plain SQL is found, at the right record (both backends)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import text

from sightline.access.audit import AuditLog
from sightline.access.audit_chain import anchor_key, record_hash
from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.access.audit_verify import ProblemKind, verify_chain
from sightline.config import AuditSettings
from sightline.store import Database
from sightline.store.repositories.audit import AuditRecord, AuditRepository
from tests.store.conftest import backend, db, db_url, migrated, pg_migrated, server_url

__all__ = ["backend", "db", "db_url", "migrated", "pg_migrated", "server_url"]

SERVER_KEY = b"audit-verify-test-server-key-000"
KEY = anchor_key(SERVER_KEY)


async def write_chain(db: Database, tmp_path: Path, count: int = 40) -> None:
    """``count`` records through a running log: batches of 5, an anchor every 10 records."""
    settings = AuditSettings(batch_max=5, anchor_every=10, flush_interval_s=0.01)
    log = AuditLog(db, SERVER_KEY, settings, spill_path=tmp_path / "spill.jsonl")
    await log.start()
    for i in range(count):
        log.record(
            AuditEvent(
                AuditAction.LIVE_START,
                username=f"user{i % 3}",
                channel_id=f"3402000000132000{i % 4:04d}",
                address="192.0.2.1",
                detail={"i": i},
            )
        )
    await log.close()


async def sql(db: Database, statement: str, **params: object) -> None:
    """Run one statement as an intruder with database access would."""
    async with db.session() as session:
        await session.execute(text(statement), params)


async def record(db: Database, seq: int) -> AuditRecord:
    """The stored record ``seq``."""
    async with db.session() as session:
        [found] = await AuditRepository(session).page(seq - 1, 1)
    return found


async def rewrite_from(db: Database, first: int, last: int) -> None:
    """Change record ``first`` and re-hash it and every record after it, as an intruder would."""
    prev = (await record(db, first - 1)).hash
    for seq in range(first, last + 1):
        row = await record(db, seq)
        channel = "34020000001320009999" if seq == first else row.channel_id
        forged = replace(row, channel_id=channel, prev_hash=prev)
        prev = record_hash(forged)
        await sql(
            db,
            "UPDATE audit_records SET channel_id = :c, prev_hash = :p, hash = :h WHERE seq = :s",
            c=channel,
            p=forged.prev_hash,
            h=prev,
            s=seq,
        )


async def test_an_untouched_chain_verifies_across_pages(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    seen: list[tuple[int, int]] = []
    report = await verify_chain(db, KEY, page_size=7, progress=lambda d, t: seen.append((d, t)))
    assert report.ok
    assert report.complete
    assert (report.records, report.anchors, report.head_seq, report.unanchored) == (40, 4, 40, 0)
    assert seen[-1] == (40, 40)
    assert len(seen) == 6  # 40 records in pages of 7


async def test_max_records_bounds_a_run(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    report = await verify_chain(db, KEY, page_size=7, max_records=12)
    assert report.ok
    assert not report.complete
    assert report.records == 12


async def test_changed_channel_is_found_at_its_record(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    await sql(db, "UPDATE audit_records SET channel_id = '34020000001320009999' WHERE seq = 17")
    problem = (await verify_chain(db, KEY, page_size=7)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (17, ProblemKind.HASH)
    assert "record 17" in problem.message


async def test_deleted_row_is_found_as_a_gap(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    await sql(db, "DELETE FROM audit_records WHERE seq = 23")
    report = await verify_chain(db, KEY, page_size=7)
    assert report.problem is not None
    assert (report.problem.seq, report.problem.kind) == (23, ProblemKind.GAP)
    assert report.records == 22


async def test_rehashed_row_is_found_by_the_next_link(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    forged = replace(await record(db, 13), username="nobody")
    await sql(
        db,
        "UPDATE audit_records SET username = :u, hash = :h WHERE seq = 13",
        u="nobody",
        h=record_hash(forged),
    )
    problem = (await verify_chain(db, KEY)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (13, ProblemKind.LINK)


async def test_rehashed_anchored_row_is_found_by_its_anchor(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path, count=35)  # the final anchor signs the last record, 35
    forged = replace(await record(db, 35), address="203.0.113.9")
    await sql(
        db,
        "UPDATE audit_records SET address = :a, hash = :h WHERE seq = 35",
        a="203.0.113.9",
        h=record_hash(forged),
    )
    problem = (await verify_chain(db, KEY)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (35, ProblemKind.ANCHOR)


async def test_consistent_rewrite_is_caught_by_the_next_anchor(
    db: Database, tmp_path: Path
) -> None:
    # Re-hash record 12 and every record after it, without re-signing the anchors.
    await write_chain(db, tmp_path)
    await rewrite_from(db, 12, 40)
    problem = (await verify_chain(db, KEY)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (20, ProblemKind.ANCHOR)
    assert "between records 11 and 20" in problem.message


async def test_cut_off_tail_is_found_by_its_anchor(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    await sql(db, "DELETE FROM audit_records WHERE seq > 33")
    problem = (await verify_chain(db, KEY)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (34, ProblemKind.TRUNCATED)


async def test_altered_anchor_and_wrong_key_are_named(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    other = await verify_chain(db, anchor_key(b"another installation"))
    assert other.problem is not None
    assert (other.problem.seq, other.problem.kind) == (10, ProblemKind.ANCHOR_KEY)
    await sql(db, "UPDATE audit_anchors SET signature = :s WHERE seq = 30", s="0" * 64)
    problem = (await verify_chain(db, KEY)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (30, ProblemKind.ANCHOR_SIGNATURE)


async def test_empty_chain_is_ok(db: Database) -> None:
    report = await verify_chain(db, KEY)
    assert report.ok
    assert report.records == 0
