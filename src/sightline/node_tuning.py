"""How a serving process tunes the interpreter: garbage-collector thresholds and the GIL switch
interval, both measured (docs/benchmarks.md, benchmarks/db_under_load.py)."""

from __future__ import annotations

import gc
import logging
import sys

__all__ = [
    "GC_THRESHOLDS",
    "GIL_SWITCH_INTERVAL_S",
    "tune_gc_for_serving",
    "tune_gil_for_serving",
]

log = logging.getLogger(__name__)

# The database driver (aiosqlite: a thread per connection) and executor jobs run in threads.
# With the loop busy (hundreds of streams), a thread waiting for the GIL gets it only when the
# switch interval forces a hand-over, several times per query: at CPython's 5 ms a one-row
# read took seconds (12.8 s p50 against a loop of 0.3 ms callbacks, 28.7 ms at 1 ms:
# benchmarks/db_under_load.py), and live opens queued behind access and directory reads for
# up to a minute. Only a waiting thread triggers a switch, so an idle one costs nothing.
GIL_SWITCH_INTERVAL_S = 0.001

# Generation thresholds while serving, instead of CPython's (700, 10, 10). Measured at 2,000
# registrations/s for 40 s (docs/benchmarks.md): (700, 10, 10) ran 13 full collections (1.3 s
# of GC in all, pauses to 70 ms); (10_000, 10, 10) none (0.5 s in all, pauses under 25 ms);
# (50_000, 20, 10) young collections of 20-120 ms, a pause grows with the young generation.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc_for_serving() -> None:
    """Freeze what start-up built and collect the young generation less often.

    Full collections traverse every tracked object; after start-up most of them (modules,
    SQLAlchemy, FastAPI and pydantic machinery, settings) live as long as the process, so
    ``gc.freeze()`` takes them out of every later collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    log.info(
        "garbage collector: %d objects frozen, thresholds %s", gc.get_freeze_count(), GC_THRESHOLDS
    )


def tune_gil_for_serving() -> None:
    """Hand the GIL to a waiting thread after GIL_SWITCH_INTERVAL_S instead of 5 ms."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
