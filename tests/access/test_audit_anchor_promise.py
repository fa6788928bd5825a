"""Anchors promise when the next one comes: deleting anchors to hide a rewrite is found."""

from __future__ import annotations

from pathlib import Path

from sightline.access.audit import AuditLog
from sightline.access.audit_chain import anchor_promise, sign_anchor
from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.access.audit_verify import ProblemKind, verify_chain
from sightline.config import AuditSettings
from sightline.store import Database
from sightline.store.repositories.audit import AuditRepository
from tests.access.test_audit_verify import KEY, SERVER_KEY, rewrite_from, sql, write_chain
from tests.store.conftest import backend, db, db_url, migrated, pg_migrated, server_url

__all__ = ["backend", "db", "db_url", "migrated", "pg_migrated", "server_url"]

PROMISE = anchor_promise(anchor_every=10, batch_max=5)  # write_chain's settings: 14


async def test_every_anchor_carries_a_signed_promise(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    async with db.session() as session:
        anchors = await AuditRepository(session).anchors(0, 100)
    assert [a.seq for a in anchors] == [10, 20, 30, 40]
    assert {a.next_within for a in anchors} == {PROMISE}
    report = await verify_chain(db, KEY, first_within=PROMISE)
    assert report.ok and report.anchors == 4


async def test_a_rewrite_hidden_by_deleting_the_anchors_after_it_is_found(
    db: Database, tmp_path: Path
) -> None:
    await write_chain(db, tmp_path)
    await rewrite_from(db, 12, 40)
    await sql(db, "DELETE FROM audit_anchors WHERE seq >= 20")
    problem = (await verify_chain(db, KEY)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (11, ProblemKind.ANCHOR_MISSING)
    assert f"anchor 10 promised the next one within {PROMISE} records" in problem.message
    assert "records 11..24" in problem.message


async def test_deleting_one_anchor_in_the_middle_is_found(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    await sql(db, "DELETE FROM audit_anchors WHERE seq = 20")
    problem = (await verify_chain(db, KEY)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (11, ProblemKind.ANCHOR_MISSING)


async def test_a_chain_stripped_of_every_anchor_is_found_with_the_first_promise(
    db: Database, tmp_path: Path
) -> None:
    await write_chain(db, tmp_path)
    await rewrite_from(db, 2, 40)
    await sql(db, "DELETE FROM audit_anchors")
    problem = (await verify_chain(db, KEY, first_within=PROMISE)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (1, ProblemKind.ANCHOR_MISSING)
    assert f"no anchor in its first {PROMISE} records" in problem.message
    # without knowing the writer's settings, all a verifier can say is how much is unanchored
    report = await verify_chain(db, KEY)
    assert report.ok and report.unanchored == 40


async def test_an_altered_promise_breaks_the_signature(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    await sql(db, "UPDATE audit_anchors SET next_within = 1000000 WHERE seq = 10")
    problem = (await verify_chain(db, KEY)).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (10, ProblemKind.ANCHOR_SIGNATURE)


async def test_anchors_from_before_promises_still_verify(db: Database, tmp_path: Path) -> None:
    await write_chain(db, tmp_path)
    async with db.session() as session:
        anchors = await AuditRepository(session).anchors(0, 100)
    for anchor in anchors[:2]:  # an older installation signed these, promising nothing
        old = sign_anchor(KEY, anchor.seq, anchor.hash, anchor.at)
        assert old.next_within is None
        await sql(
            db,
            "UPDATE audit_anchors SET next_within = NULL, signature = :s WHERE seq = :q",
            s=old.signature,
            q=anchor.seq,
        )
    assert (await verify_chain(db, KEY)).ok
    await sql(db, "DELETE FROM audit_anchors WHERE seq = 30")  # the first promise is anchor 30's
    assert (await verify_chain(db, KEY)).ok  # anchor 20 promised nothing: cannot be told


async def test_start_anchors_a_tail_a_crash_left_within_the_old_promise(
    db: Database, tmp_path: Path
) -> None:
    await write_chain(db, tmp_path, count=35)
    await sql(db, "DELETE FROM audit_anchors WHERE seq = 35")  # killed before its final anchor
    # restarted with settings that anchor far less often
    settings = AuditSettings(batch_max=50, anchor_every=100, flush_interval_s=0.01)
    log = AuditLog(db, SERVER_KEY, settings, spill_path=tmp_path / "spill2.jsonl")
    await log.start()
    async with db.session() as session:
        last = await AuditRepository(session).last_anchor()
    assert last is not None and last.seq == 35  # anchored at once, within anchor 30's promise
    for i in range(120):
        log.record(AuditEvent(AuditAction.LIVE_START, username="late", detail={"i": i}))
    await log.close()
    report = await verify_chain(db, KEY, first_within=PROMISE)
    assert report.ok, report.problem
    assert report.head_seq == 155 and report.unanchored == 0
