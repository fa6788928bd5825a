"""Audit trail speed: the caller's cost of ``record()``, the sustained write rate, verification.

What issue 8 promises: audit never slows the hot path, and at least 5,000 records/s are written
on SQLite in WAL mode. Per backend (SQLite in WAL mode, and PostgreSQL when its server binaries
are installed; ``--no-pg`` skips it) the benchmark runs, on one ``AuditLog`` with the default
settings but a queue large enough never to spill:

1. **caller's cost**: ``record()`` of pre-built events in chunks of 1,000 while the writer runs
   between the chunks, timing only the calls (ns per call: mean, and the slowest chunk's mean);
   building the ``AuditEvent`` itself is timed apart;
2. **sustained**: ``--rate`` records/s offered on a fixed schedule (every 10 ms) for
   ``--seconds``; the deepest the queue got and how long after the last record everything was
   committed (a writer that keeps up has a shallow queue and a lag of about one batch);
3. **burst**: ``--records`` events offered at once, time until all are committed: the writer's
   maximum rate;
4. **verification**: ``verify_chain`` over everything written (records/s);
5. **the peer**, in the same run: Python's stdlib ``sqlite3`` inserting the very same chained
   rows (built beforehand with ``chain()``, so the peer pays for no hashing, no queue and no
   ORM) with ``executemany`` in transactions of ``audit.batch_max`` rows, into the same migrated
   table and indexes, WAL and ``synchronous=NORMAL`` as ``store/db.py`` sets: the floor of what
   SQLite itself costs. The ratio of sightline's burst to it is printed.

Run: ``.venv/bin/python benchmarks/audit_rate.py`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the tests package importable
    sys.path.insert(0, str(ROOT))

from tests.pg import postgres_server, unavailable_reason  # noqa: E402

from sightline.access.audit import AuditLog  # noqa: E402
from sightline.access.audit_chain import ChainHead, chain, format_time  # noqa: E402
from sightline.access.audit_events import AuditAction, AuditEvent  # noqa: E402
from sightline.access.audit_verify import verify_chain  # noqa: E402
from sightline.config import AuditSettings  # noqa: E402
from sightline.store import Database, migrate  # noqa: E402
from sightline.store.db import default_sqlite_url  # noqa: E402

CHUNK = 1000
KEY = b"benchmark-server-key-00000000000"


@dataclass
class Result:
    """What one backend measured."""

    backend: str
    journal: str
    build_ns: float
    record_ns: float
    record_worst_chunk_ns: float
    offered_rate: int
    offered_s: float
    sustained_max_queue: int
    sustained_lag_s: float
    burst: int
    burst_s: float
    burst_cpu_s: float
    verified: int
    verify_s: float
    verify_cpu_s: float
    anchors: int
    spilled: int
    lost: int

    def lines(self) -> list[str]:
        """Human-readable summary."""
        return [
            f"{self.backend} (journal {self.journal})",
            f"  AuditEvent(...) build    {self.build_ns:9.0f} ns/event",
            f"  record() caller cost     {self.record_ns:9.0f} ns/call "
            f"(slowest chunk of 1,000: {self.record_worst_chunk_ns:.0f} ns/call)",
            f"  sustained {self.offered_rate}/s for {self.offered_s:.0f} s: deepest queue "
            f"{self.sustained_max_queue}, all committed {self.sustained_lag_s * 1000:.0f} ms "
            "after the last record",
            f"  burst write rate         {self.burst / self.burst_s:9.0f} records/s "
            f"({self.burst} in {self.burst_s:.2f} s; "
            f"{self.burst / self.burst_cpu_s:.0f} per CPU-second of the process)",
            f"  verify                   {self.verified / self.verify_s:9.0f} records/s "
            f"({self.verified} in {self.verify_s:.2f} s; "
            f"{self.verified / self.verify_cpu_s:.0f} per CPU-second)",
            f"  anchors {self.anchors}, spilled {self.spilled}, lost {self.lost}",
        ]


def events(count: int) -> list[AuditEvent]:
    """Typical live-view records spread over 500 channels and 50 users."""
    return [
        AuditEvent(
            AuditAction.LIVE_START,
            username=f"user{i % 50}",
            user_id=i % 50,
            department="交警支队",
            channel_id=f"3402000000132{i % 500:07d}",
            address="192.0.2.10",
            detail={"transport": "ws", "token": f"t{i}"},
        )
        for i in range(count)
    ]


def time_build(count: int) -> float:
    """ns to build one ``AuditEvent`` (with its timestamp)."""
    started = time.perf_counter_ns()
    events(count)
    return (time.perf_counter_ns() - started) / count


async def journal_mode(database: Database) -> str:
    """``wal`` on SQLite (what the engine sets on every connection), ``-`` elsewhere."""
    if database.dialect_name != "sqlite":
        return "-"
    async with database.session() as session:
        return str(await session.scalar(text("PRAGMA journal_mode")))


async def caller_cost(log: AuditLog, count: int) -> tuple[float, float]:
    """Mean ns per ``record()`` call, and the slowest chunk's mean."""
    batch = events(count)
    chunk_ns: list[float] = []
    for offset in range(0, count, CHUNK):
        chunk = batch[offset : offset + CHUNK]
        t0 = time.perf_counter_ns()
        for event in chunk:
            log.record(event)
        chunk_ns.append((time.perf_counter_ns() - t0) / len(chunk))
        await asyncio.sleep(0)  # the writer runs between chunks, as between requests
    await log.flush()
    return statistics.fmean(chunk_ns), max(chunk_ns)


