"""What every worker process of ``serve`` does around its own loop (REGISTER and media workers).

As the main process does (``node_tuning.tune_gc_for_serving``, with its thresholds): what
the imports built lives as long as the process, so it is frozen out of every collection, and
the young generation is collected less often. Then the worker's coroutine runs on uvloop
(asyncio where uvloop is not installed).
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Coroutine
from typing import Any

from sightline.node_tuning import GC_THRESHOLDS

__all__ = ["run_worker"]


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
