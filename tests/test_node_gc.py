"""The garbage-collector settings a serving node applies (see docs/benchmarks.md)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sightline.node_tuning import GC_THRESHOLDS, tune_gc_for_serving


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restore_gc")
def test_serving_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    survivor = [object()]  # a container alive now, as start-up state is
    tune_gc_for_serving()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700
    assert gc.get_freeze_count() > 0
    assert not any(o is survivor for o in gc.get_objects())  # frozen: no longer traversed
