"""What every worker process of ``serve`` does around its own loop (REGISTER and media workers).

As the main process does (``node.tune_gc_for_serving``, not imported: it pulls in the whole
node): what the imports built lives as long as the process, so it is frozen out of every
collection, and the young generation is collected less often. Then the worker's coroutine
runs on uvloop (asyncio where uvloop is not installed).
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Coroutine
from typing import Any

__all__ = ["GC_THRESHOLDS", "run_worker"]

GC_THRESHOLDS = (10_000, 10, 10)  # the main process's node.GC_THRESHOLDS


def run_worker(
    main: Coroutine[Any, Any, None], *, gil_switch_interval_s: float | None = None
) -> None:
    """Tune the collector (and the GIL switch interval, if given) and run ``main``."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    if gil_switch_interval_s is not None:
        sys.setswitchinterval(gil_switch_interval_s)
    try:
        import uvloop
    except ImportError:  # uvloop is optional off Linux
        asyncio.run(main)
    else:
        uvloop.run(main)