async def sustained(log: AuditLog, rate: int, seconds: float) -> tuple[int, float]:
    """Offer ``rate`` records/s on a 10 ms schedule; deepest queue and final lag (s)."""
    ticks = int(seconds * 100)
    per_tick = max(rate // 100, 1)
    batch = events(per_tick * ticks)
    loop = asyncio.get_running_loop()
    start = loop.time()
    deepest = 0
    for tick in range(ticks):
        for event in batch[tick * per_tick : (tick + 1) * per_tick]:
            log.record(event)
        deepest = max(deepest, log.stats().queued)
        await asyncio.sleep(max(start + (tick + 1) / 100 - loop.time(), 0))
    last = loop.time()
    await log.flush()
    return deepest, loop.time() - last


async def burst(log: AuditLog, count: int) -> tuple[float, float]:
    """Wall and process CPU seconds to commit ``count`` records offered at once."""
    batch = events(count)
    started, cpu = time.perf_counter(), time.process_time()
    for event in batch:
        log.record(event)
    await log.flush()
    return time.perf_counter() - started, time.process_time() - cpu


async def run_backend(name: str, url: str, args: argparse.Namespace, spill_dir: Path) -> Result:
    """Measure one database."""
    await migrate(url)
    database = await Database.connect(url)
    try:
        settings = AuditSettings(queue_max=max(args.records, 100_000) * 2)
        log = AuditLog(database, KEY, settings, spill_path=spill_dir / f"{name}.jsonl")
        await log.start()
        record_ns, worst_ns = await caller_cost(log, 50_000)
        deepest, lag_s = await sustained(log, args.rate, args.seconds)
        burst_s, burst_cpu_s = await burst(log, args.records)
        await log.close()
        stats = log.stats()
        verify_started, verify_cpu = time.perf_counter(), time.process_time()
        report = await verify_chain(database, log.anchor_key)
        verify_s = time.perf_counter() - verify_started
        verify_cpu_s = time.process_time() - verify_cpu
        if not report.ok or report.records != stats.written:
            raise SystemExit(f"{name}: verification failed: {report}")
        return Result(
            backend=name,
            journal=await journal_mode(database),
            build_ns=time_build(50_000),
            record_ns=record_ns,
            record_worst_chunk_ns=worst_ns,
            offered_rate=args.rate,
            offered_s=args.seconds,
            sustained_max_queue=deepest,
            sustained_lag_s=lag_s,
            burst=args.records,
            burst_s=burst_s,
            burst_cpu_s=burst_cpu_s,
            verified=report.records,
            verify_s=verify_s,
            verify_cpu_s=verify_cpu_s,
            anchors=stats.anchors,
            spilled=stats.spilled,
            lost=stats.lost,
        )
    finally:
        await database.close()


@dataclass
class Peer:
    """The stdlib sqlite3 insert of the same rows."""

    records: int
    wall_s: float
    cpu_s: float

    def lines(self, sightline: Result) -> list[str]:
        """Human-readable summary with the ratio to sightline's SQLite burst."""
        ours = sightline.burst / sightline.burst_cpu_s
        theirs = self.records / self.cpu_s
        return [
            "peer: stdlib sqlite3 executemany of the same chained rows (WAL, synchronous=NORMAL)",
            f"  write rate               {self.records / self.wall_s:9.0f} records/s "
            f"({self.records} in {self.wall_s:.2f} s; {theirs:.0f} per CPU-second)",
            f"  sightline's burst per CPU-second is {ours / theirs:.0%} of the peer's",
        ]


async def sqlite_peer(work: Path, count: int, batch: int) -> Peer:
    """Insert ``count`` chained rows with stdlib sqlite3 into a freshly migrated database."""
    url = default_sqlite_url(work / "peer")
    (work / "peer").mkdir()
    await migrate(url)
    records, _ = chain(ChainHead(), events(count))
    rows = [
        (
            r.seq, format_time(r.at).removesuffix("Z").replace("T", " "), r.action, r.outcome,
            r.username, r.user_id, r.department, r.channel_id, r.address, r.purpose,
            json.dumps(dict(r.detail), ensure_ascii=False), r.prev_hash, r.hash,
        )
        for r in records
    ]  # fmt: skip
    path = url.split("///", 1)[1]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        started, cpu = time.perf_counter(), time.process_time()
        for offset in range(0, count, batch):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO audit_records (seq, at, action, outcome, username, user_id, "
                "department, channel_id, address, purpose, detail, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows[offset : offset + batch],
            )
            conn.execute("COMMIT")
        wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        (stored,) = conn.execute("SELECT count(*) FROM audit_records").fetchone()
    finally:
        conn.close()
    if stored != count:
        raise SystemExit(f"peer stored {stored} of {count} rows")
    return Peer(count, wall_s, cpu_s)


@contextlib.contextmanager
def postgres(enabled: bool) -> Iterator[str | None]:
    """A throwaway PostgreSQL server's URL, or ``None`` when disabled or not installed."""
    reason = unavailable_reason() if enabled else "--no-pg"
    if reason is not None:
        print(f"PostgreSQL skipped: {reason}")
        yield None
        return
    with postgres_server() as url:
        yield url


def main() -> None:
    """Run the benchmark and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records of the burst")
    parser.add_argument("--rate", type=int, default=5000, help="offered records/s, sustained")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the sustained run")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="sightline-audit-bench-") as tmp:
        work = Path(tmp)
        url = default_sqlite_url(work)
        results.append(asyncio.run(run_backend("SQLite", url, args, work)))
        peer = asyncio.run(sqlite_peer(work, args.records, AuditSettings().batch_max))
        with postgres(not args.no_pg) as pg_url:
            if pg_url is not None:
                results.append(asyncio.run(run_backend("PostgreSQL", pg_url, args, work)))
    for result in results:
        print("\n".join(result.lines()))
    print("\n".join(peer.lines(results[0])))


if __name__ == "__main__":
    main()
