"""What the access model's reloads cost with many channels (issue 4: 100,000 devices).

Fills a fresh SQLite database with ``--channels`` channels (one per device, spread over
regions) and times, on the event loop's own thread (CPU seconds of this process, best of
``--rounds``):

* **full**: ``AccessModel.refresh(places=True)``, every table and every channel read and
  indexed: what the model did every ``access.snapshot_ttl_s`` (5 s) before the placements
  became incremental, and after every administrative change before those stopped re-reading
  the channels; now at start and every 600 s;
* **admin**: ``AccessModel.refresh()``, what an administrative change (a user, a grant, a
  department) costs now: the small tables and the marked devices, no channels;
* **ttl**: the reload after the TTL with no catalog change: the small tables only;
* **marked**: the reload after ``--marked`` devices' catalogs changed (``CatalogUpdated``): the
  small tables plus those devices' channels (what onboarding at ~1,000 devices/s costs per
  1-second housekeeping tick).

Run: ``.venv/bin/python benchmarks/access_reload.py --channels 100000``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from sightline.access.model import AccessModel  # noqa: E402
from sightline.store import Channel, Database, Device, default_sqlite_url, migrate  # noqa: E402
from sightline.store.models import ChannelRow, DeviceRow  # noqa: E402
from sightline.store.repositories._sql import record_values, table  # noqa: E402

T0 = datetime(2026, 11, 25, tzinfo=UTC)


async def fill(db: Database, n: int) -> list[str]:
    """``n`` devices with one channel each; returns the device IDs."""
    device_ids = [f"3402000000132{i:07d}" for i in range(n)]
    devices = [Device(id=d, name="IPC", created_at=T0, updated_at=T0) for d in device_ids]
    channels = [
        Channel(
            id=f"3402000000131{i:07d}",
            device_id=d,
            updated_at=T0,
            name="cam",
            civil_code=f"3402{i % 97:02d}{i % 89:02d}",
        )
        for i, d in enumerate(device_ids)
    ]
    async with db.session() as session:
        for start in range(0, n, 5000):
            rows = [record_values(d) for d in devices[start : start + 5000]]
            await session.execute(insert(table(DeviceRow)), rows)
            rows = [record_values(c) for c in channels[start : start + 5000]]
            await session.execute(insert(table(ChannelRow)), rows)
    return device_ids


async def timed(label: str, rounds: int, run: Callable[[], Awaitable[object]]) -> float:
    """Best CPU seconds of ``rounds`` calls of ``run`` (an async callable)."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        await run()
        best = min(best, time.process_time() - t0)
    print(f"  {label:<46} {1000 * best:9.1f} ms CPU")
    return best


async def longest_stall(run: Callable[[], Awaitable[object]]) -> float:
    """The longest time (s) the event loop could not run another task during ``run()``."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await run()
    stop.set()
    await task
    return max(gaps, default=0.0)


async def main(args: argparse.Namespace) -> None:
    """Fill, then time the three reloads."""
    with tempfile.TemporaryDirectory() as tmp:
        url = default_sqlite_url(Path(tmp))
        await migrate(url)
        db = await Database.connect(url)
        try:
            device_ids = await fill(db, args.channels)
            clock = [1_780_000_000.0]
            model = AccessModel(db, ttl_s=5.0, clock=lambda: clock[0])
            await model.refresh()
            print(f"{args.channels:,} channels, best of {args.rounds}:")
            full = await timed(
                "full reload (refresh(places=True))",
                args.rounds,
                lambda: model.refresh(places=True),
            )
            await timed(
                "reload after an administrative change (refresh)", args.rounds, model.refresh
            )
            stall = await longest_stall(lambda: model.refresh(places=True))
            print(f"  {'longest event-loop stall in a full reload':<46} {1000 * stall:9.1f} ms")

            async def after_ttl() -> None:
                clock[0] += 6
                await model.current()

            ttl = await timed("TTL reload, nothing changed", args.rounds, after_ttl)

            async def marked() -> None:
                for device_id in device_ids[: args.marked]:
                    model.mark_stale(device_id)
                await model.current()

            part = await timed(
                f"reload after {args.marked:,} devices' catalogs", args.rounds, marked
            )
            per_catalog_ms = 1000 * (part - ttl) / args.marked
            print(
                f"  per 5 s at {args.channels:,} channels: before {100 * full / 5:.1f} % of a "
                f"core, now {100 * ttl / 5:.2f} % (+ {per_catalog_ms:.3f} ms per changed catalog)"
            )
        finally:
            await db.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=100_000)
    parser.add_argument("--marked", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
