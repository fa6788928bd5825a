"""A directory read while the event loop is busy, by GIL switch interval (issue 5, first byte).

serve's database reads run in aiosqlite's connection thread. With the loop busy (hundreds of
live streams), that thread gets the GIL back only when the switch interval forces the loop's
thread to hand it over, several times per query. This times ``DirectoryService.get_channel``
(a real read of serve's migrated SQLite schema) ``--reads`` times, one after another:

* **idle**: nothing else on the loop (the peer: what the read costs by itself);
* **busy, 5 ms**: ``--busy-tasks`` tasks running callbacks of ``--callback-ms`` of pure
  Python back to back (as the receive path does), at CPython's default switch interval;
* **busy, serve's**: the same at ``node_tuning.GIL_SWITCH_INTERVAL_S``, what ``serve`` sets.

Run: ``.venv/bin/python benchmarks/db_under_load.py``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402

from sightline.directory import DirectoryService  # noqa: E402
from sightline.node_tuning import GIL_SWITCH_INTERVAL_S  # noqa: E402
from sightline.store import Database, default_sqlite_url, migrate  # noqa: E402

CPYTHON_DEFAULT_S = 0.005
CHANNEL = "34020000001310000001"


def _burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _reads(url: str, args: argparse.Namespace, busy: bool) -> list[float]:
    database = await Database.connect(url)
    directory = DirectoryService(database, online=lambda _: True)
    stop = False

    async def spin() -> None:
        while not stop:
            _burn(args.callback_ms / 1000)
            await asyncio.sleep(0)

    spinners = [asyncio.ensure_future(spin()) for _ in range(args.busy_tasks if busy else 0)]
    times = []
    try:
        await directory.get_channel(CHANNEL)  # the connection opened and warm
        for _ in range(args.reads):
            started = time.perf_counter()
            await directory.get_channel(CHANNEL)
            times.append(time.perf_counter() - started)
    finally:
        stop = True
        await asyncio.gather(*spinners)
        await database.close()
    return sorted(times)


def _row(name: str, times: list[float]) -> str:
    p50 = times[len(times) // 2]
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return f"| {name} | {1000 * p50:,.1f} | {1000 * p95:,.1f} | {1000 * times[-1]:,.1f} |"


def main(argv: list[str] | None = None) -> int:
    """Print the table of read times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=30)
    parser.add_argument("--busy-tasks", type=int, default=4)
    parser.add_argument("--callback-ms", type=float, default=0.3)
    args = parser.parse_args(argv)
    default = sys.getswitchinterval()
    with tempfile.TemporaryDirectory(prefix="sightline-db-load-") as work:
        url = default_sqlite_url(Path(work))
        uvloop.run(migrate(url))
        rows = []
        for name, interval, busy in (
            ("idle (peer)", CPYTHON_DEFAULT_S, False),
            (f"busy, {1000 * CPYTHON_DEFAULT_S:g} ms (CPython)", CPYTHON_DEFAULT_S, True),
            (f"busy, {1000 * GIL_SWITCH_INTERVAL_S:g} ms (serve)", GIL_SWITCH_INTERVAL_S, True),
        ):
            sys.setswitchinterval(interval)
            rows.append(_row(name, uvloop.run(_reads(url, args, busy))))
            print(rows[-1], flush=True)
    sys.setswitchinterval(default)
    print(
        f"\n{args.reads} reads of DirectoryService.get_channel each; busy: {args.busy_tasks}"
        f" tasks of {args.callback_ms:g} ms callbacks\n"
        "| loop | p50 ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: |"
    )
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
